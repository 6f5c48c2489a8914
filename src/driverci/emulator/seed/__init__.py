"""Seeding an emulated Gerrit with a scenario's past: changes, git history, CI comments."""
