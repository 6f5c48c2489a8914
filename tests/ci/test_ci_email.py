"""The operator hears by e-mail (a real SMTP server on loopback): silent-mode results during a
rehearsal, and merge conflicts, which are never posted to Gerrit as failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ci_fixtures import CI, FastExecutor, running, write_ci_yaml

from driverci.ci.queue import QUEUED
from driverci.emulator.git.receive import upload_change
from world import PROJECT, GerritWorld, Inbox, smtp_server, wait_until


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    received = Inbox()
    with smtp_server(received) as port:
        yield received, port


def email_block(port: int, extra: str = "") -> str:
    return (
        f"{extra}email:\n  smtp: 127.0.0.1:{port}\n  sender: ci@example.org\n"
        f"  to: [operator@example.org]\n"
    )


async def test_silent_mode_mails_the_result_and_posts_nothing(
    world: GerritWorld, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    config = write_ci_yaml(
        world, "http://logs.example.org/", extra=email_block(port, "silent: true\n")
    )
    async with running(config, FastExecutor()) as service:
        change, _ = await world.push({"ironic/drivers/rehearse.py": b"1\n"}, "Rehearse")
        await wait_until(lambda: bool(handler.messages), 20, "an e-mail")
        await wait_until(lambda: not service.queue.runs([QUEUED]), 20, "an empty queue")
    assert world.messages_by(change, CI) == []
    mail = handler.messages[0]
    assert mail["To"] == "operator@example.org"
    assert "Sandbox Redfish CI" in mail["Subject"]
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"Build succeeded (check pipeline)." in body
    assert len(handler.messages) == 1  # one run, one mail


async def test_a_merge_conflict_reaches_the_operator_not_gerrit(
    world: GerritWorld, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    config = write_ci_yaml(world, "http://logs.example.org/", extra=email_block(port))
    old_tip = world.state.projects[PROJECT].branches["master"].revision
    power = "ironic/drivers/modules/redfish/power.py"
    _, first_ps = await world.push({power: b"def get_power_state():\n    return 'A'\n"}, "First")
    # The first edit lands on master, so the second one, based on the old tip, conflicts.
    await world.git.update_ref(PROJECT, "refs/heads/master", first_ps.revision)
    world.state.set_branch(PROJECT, "master", first_ps.revision)
    async with running(config) as service:
        second, _ = await upload_change(
            world.state,
            world.git,
            PROJECT,
            "master",
            {power: b"def get_power_state():\n    return 'B'\n"},
            "Second",
            world.accounts["alice"],
            parent=old_tip,
        )
        await wait_until(
            lambda: any("conflict" in (m["Subject"] or "").lower() for m in handler.messages),
            60,
            "a conflict e-mail",
        )
        await wait_until(lambda: not service.queue.runs([QUEUED]), 20, "an empty queue")
    assert not any("Build failed" in m for m in world.messages_by(second, CI))
