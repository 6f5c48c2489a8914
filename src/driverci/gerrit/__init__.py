"""Gerrit client: REST, event stream with catch-up, and typed models of Gerrit JSON."""
