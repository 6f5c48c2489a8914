"""Stories of a CI that goes down: killed in a burst, or away while changes arrive.
Execution is not the subject here, so a fast executor stands in for the local one."""

from __future__ import annotations

import asyncio

from ci_fixtures import CIWATCH, FastExecutor, ci_comments, running, write_ci_yaml

from driverci.ci.service import CIService
from world import GerritWorld, reported_per_patch_set, wait_until


async def test_killed_in_a_burst_of_200_patch_sets_every_one_is_reported_exactly_once(
    world: GerritWorld,
) -> None:
    config = write_ci_yaml(world, "http://logs.example.org/")
    executor = FastExecutor(delay=0.01)
    service = CIService(config, executor=executor)
    service.listener.RECONCILE_MIN_AGE = service.listener.RECONCILE_MIN_AGE * 0
    task = asyncio.create_task(service.run())
    await wait_until(lambda: service.stream is not None and service.stream.stats.connects > 0)
    await asyncio.sleep(0.3)
    pushed = []
    for index in range(200):
        change, _ = await world.push({f"ironic/drivers/burst_{index}.py": b"x = 1\n"}, f"B{index}")
        pushed.append(change)
        if index == 100:  # the CI dies mid-burst, as a kill -9 would leave it
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    restarted = CIService(config, executor=executor)
    restarted.listener.RECONCILE_MIN_AGE = restarted.listener.RECONCILE_MIN_AGE * 0
    task = asyncio.create_task(restarted.run())
    try:
        await wait_until(lambda: len(reported_per_patch_set(world)) == 200, 45, "200 reports")
        await restarted.wait_idle()
    finally:
        await restarted.stop()
        await task
    counts = reported_per_patch_set(world)
    assert set(counts) == {(change.number, 1) for change in pushed}
    assert set(counts.values()) == {1}
    for change in pushed[:3]:
        assert CIWATCH.search(ci_comments(world, change)[0])


async def test_patch_sets_pushed_while_the_ci_was_down_are_found_by_reconciliation(
    world: GerritWorld,
) -> None:
    config = write_ci_yaml(world, "http://logs.example.org/")
    missed = [
        (await world.push({f"ironic/drivers/missed_{i}.py": b"y = 2\n"}, f"Missed {i}"))[0]
        for i in range(3)
    ]
    async with running(config, FastExecutor(), reconcile_age=0) as service:
        await wait_until(lambda: all(ci_comments(world, c) for c in missed), 20, "reconciled")
        await service.wait_idle()
        assert service.listener.reconciled == 3
        # A second reconciliation finds nothing new: intake is idempotent.
        assert await service.listener.reconcile_once() == 0
    assert all(len(ci_comments(world, change)) == 1 for change in missed)


async def test_a_recheck_posted_while_the_ci_was_down_is_answered_once_after_restart(
    world: GerritWorld,
) -> None:
    config = write_ci_yaml(world, "http://logs.example.org/")
    async with running(config, FastExecutor(), reconcile_age=0) as service:
        change, _ = await world.push({"ironic/drivers/recheck_me.py": b"z = 3\n"}, "Recheck me")
        await wait_until(lambda: len(ci_comments(world, change)) == 1, 20, "the first report")
        await service.wait_idle()
    # The CI is down; a developer asks for a recheck, and another comments on something else.
    world.comment(change, "recheck")
    world.comment(change, "Looks fine to me.")
    async with running(config, FastExecutor(), reconcile_age=0) as service:
        await wait_until(lambda: len(ci_comments(world, change)) == 2, 20, "the recheck's report")
        await service.wait_idle()
        # Reconciling again finds nothing: the recheck has its run, and its report is newer.
        assert await service.listener.reconcile_once() == 0
    assert len(ci_comments(world, change)) == 2
