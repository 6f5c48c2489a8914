"""Fidelity: the emulator's REST entities against real Gerrit payloads in gerrit-samples/.

For each kind of object (ChangeInfo, RevisionInfo, FileInfo, ...), every field that both a
real sample and the emulator have must carry the same JSON type (and timestamps the same
format). A field a sample has that the emulator never renders must be on the explicit
allow-list below, with the reason it is left out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from driverci.emulator.server import EmulatorServer
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import FileChange

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
MAGIC = ")]}'\n"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{9}$")
TIMESTAMP_FIELDS = {"created", "updated", "submitted", "date"}

# Fields real Gerrit sends that the emulator leaves out on purpose.
INTENTIONALLY_OMITTED: dict[str, dict[str, str]] = {
    "ChangeInfo": {
        "kind": "Gerrit 2.x only (2014 sample)",
        "_sortkey": "Gerrit 2.x paging, replaced by S= and _more_changes",
        "mergeable": "needs a merge check; optional in Gerrit 3 (SKIP_MERGEABLE is the default)",
        "submit_type": "not rendered by Gerrit 3.10 without submit options",
        "requirements": "deprecated, removed in Gerrit 3.x",
        "submit_records": "deprecated, replaced by submit_requirements",
    },
    "AccountInfo": {
        "avatars": "the emulator serves no avatars",
        "status": "free-text account status, not modelled",
    },
    "ApprovalInfo": {
        "avatars": "the emulator serves no avatars",
        "status": "free-text account status, not modelled",
        "post_submit": "the emulator refuses votes on closed changes, so none is post-submit",
    },
    "ReviewerUpdateInfo": {
        "updated": "reviewer history is not kept; reviewer_updates is always []",
        "updated_by": "reviewer history is not kept",
        "reviewer": "reviewer history is not kept",
        "state": "reviewer history is not kept",
    },
}


def shared_dir() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared"
    return Path(os.environ.get("DRIVERCI_SHARED", default))


def load_sample(name: str) -> Any:
    text = (shared_dir() / "gerrit-samples" / name).read_text(encoding="utf-8")
    if text.startswith(")]}'"):
        text = text.split("\n", 1)[1]
    return json.loads(text)


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


Kinds = dict[str, list[dict[str, Any]]]


def collect(changes: Iterable[dict[str, Any]]) -> Kinds:
    """Split ChangeInfo lists into their nested entities, by kind."""
    kinds: Kinds = defaultdict(list)

    def account(value: Any) -> None:
        if isinstance(value, dict):
            kinds["AccountInfo"].append(value)

    for change in changes:
        kinds["ChangeInfo"].append(change)
        account(change.get("owner"))
        account(change.get("submitter"))
        for reviewers in change.get("reviewers", {}).values():
            for reviewer in reviewers:
                account(reviewer)
        for label in change.get("labels", {}).values():
            kinds["LabelInfo"].append(label)
            kinds["ApprovalInfo"].extend(label.get("all", []))
        for message in change.get("messages", []):
            kinds["ChangeMessageInfo"].append(message)
            account(message.get("author"))
        kinds["ReviewerUpdateInfo"].extend(change.get("reviewer_updates", []))
        for revision in change.get("revisions", {}).values():
            kinds["RevisionInfo"].append(revision)
            account(revision.get("uploader"))
            kinds["FetchInfo"].extend(revision.get("fetch", {}).values())
            kinds["FileInfo"].extend(revision.get("files", {}).values())
            if "commit" in revision:
                commit = revision["commit"]
                kinds["CommitInfo"].append(commit)
                kinds["GitPersonInfo"] += [commit["author"], commit["committer"]]
                kinds["ParentCommitInfo"].extend(commit.get("parents", []))
    return kinds


def field_types(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    types: dict[str, set[str]] = defaultdict(set)
    for obj in objects:
        for key, value in obj.items():
            types[key].add(type(value).__name__)
    return types


def real_kinds() -> Kinds:
    changes: list[dict[str, Any]] = [load_sample("GerritChange.json")]
    changes += load_sample("gerrit-review-changes-query.json")
    changes += load_sample("opendev-cinder-change-758569.json")
    changes += load_sample("openstack-2014-changes-query.json")
    kinds = collect(changes)
    kinds["ReviewResult"] = [load_sample("ReviewResult.json")]
    return kinds


@pytest.fixture
async def emulated_kinds(tmp_path: Path) -> AsyncIterator[Kinds]:
    """A merged change and an open one, rendered with every option the samples were fetched
    with, plus a ReviewResult from a real POST."""
    state = EmulatorState(tmp_path / "state", clock=lambda: START + timedelta(days=3))
    owner = state.add_account("alice", "Alice Dev", "alice@example.com", "alice-secret")
    zuul = state.add_account("zuul", "Zuul", None, "zuul-secret", tags=["SERVICE_USER"])
    core = state.add_account("core", "Core Reviewer", "core@example.com", "core-secret")
    state.create_project("openstack/ironic", at=START, voters={"Verified": ["zuul"]})
    state.set_branch("openstack/ironic", "master", sha("base"), at=START)
    files = [
        FileChange("ironic/conductor/manager.py", "M", 10, 2, size=5000, size_delta=300),
        FileChange("releasenotes/notes/x-1.yaml", "A", 4, 0, size=98, size_delta=98),
        FileChange("ironic/old.py", "D", 0, 30, size=0, size_delta=-900),
    ]
    first_id, second_id = "I" + sha("one"), "I" + sha("two")
    merged, _ = state.upload_patch_set(
        "openstack/ironic", "master", first_id, sha("one-1"), [sha("base")],
        f"Fix conductor\n\nChange-Id: {first_id}\n", files, owner, at=START, topic="fix",
    )  # fmt: skip
    state.upload_patch_set(
        "openstack/ironic", "master", first_id, sha("one-2"), [sha("base")],
        f"Fix conductor\n\nChange-Id: {first_id}\n", files, owner, at=START + timedelta(hours=1),
    )  # fmt: skip
    state.post_review(merged, merged.current, zuul, "Build succeeded.", {"Verified": 1},
                      tag="autogenerated:zuul:check", at=START + timedelta(hours=2))  # fmt: skip
    state.post_review(merged, merged.current, core, "", {"Code-Review": 2, "Workflow": 1},
                      at=START + timedelta(hours=3))  # fmt: skip
    state.merge_change(merged, zuul, at=START + timedelta(hours=4))
    open_change, _ = state.upload_patch_set(
        "openstack/ironic", "master", second_id, sha("two-1"), [merged.current.revision],
        f"Follow up\n\nChange-Id: {second_id}\n", files[:1], owner, at=START + timedelta(hours=5),
    )  # fmt: skip
    options = [
        "DETAILED_LABELS", "DETAILED_ACCOUNTS", "MESSAGES", "ALL_REVISIONS", "ALL_FILES",
        "ALL_COMMITS", "DOWNLOAD_COMMANDS", "REVIEWER_UPDATES",
    ]  # fmt: skip
    state.set_work_in_progress(open_change, owner, True, at=START + timedelta(hours=6))
    async with EmulatorServer(state) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        posted = await http.post(
            f"/a/changes/{open_change.number}/revisions/current/review",
            json={"message": "Build failed.", "labels": {"Verified": -1}},
            auth=("zuul", "zuul-secret"),
        )
        changes = []
        for page_size in ("500", "1"):
            answer = await http.get(
                "/changes/",
                params=[("q", "project:openstack/ironic"), ("n", page_size)]
                + [("o", o) for o in options],
            )
            changes += json.loads(answer.text[len(MAGIC) :])
        kinds = collect(changes)
        kinds["ReviewResult"] = [json.loads(posted.text[len(MAGIC) :])]
        yield kinds
    state.close()


ENTITY_KINDS = [
    "ChangeInfo",
    "AccountInfo",
    "LabelInfo",
    "ApprovalInfo",
    "ChangeMessageInfo",
    "RevisionInfo",
    "FetchInfo",
    "FileInfo",
    "CommitInfo",
    "GitPersonInfo",
    "ParentCommitInfo",
    "ReviewResult",
]


@pytest.mark.parametrize("kind", ENTITY_KINDS)
async def test_shared_fields_have_the_same_json_types(kind: str, emulated_kinds: Kinds) -> None:
    real = field_types(real_kinds()[kind])
    emulated = field_types(emulated_kinds[kind])
    assert real, f"no {kind} in the samples"
    assert emulated, f"the emulator rendered no {kind}"
    for key in sorted(real.keys() & emulated.keys()):
        # The 2014 (Gerrit 2.8) sample is the only one without _account_id; types still agree.
        assert emulated[key] <= real[key], (
            f"{kind}.{key}: emulator {emulated[key]} real {real[key]}"
        )


@pytest.mark.parametrize("kind", ENTITY_KINDS)
async def test_every_real_field_is_rendered_or_knowingly_omitted(
    kind: str, emulated_kinds: Kinds
) -> None:
    real = field_types(real_kinds()[kind])
    emulated = field_types(emulated_kinds[kind])
    allowed = INTENTIONALLY_OMITTED.get(kind, {})
    missing = sorted(set(real) - set(emulated) - set(allowed))
    assert not missing, f"{kind}: real Gerrit sends {missing}, the emulator never does"


async def test_timestamps_and_label_value_keys_have_gerrits_format(emulated_kinds: Kinds) -> None:
    for kind, objects in emulated_kinds.items():
        for obj in objects:
            for key in TIMESTAMP_FIELDS & obj.keys():
                assert TIMESTAMP.match(obj[key]), f"{kind}.{key} = {obj[key]!r}"
    real_keys = {k for label in real_kinds()["LabelInfo"] for k in label.get("values", {})}
    emulated_keys = {k for label in emulated_kinds["LabelInfo"] for k in label["values"]}
    assert emulated_keys <= real_keys | {"+2", "-2"}
    assert " 0" in emulated_keys


async def test_change_info_answers_like_the_real_merged_change(emulated_kinds: Kinds) -> None:
    real = load_sample("GerritChange.json")
    merged = next(c for c in emulated_kinds["ChangeInfo"] if c["status"] == "MERGED")
    required = {
        "id", "project", "branch", "hashtags", "change_id", "subject", "status", "created",
        "updated", "submitted", "submitter", "insertions", "deletions", "total_comment_count",
        "unresolved_comment_count", "has_review_started", "_number", "owner", "labels",
        "reviewers", "messages", "current_revision", "revisions",
    }  # fmt: skip
    assert required <= real.keys()
    assert required <= merged.keys()
    assert merged["submitter"]["tags"] == ["SERVICE_USER"]
    assert [m["message"].split("\n")[0] for m in merged["messages"]][-1] == (
        "Change has been successfully merged by Zuul"
    )
