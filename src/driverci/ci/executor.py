"""The local executor: one job, one fresh workspace, confined steps, published logs.

Steps run with ``/bin/sh -c`` (or ``ansible-runner`` for a playbook) in the checkout, in an
environment built from scratch: PATH (the CI's Python first, so ``python -m stestr`` finds
the CI's virtualenv), HOME, LANG, TMPDIR and Zuul-like variables. Nothing of the CI's own
environment reaches a job, nor its Gerrit password, SSH key or their paths. A job holding a
testbed gets that testbed's BMC address and a copy of its credentials file, and nothing of
the other testbeds'. The same executor runs inside each Celery worker (``ci/workers``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from driverci.ci.config import CIConfig, ResultName, Step, read_secret
from driverci.ci.model import JobOutcome, JobRequest, TestCounts
from driverci.ci.publish import (
    JOB_OUTPUT,
    JobOutput,
    LogPublisher,
    add_test_results,
    change_url,
    collect_artifacts,
    utc_stamp,
    write_manifest,
)
from driverci.ci.sandbox import LineBuffer, Sandbox, SandboxMode
from driverci.ci.scrub import Scrubber, secret_values
from driverci.ci.workspace import BASE_PATH, Checkout, Workspace

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs jobs on this machine; implements :class:`driverci.ci.model.Executor`."""

    STESTR_EXPORT = "python -m stestr last --subunit 2>/dev/null"
    STESTR_EXPORT_TIMEOUT = 300.0
    ANSIBLE_RUNNER = "ansible-runner"
    ANSIBLE_DIR = "ansible"  # ansible-runner's data dir, under the job's directory
    ANSIBLE_INVENTORY = (
        "localhost ansible_connection=local"
        ' ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
    )
    KEEP_WORKSPACES = False  # True keeps <workspace_root>/<run_id> for debugging

    TESTBED_DIR = "testbed"  # under the job's directory: the held testbed's credentials

    def __init__(
        self,
        config: CIConfig,
        workspace_root: Path,
        sandbox_mode: SandboxMode = "auto",
        name: str | None = None,
    ) -> None:
        self.config = config
        self.workspace_root = workspace_root
        self.name = name or socket.gethostname()
        self.publisher = LogPublisher(config.logs)  # ConfigError now if the backend can't work
        playbook_dirs = [
            step.playbook.resolve().parent
            for job in config.jobs
            for step in job.steps
            if step.playbook is not None
        ]
        self.sandbox = Sandbox(
            sandbox_mode, hidden_dirs=self._secret_dirs(), shown_dirs=playbook_dirs
        )

    def _secret_files(self) -> list[Path]:
        config, gerrit = self.config, self.config.gerrit
        files = [gerrit.http_password_file, gerrit.ssh_key, config.logs.s3_credentials_file]
        files += [testbed.credentials for testbed in config.testbeds]
        if config.celery is not None:
            files += [config.celery.broker_password_file, config.celery.backend_password_file]
        return [path for path in files if path is not None]

    def _secret_dirs(self) -> list[Path]:
        """Hidden from jobs: the secrets' directories, ~/.ssh, ci.yaml's own directory and
        the state database's (a job's run directory is shown again even when under one)."""
        dirs = [path.resolve().parent for path in self._secret_files()]
        dirs.append(Path.home() / ".ssh")
        if self.config.source is not None:
            dirs.append(self.config.source.parent)
        if self.config.state.startswith("sqlite:///"):
            dirs.append(Path(self.config.state.removeprefix("sqlite:///")).resolve().parent)
        return dirs

    def scrubber(self) -> Scrubber:
        """Every secret this CI knows: the Gerrit password, the S3 keys, the broker's and
        the backend's passwords, every testbed's credentials (whichever the job held)."""
        secrets: list[str] = []
        for path in self._secret_files():
            if path == self.config.gerrit.ssh_key or not path.is_file():
                continue  # a worker host keeps only what it needs; private keys are masked
            secrets += secret_values(read_secret(path, "a secret file") or "")
        if self.config.logs.s3_credentials_file is not None:
            from driverci.ci.s3 import read_s3_credentials  # boto3 only when S3 is configured

            credentials = read_s3_credentials(self.config.logs.s3_credentials_file)
            secrets += list(credentials or ())
        return Scrubber.from_environment(os.environ, secrets)

    def job_env(
        self, request: JobRequest, workspace: Workspace, checkout: Checkout
    ) -> dict[str, str]:
        """The job's whole environment: nothing is inherited from the CI's process."""
        target = request.target
        return {
            "PATH": f"{Path(sys.executable).parent}:{BASE_PATH}",
            "HOME": str(workspace.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(workspace.tmp),
            "WORKSPACE": str(workspace.src),
            "ZUUL_PROJECT": target.project,
            "ZUUL_BRANCH": target.branch,
            "ZUUL_CHANGE": str(target.change),
            "ZUUL_PATCHSET": str(target.patch_set),
            "ZUUL_REF": target.ref,
            "ZUUL_COMMIT": checkout.merged_revision or target.revision,
            "ZUUL_PIPELINE": request.pipeline,
            "ZUUL_UUID": request.run_id,
            "ZUUL_JOB": request.job.name,
            "LOG_PATH": request.log_path,
            "LOG_URL": request.log_url,
            "DRIVERCI_DRIVER": request.driver,
            **self._testbed_env(request, workspace),
        }

    def _testbed_env(self, request: JobRequest, workspace: Workspace) -> dict[str, str]:
        testbed = request.testbed
        if testbed is None:
            return {}
        env = {
            "DRIVERCI_TESTBED": testbed.name,
            "DRIVERCI_TESTBED_LABELS": ",".join(testbed.labels),
        }
        if testbed.bmc is not None:
            env["BMC_ADDRESS"] = testbed.bmc
        if testbed.credentials is not None:
            env["BMC_CREDENTIALS"] = str(workspace.job_dir / self.TESTBED_DIR / "credentials")
        return env

    def _give_testbed_credentials(self, request: JobRequest, workspace: Workspace) -> None:
        """A private copy of the held testbed's credentials in the job's own directory (the
        originals sit in a directory hidden from the sandbox)."""
        testbed = request.testbed
        if testbed is None or testbed.credentials is None:
            return
        text = read_secret(testbed.credentials, f"the credentials of testbed {testbed.name}")
        target = workspace.job_dir / self.TESTBED_DIR / "credentials"
        target.parent.mkdir(mode=0o700, exist_ok=True)
        target.write_text((text or "") + "\n", encoding="utf-8")
        target.chmod(0o600)

    async def run(self, request: JobRequest, cancel: asyncio.Event) -> JobOutcome:
        started = datetime.now(UTC)
        workspace = Workspace(self.workspace_root, request.run_id)
        await asyncio.to_thread(workspace.create)
        try:
            outcome, checkout = await self._run_in(workspace, request, cancel, started)
            write_manifest(
                workspace.staging,
                request,
                outcome,
                checkout.merged_revision,
                checkout.patch_set_revision,
            )
            await self.publisher.publish(workspace.staging, request.log_path, self.scrubber())
        finally:
            # Also when the caller's task is cancelled: nothing of a run stays behind.
            if not self.KEEP_WORKSPACES:
                await asyncio.to_thread(workspace.remove)
        result = outcome.result
        log.info(
            "run %s change %s,%s job %s: %s",
            request.run_id,
            request.target.change,
            request.target.patch_set,
            request.job.name,
            result,
        )
        return outcome

    async def _run_in(
        self, workspace: Workspace, request: JobRequest, cancel: asyncio.Event, started: datetime
    ) -> tuple[JobOutcome, Checkout]:
        output = JobOutput(workspace.staging / JOB_OUTPUT, request.job.output_limit_bytes)
        checkout = Checkout("error")
        tests = TestCounts()
        try:
            try:
                await self._header(request, output, started)
                checkout = await workspace.checkout(request.target, output, cancel)
                result, detail = _checkout_result(checkout)
                if checkout.result == "ready":
                    env = self.job_env(request, workspace, checkout)
                    self._give_testbed_credentials(request, workspace)
                    if any(step.playbook is not None for step in request.job.steps):
                        self._prepare_ansible(workspace, env)
                    await self.sandbox.prepare(workspace.job_dir)
                    result, detail = await self._run_steps(request, workspace, env, output, cancel)
                    if result != "CANCELED":
                        tests = await self._test_results(request, workspace, env, output)
                        copied = collect_artifacts(
                            workspace.src, request.job.artifacts, workspace.staging
                        )
                        output.line(f"Artifacts published under logs/: {len(copied)} files")
            except OSError as exc:  # e.g. git missing, disk full: the CI's fault, not the patch's
                result, detail = "ERROR", f"executor failed: {exc}"
            output.line(f"Result: {result}" + (f" ({detail})" if detail else ""), always=True)
            if output.truncated:
                detail = (detail + "; " if detail else "") + "output truncated at the size cap"
        finally:
            output.close()
        finished = datetime.now(UTC)
        outcome = JobOutcome(result, request.log_url, started, finished, tests, detail, self.name)
        return outcome, checkout

    async def _header(self, request: JobRequest, output: JobOutput, started: datetime) -> None:
        target = request.target
        output.line(f"Job {request.job.name} of {request.ci_name} (driver {request.driver})")
        output.line(f"Triggered by: {change_url(self.config, request)} patchset {target.patch_set}")
        output.line(f"Detailed logs: {request.log_url}")
        output.line(f"Project {target.project} branch {target.branch} ref {target.ref}")
        output.line(f"Patch set revision {target.revision}; pipeline {request.pipeline}")
        output.line(f"Run {request.run_id} started {utc_stamp(started)} UTC")
        output.line(f"Sandbox: {await self.sandbox.mode()}")

    async def _run_steps(
        self,
        request: JobRequest,
        workspace: Workspace,
        env: dict[str, str],
        output: JobOutput,
        cancel: asyncio.Event,
    ) -> tuple[ResultName, str]:
        job = request.job
        output.line("Environment given to the job (nothing else is inherited):")
        for name, value in sorted(env.items()):
            output.line(f"  {name}={value}")
        deadline = time.monotonic() + job.timeout
        for index, step in enumerate(job.steps, 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "TIMED_OUT", f"job timeout of {job.timeout}s reached before step {index}"
            timeout = min(float(step.timeout or remaining), remaining)
            argv = self._step_argv(step, workspace, env)
            if argv is None:
                return "ERROR", "ansible-runner not installed (needed by a playbook step)"
            label = step.name or step.run or str(step.playbook)
            output.line(f"[step {index}/{len(job.steps)}] {label} (timeout {timeout:.0f}s)")
            if step.run is not None:
                output.line(f"$ {step.run}")
            began = time.monotonic()
            lines = LineBuffer(output.raw_line)
            end = await self.sandbox.run(
                argv,
                run_dir=workspace.job_dir,
                cwd=workspace.src,
                env=env,
                timeout=timeout,
                cancel=cancel,
                on_output=lines.feed,
            )
            lines.flush()
            took = time.monotonic() - began
            if end.reason == "canceled":
                output.line(f"[step {index}] canceled after {took:.1f}s")
                return "CANCELED", "canceled"
            if end.reason == "timed_out":
                output.line(f"[step {index}] killed: timed out after {took:.1f}s")
                return "TIMED_OUT", f"step {index} ({label}) timed out after {timeout:.0f}s"
            output.line(f"[step {index}] exit code {end.returncode} after {took:.1f}s")
            if end.returncode != 0:
                return "FAILURE", f"step {index} ({label}) exited with {end.returncode}"
        return "SUCCESS", ""

    def _step_argv(self, step: Step, workspace: Workspace, env: dict[str, str]) -> list[str] | None:
        if step.run is not None:
            return ["/bin/sh", "-c", step.run]
        runner = shutil.which(self.ANSIBLE_RUNNER, path=env["PATH"])
        if runner is None:
            return None
        assert step.playbook is not None
        data_dir = workspace.job_dir / self.ANSIBLE_DIR
        return [runner, "run", str(data_dir), "--playbook", str(step.playbook.resolve())]

    def _prepare_ansible(self, workspace: Workspace, env: dict[str, str]) -> None:
        """ansible-runner's private data dir, inside the job's own directory (so the sandbox
        gives it to the job's user): inventory (this host, with the Python running Ansible,
        which has its modules' dependencies) and the job's variables as extravars."""
        data_dir = workspace.job_dir / self.ANSIBLE_DIR
        (data_dir / "inventory").mkdir(parents=True, exist_ok=True)
        (data_dir / "env").mkdir(exist_ok=True)
        (data_dir / "inventory" / "hosts").write_text(self.ANSIBLE_INVENTORY)
        extravars = {name.lower(): value for name, value in env.items() if name.isupper()}
        (data_dir / "env" / "extravars").write_text(json.dumps(extravars))
        # Ansible expands ``~`` from the password database (/root, not the job's HOME),
        # which the sandbox does not let the job write: keep its files in the job's HOME.
        ansible_home = f"{env['HOME']}/.ansible"
        envvars = {
            "ANSIBLE_HOME": ansible_home,
            "ANSIBLE_LOCAL_TMP": f"{ansible_home}/tmp",
            "ANSIBLE_REMOTE_TMP": f"{ansible_home}/tmp",
        }
        (data_dir / "env" / "envvars").write_text(json.dumps(envvars))

    async def _test_results(
        self, request: JobRequest, workspace: Workspace, env: dict[str, str], output: JobOutput
    ) -> TestCounts:
        """When the job ran stestr, export its last run as subunit and render the page."""
        if not (workspace.src / ".stestr").is_dir():
            return TestCounts()
        stream = bytearray()
        output.line(f"$ {self.STESTR_EXPORT}")
        end = await self.sandbox.run(
            ["/bin/sh", "-c", self.STESTR_EXPORT],
            run_dir=workspace.job_dir,
            cwd=workspace.src,
            env=env,
            timeout=self.STESTR_EXPORT_TIMEOUT,
            cancel=asyncio.Event(),
            on_output=stream.extend,
        )
        if end.reason != "exited" or not stream:
            output.line("No subunit stream could be exported from .stestr")
            return TestCounts()
        title = f"{request.job.name}: change {request.target.change},{request.target.patch_set}"
        counts = await asyncio.to_thread(add_test_results, workspace.staging, bytes(stream), title)
        output.line(
            f"Tests: {counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped"
        )
        return counts


def _checkout_result(checkout: Checkout) -> tuple[ResultName, str]:
    if checkout.result == "conflict":
        return "MERGE_CONFLICT", checkout.detail
    if checkout.result == "canceled":
        return "CANCELED", checkout.detail
    if checkout.result == "error":
        return "ERROR", checkout.detail
    return "SUCCESS", ""
