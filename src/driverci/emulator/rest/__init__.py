"""The emulator's REST API: framing and auth, change and account endpoints, JSON entities."""
