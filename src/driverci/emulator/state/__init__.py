"""The emulator's in-memory Gerrit: accounts, projects, changes, and the journal of changes."""
