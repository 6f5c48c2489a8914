"""Bulk writes: collecting the same Gerrit data twice must leave the store unchanged."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from driverci.store import (
    ChangeRow,
    FileRow,
    MessageParse,
    MessageRow,
    PatchSetRow,
    Store,
    count_rows,
    get_cursor,
    get_meta,
    insert_messages,
    replace_patch_set_files,
    set_cursor,
    set_meta,
    update_message_parse,
    upsert_changes,
    upsert_patch_sets,
)
from driverci.store.models import Change, PatchSetFile, ReviewMessage

UTC = dt.UTC
MONDAY = dt.datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _changes(count: int, status: str = "NEW") -> list[ChangeRow]:
    return [
        ChangeRow(
            project="openstack/ironic",
            branch="master" if number % 5 else "stable/2025.2",
            number=number,
            change_id=f"I{number:040x}",
            subject=f"Fix thing {number}",
            status=status,
            created=MONDAY,
            updated=MONDAY + dt.timedelta(hours=number),
            owner_username="dev",
            owner_account_id=1000 + number,
        )
        for number in range(1, count + 1)
    ]


def _messages(change_pk: int, count: int) -> list[MessageRow]:
    return [
        MessageRow(
            change_pk=change_pk,
            gerrit_id=f"msg-{index}",
            date=MONDAY + dt.timedelta(minutes=index),
            message=f"Patch Set 1:\n\nBuild succeeded (check pipeline).\n\n- job{index} ...",
            patch_set_number=1,
            author_username="acme-ironic-ci",
            author_name="Acme Ironic CI",
            raw='{"id": "msg"}',
        )
        for index in range(count)
    ]


def test_upserting_the_same_changes_twice_is_idempotent(store: Store) -> None:
    with store.transaction() as session:
        first = upsert_changes(session, _changes(120))
    with store.transaction() as session:
        second = upsert_changes(session, _changes(120, status="MERGED"))
        counts = count_rows(session)
        merged = session.scalars(select(Change.status).distinct()).all()
    assert first == second
    assert len(first) == 120
    assert counts["changes"] == 120
    assert merged == ["MERGED"]


def test_patch_sets_and_their_files_are_replaced_not_duplicated(store: Store) -> None:
    with store.transaction() as session:
        change_pk = upsert_changes(session, _changes(1))[("openstack/ironic", 1)]
        row = PatchSetRow(change_pk, 1, "a" * 40, MONDAY, "refs/changes/01/1/1", "dev", 1001)
        keys = upsert_patch_sets(session, [row, row])
        patch_set_pk = keys[(change_pk, 1)]
        replace_patch_set_files(session, {patch_set_pk: [FileRow("doc/index.rst", "A", 3, 0)]})
    with store.transaction() as session:
        assert upsert_patch_sets(session, [row]) == keys
        written = replace_patch_set_files(
            session,
            {patch_set_pk: [FileRow("ironic/drivers/redfish.py", "M", 5, 1)]},
        )
        paths = session.scalars(select(PatchSetFile.path)).all()
    assert written == 1
    assert paths == ["ironic/drivers/redfish.py"]


def test_a_message_with_a_known_gerrit_id_is_not_stored_twice(store: Store) -> None:
    with store.transaction() as session:
        keys = upsert_changes(session, _changes(2))
        first_change, second_change = keys[("openstack/ironic", 1)], keys[("openstack/ironic", 2)]
        assert insert_messages(session, _messages(first_change, 50)) == 50
    with store.transaction() as session:
        again = insert_messages(session, _messages(first_change, 60))
        # The same Gerrit id on another change is another message.
        other = insert_messages(session, _messages(second_change, 1))
        total = count_rows(session)["review_messages"]
    assert again == 10
    assert other == 1
    assert total == 61


def test_the_judge_can_store_what_it_parsed(store: Store) -> None:
    with store.transaction() as session:
        change_pk = upsert_changes(session, _changes(1))[("openstack/ironic", 1)]
        insert_messages(session, _messages(change_pk, 2))
        message_pks = session.scalars(select(ReviewMessage.id).order_by(ReviewMessage.id)).all()
        update_message_parse(
            session,
            [
                MessageParse(message_pks[0], "acme-ironic-ci", "SUCCESS", "parsed"),
                MessageParse(message_pks[1], "acme-ironic-ci", None, "unparseable"),
            ],
        )
    with store.transaction() as session:
        stored = session.execute(
            select(ReviewMessage.result, ReviewMessage.parse_status).order_by(ReviewMessage.id)
        ).all()
    assert [tuple(row) for row in stored] == [("SUCCESS", "parsed"), (None, "unparseable")]


def test_timestamps_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    posted = dt.datetime(2026, 3, 1, 23, 45, 12, 123456, tzinfo=paris)
    with store.transaction() as session:
        change_pk = upsert_changes(session, _changes(1))[("openstack/ironic", 1)]
        insert_messages(
            session,
            [MessageRow(change_pk, "late", posted, "recheck", author_username="dev")],
        )
    with store.transaction() as session:
        stored = session.scalars(
            select(ReviewMessage.date).where(ReviewMessage.gerrit_id == "late")
        ).one()
    assert stored == posted
    assert stored.utcoffset() == dt.timedelta(0)
    assert stored.isoformat() == "2026-03-01T22:45:12.123456+00:00"


def test_a_naive_timestamp_is_refused(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime"), store.transaction() as session:
        upsert_changes(
            session,
            [
                ChangeRow(
                    "openstack/ironic",
                    "master",
                    1,
                    "I1",
                    "s",
                    "NEW",
                    dt.datetime(2026, 1, 5),
                    dt.datetime(2026, 1, 5),
                )
            ],
        )


def test_a_collector_resumes_from_its_cursor(store: Store) -> None:
    source = "https://review.opendev.org"
    with store.transaction() as session:
        assert get_cursor(session, source, "openstack/ironic") is None
        set_cursor(session, source, "openstack/ironic", MONDAY, '{"start": 500}')
    with store.transaction() as session:
        set_cursor(session, source, "openstack/ironic", MONDAY + dt.timedelta(days=1), None)
        cursor = get_cursor(session, source, "openstack/ironic")
        set_meta(session, "created_by", "driverci 0.1.0")
        set_meta(session, "created_by", "driverci 0.2.0")
        meta = get_meta(session, "created_by")
    assert cursor is not None
    assert cursor.last_updated == MONDAY + dt.timedelta(days=1)
    assert cursor.position is None
    assert meta == "driverci 0.2.0"
