"""The conformance suite's one fixture: ``gerrit``, each test run once per server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from emulator_target import emulator_target
from gerrit_target import GerritTarget, Login


@pytest.fixture(scope="session")
def emulator_gerrit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GerritTarget]:
    with emulator_target(tmp_path_factory.mktemp("emulator")) as target:
        yield target


@pytest.fixture(params=["emulator", "real_gerrit_target"], ids=["emulator", "gerrit"])
def gerrit(request: pytest.FixtureRequest) -> GerritTarget:
    target: GerritTarget = request.getfixturevalue(
        "emulator_gerrit" if request.param == "emulator" else request.param
    )
    return target


def _login(account: object) -> Login:
    from driverci.realgerrit.provision import Account

    assert isinstance(account, Account)
    return Login(account.username, account.http_password, account.ssh_key, account.email)


@pytest.fixture(scope="session")
def real_gerrit_target(real_gerrit: Any, tmp_path_factory: pytest.TempPathFactory) -> GerritTarget:
    provisioned = real_gerrit.provisioned
    return GerritTarget(
        "gerrit",
        provisioned.http_url.rstrip("/"),
        provisioned.ssh_port,
        _login(provisioned.admin),
        _login(provisioned.ci),
        _login(provisioned.developer),
        _login(provisioned.nostream),
        tmp_path_factory.mktemp("gerrit-work"),
    )
