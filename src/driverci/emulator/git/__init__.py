"""The emulator's git: bare repositories, smart HTTP, pushes to magic refs made patch sets."""
