"""Setting up a rehearsal: what is imported, what is refused, and the one-line errors a user
sees when PyPI is out of reach or Ironic changed under the rehearsal's patches."""

from __future__ import annotations

from pathlib import Path

import pytest

from driverci.errors import DriverCIError
from driverci.sandbox.ironic_source import IronicFromPyPI, fake_ironic, read_tree
from driverci.sandbox.patches import BREAKING, DOCS_ONLY, GOOD
from driverci.sandbox.rehearsal import fresh_state_dir


def test_the_imported_tree_is_the_source_without_vcs_or_caches(tmp_path: Path) -> None:
    source = fake_ironic(tmp_path)
    (source.root / ".git").mkdir()
    (source.root / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
    (source.root / "ironic" / "__pycache__").mkdir()
    (source.root / "ironic" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    files = read_tree(source.root)
    assert "ironic/drivers/modules/redfish/power.py" in files
    assert "ironic/tests/unit/drivers/modules/redfish/test_power.py" in files
    assert not [path for path in files if ".git/" in path or "__pycache__" in path]


def test_the_planned_patches_apply_to_the_tree_and_say_what_they_expect(tmp_path: Path) -> None:
    root = fake_ironic(tmp_path).root
    BREAKING.apply(root)
    assert "return states.POWER_OFF" in (root / BREAKING.path).read_text()
    DOCS_ONLY.apply(root)
    assert "Sandbox Redfish CI" in (root / DOCS_ONLY.path).read_text()
    assert "FAILURE" in BREAKING.message() and "no CI comment" in DOCS_ONLY.message()
    # The breaking edit removed the line the good patch needs: a clear one-line refusal.
    with pytest.raises(DriverCIError, match=r"good patch: .*power.py no longer holds"):
        GOOD.apply(root)


def test_a_state_directory_not_made_by_a_rehearsal_is_never_deleted(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me\n")
    with pytest.raises(DriverCIError, match="was not made by driverci sandbox"):
        fresh_state_dir(precious)
    assert (precious / "notes.txt").exists()
    made = tmp_path / "made"
    fresh_state_dir(made)
    (made / "old.txt").write_text("from the last rehearsal\n")
    fresh_state_dir(made)
    assert not (made / "old.txt").exists()


def test_a_version_that_is_not_a_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DriverCIError, match="is not a version number"):
        IronicFromPyPI("39.0.0; rm -rf /", tmp_path, lambda line: None)


def test_unreachable_pypi_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package index on a closed loopback port, nothing local: pip cannot connect.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    lines: list[str] = []
    fetcher = IronicFromPyPI("39.0.0", tmp_path / "cache", lines.append)
    with pytest.raises(DriverCIError) as caught:
        fetcher.sdist()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("PyPI is unreachable: cannot download ironic==39.0.0")
    assert lines == ["downloading the ironic 39.0.0 sdist from PyPI"]
