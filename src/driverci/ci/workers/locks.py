"""A testbed held by one job at a time, across hosts: a Redis key with an expiry.

The holder refreshes the key every third of its time to live; a worker killed with SIGKILL
stops refreshing, so its testbed is free again ``lock_ttl`` seconds later. Releasing
deletes the key only if it still holds this holder's token (a Lua compare-and-delete).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class TestbedLock:
    """``with TestbedLock(client, key, ttl).held(stop):`` ... the job runs ... ."""

    __test__ = False

    POLL = 0.2  # seconds between attempts while another job holds the testbed

    def __init__(self, client: redis.Redis, key: str, ttl: float, holder: str) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{holder}:{uuid.uuid4()}"
        self._stop_refresh = threading.Event()
        self._refresher: threading.Thread | None = None

    def acquire(self, give_up: threading.Event) -> bool:
        """Wait until held (True) or ``give_up`` is set (False)."""
        waited = 0.0
        while not give_up.is_set():
            if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
                self._refresher = threading.Thread(
                    target=self._refresh, name=f"lock {self.key}", daemon=True
                )
                self._refresher.start()
                return True
            if waited == 0.0:
                log.info("%s is held by %s; waiting", self.key, self.client.get(self.key))
            time.sleep(self.POLL)
            waited += self.POLL
        return False

    def _refresh(self) -> None:
        while not self._stop_refresh.wait(self.ttl_ms / 3000):
            try:
                if not self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl_ms):
                    log.error("%s: lost (expired while held); another job may take it", self.key)
                    return
            except redis.RedisError as exc:  # Redis restarting: keep trying until released
                log.warning("%s: cannot refresh: %s", self.key, exc)

    def release(self) -> None:
        self._stop_refresh.set()
        if self._refresher is not None:
            self._refresher.join(timeout=5)
        try:
            self.client.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError as exc:  # it expires by itself
            log.warning("%s: cannot release (%s); it expires in %d ms", self.key, exc, self.ttl_ms)
