"""Gerrit's change search language over the emulator's state."""
