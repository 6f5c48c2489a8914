"""The source tree the rehearsal imports, and the Python environment its jobs run in.

Real: the Ironic sdist from PyPI (``pip download --no-deps --no-binary :all:``), unpacked in a
cache directory, and a virtualenv with Ironic's requirements, test requirements, stestr and
sushy-tools, cached per Ironic version. Nothing of it is committed; a second run reuses both.
Fake: a tiny tree shipped in ``driverci/data/sandbox/fake-ironic`` (one Redfish power module
and its unit test) whose jobs run with the CI's own Python, for fast tests.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from driverci.errors import DriverCIError

log = logging.getLogger(__name__)

#: A recent Ironic release (PyPI); override with ``driverci sandbox --ironic-version``.
IRONIC_VERSION = "39.0.0"

# Most of the redfish unit tests: test_firmware's update-continuation tests wait on an
# unmocked timer on this machine, run into ironic's 60 s test timeout and take their
# stestr worker down with them, so the module is left out (and said so in the job).
FULL_SELECTION = "--exclude-regex 'test_firmware\\.'"
FULL_NOTE = "all redfish unit tests except test_firmware (its update tests hang in a sandbox)"
FAST_SELECTION = "'redfish\\.test_power\\.'"
FAST_NOTE = "--fast: only the redfish power tests"

Progress = Callable[[str], None]  # one line of what is happening now


@dataclass(frozen=True)
class SourceTree:
    """What the rehearsal imports as openstack/ironic and how its jobs find their tools."""

    label: str  # e.g. "ironic 39.0.0 (PyPI sdist)"
    root: Path  # the unpacked tree (becomes the initial commit of master)
    venv_bin: Path  # bin directory of the Python the jobs use
    functional: bool  # whether sushy-tools is there for the redfish-functional job
    slots: int = 1  # testbeds: one per core pair is plenty for stestr on 2 cores
    unit_selection: str = FULL_SELECTION
    unit_note: str = FULL_NOTE


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/driverci`` (``~/.cache/driverci``), read when called."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driverci"


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (path relative, '/'-separated) -> its bytes."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if (
            ".git" in relative.parts
            or "__pycache__" in relative.parts
            or ".stestr" in relative.parts
        ):
            continue
        if path.is_file() and not path.is_symlink():
            files[relative.as_posix()] = path.read_bytes()
    return files


def fake_ironic(workdir: Path) -> SourceTree:
    """The shipped tiny tree, copied to ``workdir``; jobs use the CI's own Python (stestr)."""
    target = workdir / "fake-ironic"
    if target.exists():
        shutil.rmtree(target)
    shipped = resources.files("driverci") / "data" / "sandbox" / "fake-ironic"
    with resources.as_file(shipped) as source:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return SourceTree(
        label="fake ironic (tests)",
        root=target,
        venv_bin=Path(sys.executable).parent,
        functional=False,
        slots=2,
        unit_selection="",
        unit_note="the fake tree's only test module",
    )


