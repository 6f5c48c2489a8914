"""``driverci ci worker``: an executor host serving some testbed labels.

    driverci ci worker --config ci.yaml --labels idrac,redfish --name lab-a

The worker takes jobs from the queues of its labels (and the default queue, for jobs
without a label), one per thread, runs each with the local executor (sandbox, workspace,
published logs) and sends the outcome back. It needs from ci.yaml: the jobs, the logs,
the testbeds of its labels with their credentials files, and the celery section; never
the Gerrit password or key (those stay on the listener's host).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import Task

from driverci.ci.config import CIConfig
from driverci.ci.executor import LocalExecutor
from driverci.ci.workers.app import make_app, probe_backend, queue_name, redis_client
from driverci.ci.workers.task import WorkerContext
from driverci.errors import ConfigError

log = logging.getLogger(__name__)


def check_labels(config: CIConfig, labels: Sequence[str]) -> None:
    if config.executor != "celery":
        raise ConfigError(
            f"{config.source or 'ci.yaml'}: executor is {config.executor!r}; "
            "workers need `executor: celery` and a celery section"
        )
    offered = {label for testbed in config.testbeds for label in testbed.labels}
    unknown = [label for label in labels if label not in offered]
    if unknown:
        known = ", ".join(sorted(offered)) or "none"
        raise ConfigError(f"no testbed in ci.yaml has the label {unknown[0]!r} (labels: {known})")
    for testbed in config.testbeds:
        serves = set(testbed.labels) & set(labels)
        if serves and testbed.credentials is not None and not testbed.credentials.is_file():
            raise ConfigError(
                f"testbed {testbed.name}: credentials file {testbed.credentials} is not on "
                "this host (a worker serving its labels gives it to the jobs)"
            )


def build_worker(
    config: CIConfig,
    labels: Sequence[str],
    name: str | None = None,
    workspace_root: Path | None = None,
) -> tuple[Any, WorkerContext]:
    """The Celery app, able to run jobs, and the context its tasks share."""
    check_labels(config, labels)
    name = name or socket.gethostname()
    root = workspace_root or Path(config.state.removeprefix("sqlite:///")).parent / "work"
    client = redis_client(config)
    probe_backend(config, client)
    context = WorkerContext(
        config=config,
        executor=LocalExecutor(config, root, name=name),
        client=client,
        name=name,
    )

    def run_job(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
        task_id = task.request.id
        assert task_id is not None
        return context.run_job(task_id, payload)

    app = make_app(config, labels, run_job)
    return app, context


def run_worker(config: CIConfig, labels: Sequence[str], name: str | None, concurrency: int) -> None:
    """Serve until SIGTERM (finish running jobs) or SIGKILL (the broker re-delivers them)."""
    app, context = build_worker(config, labels, name)
    queues = [queue_name(config, None), *(queue_name(config, label) for label in labels)]
    log.info("worker %s: queues %s, %d threads", context.name, ", ".join(queues), concurrency)
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--hostname={context.name}@{socket.gethostname()}",
            f"--queues={','.join(queues)}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )
