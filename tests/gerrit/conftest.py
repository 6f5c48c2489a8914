"""Fixtures for the Gerrit client tests: the real captured payloads in shared/gerrit-samples."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gerrit_servers import RecordedGerrit

REPO_ROOT = Path(__file__).resolve().parents[2]


def samples_dir() -> Path:
    """shared/gerrit-samples: $DRIVERCI_SHARED, else the shared/ directory beside the clone."""
    shared = Path(os.environ.get("DRIVERCI_SHARED", REPO_ROOT.parent / "shared"))
    return shared / "gerrit-samples"


def load_sample(name: str) -> Any:
    """Decoded JSON of one sample file (``)]}'`` first line, if any, removed by line)."""
    text = (samples_dir() / name).read_text(encoding="utf-8")
    if text.startswith(")]}'"):
        text = text.partition("\n")[2]
    return json.loads(text)


def sample_text(name: str) -> str:
    """The sample file byte for byte, as a Gerrit server would send it."""
    return (samples_dir() / name).read_text(encoding="utf-8")


@pytest.fixture
def sample() -> Callable[[str], Any]:
    """``sample("EventCommentAdded.json")`` -> decoded JSON."""
    return load_sample


@pytest.fixture
def raw_sample() -> Callable[[str], str]:
    """``raw_sample("gerrit-review-changes-query.json")`` -> the file's text."""
    return sample_text


@pytest.fixture
async def recorded_gerrit() -> AsyncIterator[RecordedGerrit]:
    server = RecordedGerrit()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
