"""The optional webhook: one JSON POST per notice, with a timeout and one retry."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from driverci.audit.notify.notice import NotificationError

log = logging.getLogger(__name__)


class WebhookPoster:
    """POSTs JSON payloads to one URL over one HTTP client; use as a context manager."""

    TIMEOUT_S = 10.0
    ATTEMPTS = 2  # the first try and one retry
    RETRY_DELAY_S = 0.5
    USER_AGENT = "driverci-notify"

    def __init__(self, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise NotificationError(f"webhook {url!r}: expected an http:// or https:// URL")
        self.url = url
        self._client = httpx.Client(timeout=self.TIMEOUT_S, headers={"User-Agent": self.USER_AGENT})

    def __enter__(self) -> WebhookPoster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def post(self, payload: dict[str, Any]) -> int:
        """POST ``payload``; return the 2xx status, or raise NotificationError naming the URL.

        Connection errors, timeouts and 5xx answers are retried once; a 4xx is final (the
        receiver refused this payload and would refuse it again).
        """
        problem = ""
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.HTTPError as err:
                problem = str(err) or type(err).__name__
            else:
                if response.is_success:
                    log.info(
                        "webhook %s took %s/%s: %s",
                        self.url,
                        payload.get("account"),
                        payload.get("event"),
                        response.status_code,
                    )
                    return response.status_code
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    break
            log.warning("webhook %s attempt %d failed: %s", self.url, attempt, problem)
            if attempt < self.ATTEMPTS:
                time.sleep(self.RETRY_DELAY_S)
        raise NotificationError(f"webhook {self.url} refused the notice: {problem}")
