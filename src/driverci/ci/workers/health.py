"""``driverci ci check`` for ``executor: celery``: broker, backend, and a worker per queue.

Each finding is one line, as the rest of the check: which part does not answer, or which
queue no worker consumes (and the command that would start one). URLs are shown without
their passwords.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import redis
from kombu.exceptions import OperationalError

from driverci.ci.config import CIConfig
from driverci.ci.workers.app import make_app, queue_name, redis_client

Finding = tuple[bool, str]


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _check(config: CIConfig, inspect_timeout: float) -> list[Finding]:
    assert config.celery is not None
    settings = config.celery
    findings: list[Finding] = []
    client = redis_client(config)
    try:
        client.ping()
        findings.append((True, f"Redis answers at {_where(settings.backend)}"))
    except redis.RedisError as exc:
        return [(False, f"Redis unreachable at {_where(settings.backend)}: {exc}")]
    finally:
        client.close()
    app = make_app(config)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
        findings.append((True, f"RabbitMQ answers at {_where(settings.broker)}"))
        consumers = app.control.inspect(timeout=inspect_timeout).active_queues() or {}
    except (OperationalError, OSError) as exc:
        findings.append((False, f"RabbitMQ unreachable at {_where(settings.broker)}: {exc}"))
        return findings
    finally:
        app.close()
    serving: dict[str, list[str]] = {}
    for worker, queues in consumers.items():
        for queue in queues:
            serving.setdefault(str(queue["name"]), []).append(str(worker))
    needed = {queue_name(config, job.label): job.label for job in config.jobs}
    for queue, label in sorted(needed.items()):
        workers = sorted(serving.get(queue, []))
        if workers:
            findings.append((True, f"queue {queue}: served by {', '.join(workers)}"))
        else:
            hint = f" --labels {label}" if label else ""
            findings.append(
                (False, f"no worker consumes {queue}: start `driverci ci worker{hint}` on a host")
            )
    return findings


async def check_workers(config: CIConfig, inspect_timeout: float = 3.0) -> list[Finding]:
    return await asyncio.to_thread(_check, config, inspect_timeout)
