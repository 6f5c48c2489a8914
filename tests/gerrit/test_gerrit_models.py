"""Every captured Gerrit payload parses into typed models with the values a user would expect."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from driverci.errors import GerritError, PayloadError
from driverci.gerrit.models import (
    ChangeAbandonedEvent,
    ChangeMergedEvent,
    CommentAddedEvent,
    GerritEvent,
    PatchsetCreatedEvent,
    ProjectCreatedEvent,
    RefUpdatedEvent,
    ReviewInput,
    ReviewResult,
    UnknownEvent,
    WipStateChangedEvent,
    format_gerrit_timestamp,
    format_query_time,
    parse_change,
    parse_change_list,
    parse_event,
    parse_event_line,
    parse_query_output,
)

Sample = Callable[[str], Any]

# The Gerrit 2.8 comment-added from review.openstack.org quoted in gerrit-protocol.md (§1.4),
# with the string numbers and VRIF label id of that era.
OPENSTACK_2014_COMMENT: dict[str, Any] = {
    "comment": "Build succeeded.\n\n- gate-keystone-pep8 http://logs.openstack.org/44/60244/12/"
    "check/gate-keystone-pep8/5ef9f24 : SUCCESS in 1m 40s\n",
    "author": {"username": "jenkins", "name": "Jenkins"},
    "approvals": [{"type": "VRIF", "description": "Verified", "value": "1"}],
    "patchSet": {
        "createdOn": 1389371115,
        "ref": "refs/changes/44/60244/12",
        "number": "12",
        "revision": "74d75a1050c96eef498e9daaa80fcb9652003a20",
    },
    "type": "comment-added",
    "eventCreatedOn": 1389371115,
    "change": {
        "topic": "bp/mapping",
        "url": "https://review.openstack.org/60244",
        "number": "60244",
        "project": "openstack/keystone",
        "branch": "master",
        "id": "I0ce62e720e797718dbfde6bfcd4b22a213985867",
        "subject": "Identity Providers CRUD operations.",
    },
}


def test_zuul_comment_on_gerrit_3_has_int_votes_and_utc_time(sample: Sample) -> None:
    raw = sample("EventCommentAdded.json")
    event = parse_event(raw)
    assert isinstance(event, CommentAddedEvent)
    assert event.change.number == 21905
    assert event.patch_set.number == 3
    assert event.project_name == "software-factory/gerrit-haskell"
    assert event.author is not None and event.author.username == "zuul"
    assert [(a.type, a.value) for a in event.approvals] == [
        ("Verified", 0),
        ("Code-Review", 0),
        ("Workflow", 0),
    ]
    assert event.comment.startswith("Patch Set 3:\n\nStarting check jobs.")
    assert event.event_created_on == datetime(2021, 5, 28, 19, 17, 24, tzinfo=UTC)
    assert event.patch_set.created_on == datetime.fromtimestamp(1622229429, UTC)
    assert event.raw == raw


def test_gerrit_2_strings_and_label_ids_become_ints_and_names() -> None:
    event = parse_event(OPENSTACK_2014_COMMENT)
    assert isinstance(event, CommentAddedEvent)
    assert event.change.number == 60244
    assert event.patch_set.number == 12
    assert event.vote("Verified") == 1
    # Gerrit 2.x has no top-level project: it comes from the change.
    assert event.project_name == "openstack/keystone"


def test_each_3x_event_sample_becomes_its_typed_class(sample: Sample) -> None:
    created = parse_event(sample("EventPatchsetCreated.json"))
    assert isinstance(created, PatchsetCreatedEvent)
    assert created.dedup_key == ("patchset-created", "software-factory/gerrit-haskell", 21905, 2)
    assert created.uploader is not None and created.uploader.username == "TristanCacqueray"

    merged = parse_event(sample("EventChangeMerged.json"))
    assert isinstance(merged, ChangeMergedEvent)
    assert merged.new_rev == "d7d5dc4a739aafcb0a3edfb758e15f878ad3292f"
    assert merged.submitter is not None and merged.submitter.email is None

    abandoned = parse_event(sample("EventChangeAbandoned.json"))
    assert isinstance(abandoned, ChangeAbandonedEvent)
    assert abandoned.reason == "Duplicated changeid"
    assert abandoned.change.status == "ABANDONED"

    ref = parse_event(sample("EventRefUpdated.json"))
    assert isinstance(ref, RefUpdatedEvent)
    assert ref.ref_update.ref_name == "refs/changes/05/21905/1"
    assert ref.ref_update.old_rev == "0" * 40

    wip = parse_event(sample("EventWipStateChanged.json"))
    assert isinstance(wip, WipStateChangedEvent)
    assert wip.change.wip is True and wip.change.topic == "gerrit-3.4"

    project = parse_event(sample("EventProjectCreated.json"))
    assert isinstance(project, ProjectCreatedEvent)
    assert project.head_name == "refs/heads/master"


def test_2014_jenkins_file_unknown_type_parses_and_stubs_are_reported(sample: Sample) -> None:
    outcomes: list[GerritEvent | str] = []
    for index, obj in enumerate(sample("openstack-2014-jenkins-events.json")["events"]):
        try:
            outcomes.append(parse_event(obj, f"events[{index}]"))
        except PayloadError as exc:
            outcomes.append(str(exc))
    # The real Jenkins comment was trimmed by its publishers: no change, so it is reported.
    assert outcomes[0] == (
        "events[0]: comment-added event: field change: Field required (and 1 more problem)"
    )
    assert isinstance(outcomes[1], UnknownEvent)
    assert outcomes[1].type == "blah" and outcomes[1].raw == {"type": "blah"}
    assert isinstance(outcomes[2], str) and "events[2]: comment-added" in outcomes[2]


def test_malformed_stream_line_names_the_line() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event_line('{"type": ', "stream line 17")
    message = str(caught.value)
    assert message.startswith("stream line 17: invalid JSON: Expecting value")
    assert "\n" not in message
    with pytest.raises(PayloadError, match="no string field 'type'"):
        parse_event_line(b'{"eventCreatedOn": 1}')
    with pytest.raises(PayloadError, match=r"patchSet\.number"):
        parse_event_line(json.dumps({**OPENSTACK_2014_COMMENT, "patchSet": {"number": "x"}}))


def test_rest_change_list_with_magic_prefix_and_paging_flag(
    raw_sample: Callable[[str], str],
) -> None:
    changes = parse_change_list(raw_sample("gerrit-review-changes-query.json"))
    assert len(changes) == 5
    assert changes[0].number == 249221 and changes[0].work_in_progress is True
    assert [c.more_changes for c in changes] == [False] * 4 + [True]
    first_message = changes[0].messages[0]
    assert first_message.revision_number == 1
    assert first_message.is_autogenerated_by_gerrit
    assert first_message.date == datetime(2019, 12, 23, 23, 37, 29, tzinfo=UTC)
    assert changes[0].labels["Verified"].values[" 0"] == "No score"


@pytest.mark.parametrize(
    "name", ["gerrit-review-changes-query.json", "openstack-2014-changes-query.json"]
)
def test_change_list_from_raw_bytes_equals_the_decoded_list(
    raw_sample: Callable[[str], str], name: str
) -> None:
    # Pages are validated straight from the bytes Gerrit sent; the models must be the ones
    # the decoded JSON gives.
    raw = raw_sample(name)
    decoded = json.loads(raw.partition("\n")[2] if raw.startswith(")]}'") else raw)
    assert parse_change_list(raw.encode()) == parse_change_list(decoded)


def test_a_bad_change_in_a_raw_page_is_named_by_item_and_field(
    raw_sample: Callable[[str], str],
) -> None:
    raw = raw_sample("gerrit-review-changes-query.json")
    changes = json.loads(raw.partition("\n")[2])
    changes[3]["_number"] = "not a number"
    page = (")]}'\n" + json.dumps(changes)).encode()
    with pytest.raises(PayloadError, match=r"^page 7 item 3: ChangeInfo field _number: "):
        parse_change_list(page, "page 7")
    with pytest.raises(PayloadError, match=r"^page 7: invalid JSON"):
        parse_change_list(page[:-1], "page 7")
    with pytest.raises(PayloadError, match=r"^page 7: expected a JSON list of changes, got dict"):
        parse_change_list(b'{"_number": 1}', "page 7")


def test_gerrit_2_8_change_list_without_prefix(raw_sample: Callable[[str], str]) -> None:
    (change,) = parse_change_list(raw_sample("openstack-2014-changes-query.json"))
    assert change.number == 113009 and change.topic == "bug/1288393"
    assert change.updated == datetime(2014, 8, 8, 21, 6, 8, 835000, tzinfo=UTC)
    assert change.owner is not None and change.owner.name == "Britt Houser"
    assert change.owner.account_id is None


def test_opendev_change_has_revisions_files_and_service_user(sample: Sample) -> None:
    (change,) = parse_change_list(sample("opendev-cinder-change-758569.json"))
    assert change.number == 758569 and change.status == "MERGED"
    assert change.submitter is not None and change.submitter.is_service_user
    first = change.revision_by_number(1)
    assert first is not None
    sha, revision = first
    assert sha == "d022fe031de6040c74a5433853db5601a6197c57"
    assert revision.ref == "refs/changes/69/758569/1"
    assert revision.files["cinder/backup/drivers/tsm.py"].status == "D"
    assert revision.files["cinder/opts.py"].status is None  # modified: Gerrit omits it
    assert "anonymous http" in revision.fetch
    assert change.current_revision_number == max(r.number for r in change.revisions.values())


def test_gerrit_change_detail_with_messages_and_labels(sample: Sample) -> None:
    change = parse_change(sample("GerritChange.json"), "GerritChange.json")
    assert change.number == 18839
    assert change.submitted == datetime(2020, 7, 16, 18, 8, 59, tzinfo=UTC)
    zuul_messages = [m for m in change.messages if m.author and m.author.username == "zuul"]
    assert any("Build succeeded" in m.message for m in zuul_messages)
    assert change.labels["Verified"].all[0].value == 2
    assert change.current_revision in change.revisions


def test_review_input_and_result_samples(sample: Sample) -> None:
    review = ReviewInput.model_validate(sample("ReviewInput.json"))
    assert review.to_wire() == {"message": "Thanks!"}
    voting = ReviewInput(message="Build succeeded.", labels={"Verified": 1}, tag="autogenerated:ci")
    assert voting.to_wire() == {
        "message": "Build succeeded.",
        "labels": {"Verified": 1},
        "tag": "autogenerated:ci",
    }
    assert ReviewResult.model_validate(sample("ReviewResult.json")).labels == {"Code-Review": -1}


def test_gerrit_query_output_with_stats_line(sample: Sample) -> None:
    change = dict(OPENSTACK_2014_COMMENT["change"])
    change["patchSets"] = [OPENSTACK_2014_COMMENT["patchSet"]]
    jenkins = {"username": "jenkins"}
    change["comments"] = [{"timestamp": 1389371115, "reviewer": jenkins, "message": "ok"}]
    stats = {"type": "stats", "rowCount": 1, "runTimeMilliseconds": 7, "moreChanges": True}
    result = parse_query_output(f"{json.dumps(change)}\n{json.dumps(stats)}\n")
    assert result.changes[0].number == 60244
    assert result.changes[0].patch_sets[0].number == 12
    assert result.changes[0].comments[0].reviewer is not None
    assert result.stats is not None and result.stats.more_changes and result.stats.row_count == 1
    with pytest.raises(PayloadError, match="gerrit query line 2: invalid JSON"):
        parse_query_output([json.dumps(change), "{oops"])
    with pytest.raises(GerritError, match="bad operator"):
        parse_query_output('{"type":"error","message":"bad operator"}')


def test_timestamp_formats_round_trip() -> None:
    moment = datetime(2013, 3, 23, 21, 34, 2, 419000, tzinfo=UTC)
    assert format_gerrit_timestamp(moment) == "2013-03-23 21:34:02.419000000"
    assert format_query_time(moment) == "2013-03-23 21:34:02"
