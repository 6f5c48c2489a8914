"""Playbook steps: a vendor's Ansible playbook runs through real ansible-runner against this
host (connection local), its output lands in job-output.txt and a failed task fails the job."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest
from test_ci_executor import make_config, make_request

from driverci.ci.config import JobConfig, Step
from driverci.ci.executor import LocalExecutor
from driverci.ci.model import JobOutcome
from world import GerritWorld

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: look at the patched driver
      command: cat ironic/drivers/redfish.py
      args:
        chdir: "{{ workspace }}"  # the checkout
      register: driver
    - name: report what was tested
      debug:
        msg: "change {{ zuul_change }} patchset {{ zuul_patchset }}: {{ driver.stdout }}"
    - name: the functional check
      command: "{{ check_command }}"
"""


def _require_ansible() -> None:
    executor_path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    if shutil.which(LocalExecutor.ANSIBLE_RUNNER, path=executor_path) is None:
        if os.environ.get("DRIVERCI_REQUIRE_SERVICES") == "1":
            pytest.fail("ansible-runner is required (DRIVERCI_REQUIRE_SERVICES=1)")
        pytest.skip("ansible-runner not installed: pip install ansible-runner ansible-core")


async def run_playbook(world: GerritWorld, check_command: str) -> tuple[JobOutcome, str]:
    playbook = world.tmp / "playbooks" / "functional.yaml"
    playbook.parent.mkdir(exist_ok=True)
    playbook.write_text(PLAYBOOK.replace("{{ check_command }}", check_command))
    job_config = JobConfig(name="redfish-functional", timeout=120, steps=[Step(playbook=playbook)])
    change, ps = await world.push({"ironic/drivers/redfish.py": b"supported = True\n"})
    config = make_config(world, job_config)
    request = make_request(world, change, ps, job_config)
    outcome = await LocalExecutor(config, world.tmp / "workspaces").run(request, asyncio.Event())
    assert config.logs.dir is not None
    output = (config.logs.dir / request.log_path / "job-output.txt").read_text()
    return outcome, output


async def test_a_playbook_step_runs_and_its_output_is_in_the_job_log(world: GerritWorld) -> None:
    _require_ansible()
    outcome, output = await run_playbook(world, "/bin/true")
    assert outcome.result == "SUCCESS", output
    assert "TASK [report what was tested]" in output
    change = outcome.log_url.split("/")[4]
    assert f"change {change} patchset 1: supported = True" in output
    assert "[step 1] exit code 0" in output


async def test_a_failing_task_fails_the_job(world: GerritWorld) -> None:
    _require_ansible()
    outcome, output = await run_playbook(world, "/bin/false")
    assert outcome.result == "FAILURE", output
    assert "step 1 (" in outcome.detail and "exited with 2" in outcome.detail
    assert "TASK [the functional check]" in output and "fatal: [localhost]: FAILED!" in output
