"""Gerrit emulator: REST, SSH stream-events and git, plus scenario seeding."""
