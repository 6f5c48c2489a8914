"""The REST client against a real HTTP server answering with recorded Gerrit bodies."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from gerrit_servers import RecordedGerrit

from driverci.errors import GerritHTTPError, GerritUnreachable
from driverci.gerrit.models import ReviewInput
from driverci.gerrit.rest import GerritRestClient

Sample = Callable[[str], Any]


class FastClient(GerritRestClient):
    """Same client, with retry waits short enough for a test."""

    BACKOFF_BASE = 0.01
    MAX_RETRIES = 2


def paged_changes(sample: Sample, total: int) -> list[dict[str, Any]]:
    """``total`` distinct changes built from the recorded 2019 query answer."""
    recorded = sample("gerrit-review-changes-query.json")
    changes = []
    for index in range(total):
        change = {k: v for k, v in recorded[index % len(recorded)].items() if k != "_more_changes"}
        changes.append({**change, "_number": 1000 + index})
    return changes


async def test_version_and_magic_prefix_stripped(recorded_gerrit: RecordedGerrit) -> None:
    recorded_gerrit.json("GET", "/config/server/version", "3.9.1")
    async with GerritRestClient(recorded_gerrit.url) as gerrit:
        assert await gerrit.get_version() == "3.9.1"


async def test_iter_changes_follows_more_changes_with_start(
    recorded_gerrit: RecordedGerrit, sample: Sample
) -> None:
    changes = paged_changes(sample, 7)

    async def query(request: web.Request) -> web.StreamResponse:
        limit, start = int(request.query["n"]), int(request.query.get("S", 0))
        page = [dict(change) for change in changes[start : start + limit]]
        if start + limit < len(changes):
            page[-1]["_more_changes"] = True
        return web.Response(text=")]}'\n" + json.dumps(page), content_type="application/json")

    recorded_gerrit.routes[("GET", "/changes/")] = query
    async with GerritRestClient(recorded_gerrit.url) as gerrit:
        found = [c.number async for c in gerrit.iter_changes("status:open", ["MESSAGES"], 3)]
    assert found == [1000 + i for i in range(7)]
    starts = [path for method, path, _auth in recorded_gerrit.requests]
    assert len(starts) == 3
    assert "o=MESSAGES" in starts[0] and "S=" not in starts[0]
    assert "S=3" in starts[1] and "S=6" in starts[2]


async def test_credentials_use_a_prefix_and_basic_auth(
    recorded_gerrit: RecordedGerrit, sample: Sample
) -> None:
    async def self_account(request: web.Request) -> web.StreamResponse:
        expected = "Basic " + base64.b64encode(b"acme-ci:acme-ci-secret").decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="Unauthorized\n")
        body = {"_account_id": 42, "name": "Acme CI", "username": "acme-ci"}
        return web.Response(text=")]}'\n" + json.dumps(body))

    recorded_gerrit.routes[("GET", "/a/accounts/self")] = self_account
    async with GerritRestClient(recorded_gerrit.url, "acme-ci", "acme-ci-secret") as gerrit:
        me = await gerrit.get_self()
    assert (me.account_id, me.username) == (42, "acme-ci")
    async with GerritRestClient(recorded_gerrit.url, "acme-ci", "wrong") as gerrit:
        with pytest.raises(GerritHTTPError) as refused:
            await gerrit.get_self()
    assert refused.value.status == 401
    url = recorded_gerrit.url
    assert str(refused.value) == f"GET {url}/a/accounts/self: HTTP 401: Unauthorized"


async def test_change_ids_are_url_encoded(recorded_gerrit: RecordedGerrit, sample: Sample) -> None:
    (cinder,) = sample("opendev-cinder-change-758569.json")
    recorded_gerrit.json("GET", "/changes/openstack/cinder~758569", cinder)
    async with GerritRestClient(recorded_gerrit.url) as gerrit:
        change = await gerrit.get_change("openstack/cinder~758569", ["ALL_REVISIONS"])
    assert change.number == 758569
    assert recorded_gerrit.requests[0][1] == "/changes/openstack%2Fcinder~758569?o=ALL_REVISIONS"


async def test_retry_after_503_honours_retry_after(recorded_gerrit: RecordedGerrit) -> None:
    answers = iter([web.Response(status=503, text="busy\n", headers={"Retry-After": "1"})])

    async def flaky(request: web.Request) -> web.StreamResponse:
        return next(answers, None) or web.Response(text=')]}\'\n"3.9.1"')

    recorded_gerrit.routes[("GET", "/config/server/version")] = flaky
    began = time.monotonic()
    async with FastClient(recorded_gerrit.url) as gerrit:
        assert await gerrit.get_version() == "3.9.1"
    assert time.monotonic() - began >= 0.95  # waited what the server asked, not 0.01 s
    assert len(recorded_gerrit.requests) == 2


async def test_404_is_not_retried_and_says_what_gerrit_said(
    recorded_gerrit: RecordedGerrit,
) -> None:
    async def missing(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="Not found: 12345\n")

    recorded_gerrit.routes[("GET", "/changes/12345/messages")] = missing
    async with FastClient(recorded_gerrit.url) as gerrit:
        with pytest.raises(GerritHTTPError) as caught:
            await gerrit.list_change_messages(12345)
    assert str(caught.value) == (
        f"GET {recorded_gerrit.url}/changes/12345/messages: HTTP 404: Not found: 12345"
    )
    assert len(recorded_gerrit.requests) == 1


async def test_review_is_posted_once_even_on_500(recorded_gerrit: RecordedGerrit) -> None:
    posted: list[dict[str, Any]] = []

    async def review(request: web.Request) -> web.StreamResponse:
        posted.append(await request.json())
        if len(posted) == 1:
            return web.Response(status=500, text="Internal server error\n")
        return web.Response(text=")]}'\n" + json.dumps({"labels": {"Verified": 1}}))

    path = "/a/changes/openstack/ironic~7/revisions/1/review"
    recorded_gerrit.routes[("POST", path)] = review
    verdict = ReviewInput(message="Build succeeded.", labels={"Verified": 1})
    async with FastClient(recorded_gerrit.url, "ci", "pw") as gerrit:
        # A 500 may mean Gerrit stored the comment: resending could post it twice.
        with pytest.raises(GerritHTTPError, match="HTTP 500"):
            await gerrit.set_review("openstack/ironic~7", 1, verdict)
        result = await gerrit.set_review("openstack/ironic~7", 1, verdict)
    assert result.labels == {"Verified": 1}
    assert posted == [{"message": "Build succeeded.", "labels": {"Verified": 1}}] * 2


async def test_files_and_accounts(recorded_gerrit: RecordedGerrit, sample: Sample) -> None:
    (cinder,) = sample("opendev-cinder-change-758569.json")
    files = cinder["revisions"][cinder["current_revision"]]["files"]
    recorded_gerrit.json("GET", "/changes/758569/revisions/current/files/", files)
    recorded_gerrit.json("GET", "/accounts/", [cinder["submitter"]])
    recorded_gerrit.json("GET", "/accounts/22348", cinder["submitter"])
    async with GerritRestClient(recorded_gerrit.url) as gerrit:
        listed = await gerrit.list_files(758569)
        (zuul,) = await gerrit.query_accounts("username:zuul")
        again = await gerrit.get_account(22348)
    assert set(listed) == set(files)
    assert zuul.is_service_user and again.username == "zuul"
    assert "o=DETAILS" in recorded_gerrit.requests[1][1]


async def test_unreachable_server_names_the_url() -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FastClient(f"http://127.0.0.1:{port}") as gerrit:
        with pytest.raises(GerritUnreachable) as caught:
            await gerrit.get_version()
    assert f"GET http://127.0.0.1:{port}/config/server/version" in str(caught.value)