class IronicFromPyPI:
    """Fetches the sdist and builds the jobs' virtualenv, both cached by version."""

    PIP_TIMEOUT = 900.0  # seconds for one pip command (a cold venv takes about a minute)
    VENV_READY = ".driverci-ready"  # written last: a half-built venv is rebuilt
    EXTRA_PACKAGES = ("stestr", "sushy-tools")

    def __init__(self, version: str, cache_dir: Path, progress: Progress) -> None:
        if not re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version):
            raise DriverCIError(f"--ironic-version {version!r} is not a version number")
        self.version = version
        self.cache_dir = cache_dir
        self.progress = progress

    @property
    def sdist_dir(self) -> Path:
        return self.cache_dir / "sdist"

    @property
    def venv_dir(self) -> Path:
        return self.cache_dir / "venvs" / f"ironic-{self.version}"

    def prepare(self) -> SourceTree:
        tree = self.unpacked_tree()
        venv_bin = self.job_venv(tree)
        return SourceTree(f"ironic {self.version} (PyPI sdist)", tree, venv_bin, functional=True)

    def sdist(self) -> Path:
        """The cached ``ironic-<version>.tar.gz``, downloaded from PyPI when missing."""
        archive = self.sdist_dir / f"ironic-{self.version}.tar.gz"
        if archive.exists():
            self.progress(f"ironic {self.version} sdist: cached at {archive}")
            return archive
        self.sdist_dir.mkdir(parents=True, exist_ok=True)
        self.progress(f"downloading the ironic {self.version} sdist from PyPI")
        self._pip(
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"ironic=={self.version}",
            "-d",
            str(self.sdist_dir),
            what=f"download ironic=={self.version}",
        )
        if not archive.exists():
            raise DriverCIError(f"pip downloaded no {archive.name} into {self.sdist_dir}")
        return archive

    def unpacked_tree(self) -> Path:
        target = self.sdist_dir / f"ironic-{self.version}"
        if (target / "setup.cfg").exists():
            return target
        archive = self.sdist()
        self.progress(f"unpacking {archive.name}")
        with tarfile.open(archive) as tar:
            tar.extractall(self.sdist_dir, filter="data")
        if not (target / "ironic").is_dir():
            raise DriverCIError(f"{archive}: no ironic/ package inside the sdist")
        return target

    def job_venv(self, tree: Path) -> Path:
        """A virtualenv with what the redfish jobs need (also ironic itself, for its entry
        points: tests load the hardware types through stevedore; the code under test is
        still the checkout's, first on ``sys.path``)."""
        bin_dir = self.venv_dir / "bin"
        if self.venv_dir.resolve().is_relative_to("/tmp"):
            # Jobs run with a private /tmp (bubblewrap): a venv there would be invisible.
            raise DriverCIError(f"--cache {self.cache_dir}: choose a directory outside /tmp")
        if (self.venv_dir / self.VENV_READY).exists():
            self.progress(f"job virtualenv: cached at {self.venv_dir}")
            return bin_dir
        if self.venv_dir.exists():
            shutil.rmtree(self.venv_dir)
        self.progress(f"creating the job virtualenv {self.venv_dir}")
        subprocess.run([sys.executable, "-m", "venv", str(self.venv_dir)], check=True)
        archive = self.sdist()
        requirements = ["-r", str(tree / "requirements.txt")]
        requirements += ["-r", str(tree / "test-requirements.txt")]
        self._pip(
            "install",
            str(archive),
            *requirements,
            *self.EXTRA_PACKAGES,
            python=bin_dir / "python",
            what="install ironic's requirements into the job virtualenv",
        )
        (self.venv_dir / self.VENV_READY).write_text(f"ironic {self.version}\n")
        return bin_dir

    def _pip(self, *args: str, what: str, python: Path | None = None) -> None:
        """Run pip, reporting each package it collects; one clear line when it fails."""
        command = [str(python or sys.executable), "-m", "pip", *args, "--progress-bar", "off"]
        log.info("running %s", " ".join(command))
        tail: list[str] = []
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        assert process.stdout is not None
        collected = 0
        for line in process.stdout:
            line = line.rstrip()
            if line.startswith("Collecting "):
                collected += 1
                self.progress(f"{what}: {collected} packages, {line.split()[1]}")
            elif line.startswith("Installing collected packages"):
                self.progress(f"{what}: installing {collected} packages")
            if not line.startswith("WARNING: Location"):  # the machine's unused local indexes
                tail = [*tail[-30:], line]
        if process.wait(self.PIP_TIMEOUT) != 0:
            raise DriverCIError(_pip_failure(what, tail))


def _pip_failure(what: str, tail: list[str]) -> str:
    text = "\n".join(tail)
    # Connection warnings appear when pip retries; "(from versions: none)" when no index
    # answered at all (ironic has releases on PyPI, so an index that answers lists some).
    unreachable = ("NewConnectionError", "Failed to establish", "Temporary failure in name")
    if any(marker in text for marker in unreachable) or "(from versions: none)" in text:
        return (
            f"PyPI is unreachable: cannot {what} (no package index answered; check network/proxy)"
        )
    errors = [line for line in tail if line.startswith("ERROR")]
    return f"pip failed to {what}: {(errors or tail or ['no output'])[-1]}"
