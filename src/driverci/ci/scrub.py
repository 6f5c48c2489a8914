"""Scrub secrets out of published logs: known secret values, private keys, URL passwords.

Published artifacts are public; anything a job or a command echoed may hold a secret. The
scrubber replaces the CI's own Gerrit password, the value of every variable of the CI's own
environment whose name looks secret, private-key blocks and ``user:pass@`` in URLs with
``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"


class Scrubber:
    """Replaces secrets in text; build one per run with :meth:`from_environment`."""

    # Names of environment variables whose values are treated as secrets.
    SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|KEY|CREDENTIAL", re.IGNORECASE)
    # Values shorter than this are not scrubbed (replacing "1" everywhere would ruin logs).
    MIN_SECRET_LENGTH = 4
    PRIVATE_KEY = re.compile(
        r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)",
        re.DOTALL,
    )
    URL_PASSWORD = re.compile(
        r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/\s:@]+):[^/\s@]+@"
    )

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if len(s) >= self.MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted(values, key=len, reverse=True)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], extra_secrets: Iterable[str] = ()
    ) -> Scrubber:
        """Secrets: ``extra_secrets`` plus values of ``environ`` whose names look secret."""
        found = [value for name, value in environ.items() if cls.SECRET_NAME.search(name)]
        return cls([*found, *extra_secrets])

    def scrub(self, text: str) -> str:
        text = self.PRIVATE_KEY.sub(MASK, text)
        text = self.URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def scrub_bytes(self, data: bytes) -> bytes:
        """Scrub UTF-8 text (undecodable bytes are kept as they were)."""
        return self.scrub(data.decode("utf-8", errors="surrogateescape")).encode(
            "utf-8", errors="surrogateescape"
        )


def looks_like_text(data: bytes) -> bool:
    """Text files are scrubbed; binary ones (NUL bytes in the first block) are copied as is."""
    return b"\0" not in data[:8192]


def secret_values(text: str) -> list[str]:
    """The secrets in a secret file: the whole of a one-line file (a password), else the
    values of ``key: value`` / ``key=value`` lines whose key looks secret (credentials,
    INI and YAML files), and of every line that is not such a pair."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and not _PAIR.match(lines[0]):
        return lines
    found: list[str] = []
    for line in lines:
        if line.startswith(("#", ";", "[")):
            continue
        pair = _PAIR.match(line)
        if pair is None:
            found.append(line)
        elif Scrubber.SECRET_NAME.search(pair["key"]) or "pass" in pair["key"].lower():
            found.append(pair["value"].strip().strip("'\""))
    return found


_PAIR = re.compile(r"^(?P<key>[A-Za-z_][\w.\-]*)\s*[:=]\s*(?P<value>.*)$")
