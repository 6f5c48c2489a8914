"""Getting Gerrit data into the store: REST collection, dumps, and following the event stream."""
