"""Fetch Gerrit's server jars (and the libraries its war bundles) through Maven into a cache."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from driverci.errors import DriverCIError


class GerritUnavailable(DriverCIError):
    """Real Gerrit cannot run here (no java, no mvn, Java too old)."""


class GerritFetchError(DriverCIError):
    """A Gerrit jar could not be fetched through Maven or failed its SHA-1 check."""


@dataclass(frozen=True)
class Artifact:
    """One Maven coordinate (group, artifact, version) of a jar on Gerrit's classpath."""

    group: str
    artifact: str
    version: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def m2_path(self, m2_repository: Path) -> Path:
        return (
            m2_repository.joinpath(*self.group.split("."))
            / self.artifact
            / self.version
            / self.filename
        )


def _default_cache_dir() -> Path:
    return Path(os.environ.get("DRIVERCI_GERRIT_CACHE", Path.home() / ".cache/driverci/gerrit"))


class GerritDistribution:
    """Gerrit's server classes (plugin API + acceptance framework) and BouncyCastle, from Maven."""

    MINIMUM_JAVA = 17
    BOUNCYCASTLE_VERSION = "1.78.1"
    BOUNCYCASTLE_ARTIFACTS = ("bcprov-jdk18on", "bcpkix-jdk18on", "bcutil-jdk18on", "bcpg-jdk18on")
    GERRIT_ARTIFACTS = ("gerrit-acceptance-framework", "gerrit-plugin-api")
    MVN_TIMEOUT_SECONDS = 900.0
    JAVA_BINARY = "java"
    MVN_BINARY = "mvn"

    def __init__(self, version: str = "3.10.2", cache_dir: Path | None = None) -> None:
        self.version = version
        self.cache_dir = cache_dir if cache_dir is not None else _default_cache_dir()
        self._fetch_error: str | None = None

    @property
    def jar_dir(self) -> Path:
        return self.cache_dir / self.version

    @property
    def m2_repository(self) -> Path:
        return Path.home() / ".m2" / "repository"

    def artifacts(self) -> list[Artifact]:
        gerrit = [Artifact("com.google.gerrit", a, self.version) for a in self.GERRIT_ARTIFACTS]
        bc = [
            Artifact("org.bouncycastle", a, self.BOUNCYCASTLE_VERSION)
            for a in self.BOUNCYCASTLE_ARTIFACTS
        ]
        return gerrit + bc

    def java_major(self) -> int | None:
        """The major version of `java` on PATH, or None when there is none."""
        java = shutil.which(self.JAVA_BINARY)
        if java is None:
            return None
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, check=False, timeout=60
        )
        match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
        if match is None:
            return None
        major = int(match.group(1))
        return int(match.group(2) or 0) if major == 1 else major

    def unavailable_reason(self) -> str | None:
        """Why real Gerrit cannot run here, or None when it can (fetching the jars if needed)."""
        major = self.java_major()
        if major is None:
            return f"no working '{self.JAVA_BINARY}' on PATH (real Gerrit needs Java 17)"
        if major < self.MINIMUM_JAVA:
            return f"Java {major} found; real Gerrit {self.version} needs Java {self.MINIMUM_JAVA}"
        missing = [a for a in self.artifacts() if not (self.jar_dir / a.filename).is_file()]
        if missing and shutil.which(self.MVN_BINARY) is None:
            return f"no '{self.MVN_BINARY}' on PATH to fetch {missing[0].coordinate}"
        try:
            self.ensure()
        except GerritFetchError as error:
            return str(error)
        return None

    def ensure(self) -> list[Path]:
        """Fetch every jar that is not yet cached, verify its SHA-1, and return their paths."""
        self.jar_dir.mkdir(parents=True, exist_ok=True)
        return [self._ensure_one(artifact) for artifact in self.artifacts()]

    def classpath(self) -> str:
        """The Java classpath of the cached jars (fetching them first)."""
        return os.pathsep.join(str(path) for path in self.ensure())

    def sha1s(self) -> dict[str, str]:
        """The SHA-1 of each cached jar, by file name."""
        return {path.name: _sha1(path) for path in self.ensure()}

    def _ensure_one(self, artifact: Artifact) -> Path:
        target = self.jar_dir / artifact.filename
        if target.is_file() and (self.jar_dir / (artifact.filename + ".sha1")).is_file():
            return target
        source = artifact.m2_path(self.m2_repository)
        if not source.is_file():
            self._mvn_get(artifact)
        if not source.is_file():
            raise GerritFetchError(f"mvn reported success but {source} is missing")
        expected = self._expected_sha1(source)
        actual = _sha1(source)
        if expected != actual:
            raise GerritFetchError(
                f"SHA-1 mismatch for {source}: Maven says {expected}, file is {actual}"
            )
        partial = target.with_suffix(".jar.part")
        shutil.copyfile(source, partial)
        partial.replace(target)
        (self.jar_dir / (artifact.filename + ".sha1")).write_text(actual + "\n")
        return target

    @staticmethod
    def _expected_sha1(jar: Path) -> str:
        sha_file = jar.with_name(jar.name + ".sha1")
        if not sha_file.is_file():
            raise GerritFetchError(f"Maven left no checksum beside {jar} ({sha_file.name})")
        words = sha_file.read_text().split()
        if not words:
            raise GerritFetchError(f"empty checksum file {sha_file}")
        return words[0].lower()

    def _mvn_get(self, artifact: Artifact) -> None:
        mvn = shutil.which(self.MVN_BINARY)
        if mvn is None:
            raise GerritFetchError(f"no '{self.MVN_BINARY}' on PATH to fetch {artifact.coordinate}")
        command = [
            mvn,
            "-q",
            "-B",
            "dependency:get",
            f"-Dartifact={artifact.coordinate}",
            "-Dtransitive=false",
        ]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                timeout=self.MVN_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired as error:
            raise GerritFetchError(
                f"mvn dependency:get {artifact.coordinate} timed out after {error.timeout:.0f}s"
            ) from error
        if result.returncode != 0:
            lines = [
                _strip_ansi(line).strip() for line in (result.stdout + result.stderr).splitlines()
            ]
            lines = [line for line in lines if line]
            last = lines[-1] if lines else f"exit status {result.returncode}"
            raise GerritFetchError(f"mvn could not fetch {artifact.coordinate}: {last}")


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
