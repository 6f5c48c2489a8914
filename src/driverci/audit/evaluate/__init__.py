"""Judging a CI: the facts loaded from the store, the spec's criteria measured, a verdict."""
