"""Errors a user may see: each carries one clear line naming what went wrong and where.

The CLI prints ``str(error)`` for any :class:`DriverCIError` and exits non-zero, never a
traceback. Raise the most specific subclass; put the file, URL or object in the message.
"""


class DriverCIError(Exception):
    """Base of every error meant for a person to read."""


class ConfigError(DriverCIError):
    """A configuration, registry, policy or scenario file is invalid (message names file:line)."""


class GerritError(DriverCIError):
    """Gerrit answered with an error, or could not be reached (message names the URL)."""


class GerritUnreachable(GerritError):
    """Gerrit could not be reached at all (connection refused, DNS, timeout)."""


class GerritHTTPError(GerritError):
    """Gerrit answered an HTTP request with a non-2xx status."""

    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class PayloadError(DriverCIError):
    """A Gerrit payload (JSON from REST, the stream or a dump) is malformed (message says where)."""


class StoreError(DriverCIError):
    """The database could not be opened, migrated or written."""
