"""Telling a CI's contacts when its verdict changes: e-mail and webhook."""
