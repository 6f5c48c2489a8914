"""The emulator's SSH daemon: gerrit query, review, version, ls-projects and stream-events."""
