"""A real Gerrit site: build a template once (init + reindex), copy it per run, start and stop."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from driverci.errors import DriverCIError
from driverci.realgerrit.fetch import GerritDistribution

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] [%t] %-5p %c: %m%n
"""


class GerritStartError(DriverCIError):
    """Gerrit's init, reindex or daemon failed or did not become ready in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def strip_magic(body: str) -> str:
    """Drop Gerrit's `)]}'` anti-XSSI first line from a REST answer."""
    return body[4:].lstrip("\n") if body.startswith(")]}'") else body


class GerritSite:
    """One real Gerrit daemon on loopback, run from a copy of a cached template site."""

    HEAP_LIMIT = "768m"
    INIT_TIMEOUT_SECONDS = 300.0
    START_TIMEOUT_SECONDS = 240.0
    STOP_TIMEOUT_SECONDS = 30.0
    POLL_SECONDS = 0.25
    LOG_TAIL_LINES = 15
    HEADLESS = False
    LAUNCHER = "com.google.gerrit.launcher.GerritLauncher"

    def __init__(self, distribution: GerritDistribution | None = None) -> None:
        self.distribution = distribution if distribution is not None else GerritDistribution()
        self.template_seconds = 0.0
        self.start_seconds = 0.0
        self.http_port = 0
        self.ssh_port = 0
        self.version = ""
        self.site_dir: Path | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def template_dir(self) -> Path:
        return self.distribution.cache_dir / f"template-{self.distribution.version}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def java_command(self, *args: str) -> list[str]:
        """`java ... GerritLauncher ARGS` with the heap cap, log4j and flogger set up."""
        log4j = self.template_dir.parent / "log4j-driverci.properties"
        if not log4j.is_file():
            log4j.parent.mkdir(parents=True, exist_ok=True)
            log4j.write_text(LOG4J_PROPERTIES)
        return [
            "java",
            f"-Xmx{self.HEAP_LIMIT}",
            "-Djava.security.egd=file:/dev/./urandom",
            f"-Dlog4j.configuration=file:{log4j}",
            "-Dflogger.backend_factory="
            "com.google.common.flogger.backend.log4j.Log4jBackendFactory#getInstance",
            "-Dflogger.logging_context=com.google.gerrit.server.logging.LoggingContext#getInstance",
            "-cp",
            self.distribution.classpath(),
            self.LAUNCHER,
            *args,
        ]

    def ensure_template(self) -> Path:
        """Build the template site (init --batch --dev, then reindex) unless it exists."""
        done = self.template_dir / ".driverci-template-ok"
        if done.is_file():
            return self.template_dir
        started = time.monotonic()
        building = self.template_dir.with_name(self.template_dir.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log = self.template_dir.with_name(self.template_dir.name + ".log")
        self._run_tool(["init", "--batch", "--dev", "--no-auto-start", "-d", str(building)], log)
        config = building / "etc" / "gerrit.config"
        for key, value in (
            ("sendemail.enable", "false"),
            ("container.heapLimit", self.HEAP_LIMIT),
            ("container.startupTimeout", "240"),
        ):
            _git_config(config, key, value)
        egd = "-Djava.security.egd=file:/dev/./urandom"
        _git_config(config, "container.javaOptions", egd, add=True)
        self._set_listen(building, 8080, 29418)
        self._run_tool(["reindex", "-d", str(building)], log)
        shutil.rmtree(self.template_dir, ignore_errors=True)
        building.rename(self.template_dir)
        done.write_text("ok\n")
        self.template_seconds = time.monotonic() - started
        return self.template_dir

    def start(self, run_dir: Path) -> None:
        """Copy the template to RUN_DIR/site, pick free loopback ports, start, wait till ready."""
        self.ensure_template()
        run_dir.mkdir(parents=True, exist_ok=True)
        site = run_dir / "site"
        shutil.rmtree(site, ignore_errors=True)
        shutil.copytree(self.template_dir, site, symlinks=True)
        self.site_dir = site
        self.http_port, self.ssh_port = free_port(), free_port()
        while self.ssh_port == self.http_port:
            self.ssh_port = free_port()
        self._set_listen(site, self.http_port, self.ssh_port)
        self.log_path = run_dir / "gerrit-daemon.log"
        command = ["daemon", "-d", str(site), "--console-log"]
        if self.HEADLESS:
            command.append("--headless")
        started = time.monotonic()
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            self.java_command(*command),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=run_dir,
        )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Terminate the daemon and wait for it (kill if it lingers)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=self.STOP_TIMEOUT_SECONDS)
        if self._log is not None:
            self._log.close()
            self._log = None

    def rss_mib(self) -> float:
        """The daemon's resident memory in MiB (VmRSS), or 0.0 when it is not running."""
        if self._process is None:
            return 0.0
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    def log_tail(self, lines: int | None = None) -> str:
        """The last lines of the daemon's log."""
        if self.log_path is None or not self.log_path.is_file():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-(lines or self.LOG_TAIL_LINES) :])

    def _wait_ready(self, started: float) -> None:
        url = f"{self.http_url}/config/server/version"
        assert self._process is not None
        while time.monotonic() - started < self.START_TIMEOUT_SECONDS:
            if self._process.poll() is not None:
                raise GerritStartError(
                    f"Gerrit daemon exited with status {self._process.returncode};"
                    f" last log lines:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read().decode()
                self.version = str(json.loads(strip_magic(body)))
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                time.sleep(self.POLL_SECONDS)
        raise GerritStartError(
            f"Gerrit at {url} not ready after {self.START_TIMEOUT_SECONDS:.0f}s;"
            f" last log lines:\n{self.log_tail()}"
        )

    def _set_listen(self, site: Path, http_port: int, ssh_port: int) -> None:
        config = site / "etc" / "gerrit.config"
        url = f"http://127.0.0.1:{http_port}/"
        _git_config(config, "httpd.listenUrl", url)
        _git_config(config, "gerrit.canonicalWebUrl", url)
        _git_config(config, "sshd.listenAddress", f"127.0.0.1:{ssh_port}")

    def _run_tool(self, args: list[str], log: Path) -> None:
        with log.open("ab") as out:
            try:
                result = subprocess.run(
                    self.java_command(*args),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    check=False,
                    timeout=self.INIT_TIMEOUT_SECONDS,
                )
            except subprocess.TimeoutExpired as error:
                raise GerritStartError(
                    f"gerrit {args[0]} timed out after {error.timeout:.0f}s (log: {log})"
                ) from error
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-self.LOG_TAIL_LINES :])
            raise GerritStartError(
                f"gerrit {args[0]} failed with status {result.returncode} (log: {log}):\n{tail}"
            )


def _git_config(config: Path, key: str, value: str, *, add: bool = False) -> None:
    subprocess.run(
        ["git", "config", "-f", str(config), "--add" if add else "--replace-all", key, value],
        check=True,
        capture_output=True,
    )
