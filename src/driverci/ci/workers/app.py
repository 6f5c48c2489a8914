"""The Celery application of one CI, built from ci.yaml (never at import time).

Jobs are tasks named ``driverci.run_job`` on durable queues ``<prefix>.<label>`` (a job
without a label: ``<prefix>.default``), sent persistent; a worker acknowledges a task only
when it has finished (``acks_late``) and takes one at a time per thread, so a worker that
dies mid-job leaves its task to the broker, which gives it to another worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from celery import Celery
from kombu.entity import Queue

from driverci.ci.config import CeleryConfig, CIConfig, read_secret
from driverci.errors import ConfigError

log = logging.getLogger(__name__)

TASK_NAME = "driverci.run_job"
DEFAULT_QUEUE = "default"


def with_password(url: str, password_file: Path | None) -> str:
    """``url`` with the password of ``password_file`` as its ``user:password@``."""
    if password_file is None:
        return url
    password = read_secret(password_file, f"the password for {url}") or ""
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{quote(user)}:{quote(password, safe='')}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def celery_settings(config: CIConfig) -> CeleryConfig:
    assert config.celery is not None, "executor: celery without a celery section"
    return config.celery


def queue_name(config: CIConfig, label: str | None) -> str:
    return f"{celery_settings(config).queue_prefix}.{label or DEFAULT_QUEUE}"


def redis_client(config: CIConfig) -> redis.Redis:
    """Results, testbed locks and cancellation flags."""
    settings = celery_settings(config)
    url = with_password(settings.backend, settings.backend_password_file)
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def probe_backend(config: CIConfig, client: redis.Redis) -> None:
    """At start-up: a refused login or a refusing server is a configuration error (one
    line, the process stops); an unreachable one is only a warning (it may be restarting)."""
    where = urlsplit(celery_settings(config).backend)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if "DENIED" in str(exc) or isinstance(exc, redis.AuthenticationError):
            raise ConfigError(f"celery.backend {where.hostname}:{where.port}: {exc}") from None
        log.warning("celery.backend %s:%s unreachable for now: %s", where.hostname, where.port, exc)
    except redis.RedisError as exc:  # NOAUTH, WRONGPASS, ...: the settings are wrong
        raise ConfigError(f"celery.backend {where.hostname}:{where.port}: {exc}") from None


def make_app(
    config: CIConfig,
    labels: Sequence[str | None] = (),
    run_job: Callable[..., dict[str, Any]] | None = None,
) -> Celery:
    """The app; with ``run_job`` it can also execute (a worker serving ``labels``)."""
    settings = celery_settings(config)
    app = Celery(
        f"driverci-{config.gerrit.username}",
        broker=with_password(settings.broker, settings.broker_password_file),
        backend=with_password(settings.backend, settings.backend_password_file),
        set_as_current=False,
    )
    names = {queue_name(config, None), *(queue_name(config, job.label) for job in config.jobs)}
    names.update(queue_name(config, label) for label in labels)
    app.conf.update(
        task_queues=[
            Queue(name, routing_key=name, durable=True)  # type: ignore[no-untyped-call]
            for name in sorted(names)
        ],
        task_default_queue=queue_name(config, None),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        result_extended=True,
        result_expires=7 * 24 * 3600,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a restarting broker is waited for
        broker_heartbeat=10,
        # The listener publishes with its own retry loop (client.py); one try here.
        task_publish_retry=False,
        broker_transport_options={"confirm_publish": True},
        redis_backend_health_check_interval=10,
        result_backend_transport_options={"retry_policy": {"timeout": 10.0}},
    )
    if run_job is not None:
        app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(run_job)
    return app
