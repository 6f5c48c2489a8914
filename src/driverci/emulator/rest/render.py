"""Render emulator objects as Gerrit 3.10 REST entities (ChangeInfo, RevisionInfo, ...).

Fields follow Gerrit's ``ChangeJson``/``RevisionJson``: optional fields are omitted (not
null), booleans that are false are omitted, accounts carry only ``_account_id`` unless
DETAILED_ACCOUNTS is asked for. One :class:`ChangeRenderer` serves one request: it memoises
account dicts and parent subjects for that request only, so nothing can go stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from driverci.emulator.rest.entities import (
    Json,
    change_url_id,
    commit_message_file,
    download_commands,
    gerrit_time,
    label_value_key,
    render_account,
    render_file,
    triplet_id,
)
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import (
    LABEL_VALUES,
    Account,
    Change,
    Message,
    PatchSet,
)

# Every ListChangesOption Gerrit 3.10 accepts; the emulator acts on a subset, ignores the rest.
KNOWN_OPTIONS = frozenset(
    {
        "LABELS",
        "DETAILED_LABELS",
        "SUBMIT_REQUIREMENTS",
        "CURRENT_REVISION",
        "ALL_REVISIONS",
        "DOWNLOAD_COMMANDS",
        "CURRENT_COMMIT",
        "ALL_COMMITS",
        "CURRENT_FILES",
        "ALL_FILES",
        "DETAILED_ACCOUNTS",
        "REVIEWER_UPDATES",
        "MESSAGES",
        "CURRENT_ACTIONS",
        "CHANGE_ACTIONS",
        "REVIEWED",
        "SKIP_DIFFSTAT",
        "SKIP_MERGEABLE",
        "SUBMITTABLE",
        "WEB_LINKS",
        "CHECK",
        "COMMIT_FOOTERS",
        "PUSH_CERTIFICATES",
        "TRACKING_IDS",
        "CUSTOM_KEYED_VALUES",
        "STAR",
        "PARENTS",
    }
)
DETAIL_OPTIONS = frozenset(
    {"LABELS", "DETAILED_LABELS", "DETAILED_ACCOUNTS", "REVIEWER_UPDATES", "MESSAGES"}
)


class ChangeRenderer:
    """Renders changes for one request with one set of ``o=`` options and one viewer."""

    def __init__(
        self,
        state: EmulatorState,
        options: Iterable[str] = (),
        viewer: Account | None = None,
    ) -> None:
        self.state = state
        self.options = frozenset(options)
        self.viewer = viewer
        self.detailed_accounts = "DETAILED_ACCOUNTS" in self.options
        self._accounts: dict[tuple[int, bool], Json] = {}
        self._subjects: dict[str, str] | None = None

    def has(self, option: str) -> bool:
        return option in self.options

    def account(self, account_id: int | None, detailed: bool | None = None) -> Json:
        """AccountInfo for an id; the same dict is reused within the request (read-only)."""
        wanted = self.detailed_accounts if detailed is None else detailed
        key = (account_id or 0, wanted)
        info = self._accounts.get(key)
        if info is None:
            account = self.state.accounts.get(account_id or 0)
            info = render_account(account, wanted, account_id or 0)
            self._accounts[key] = info
        return info

    # -- ChangeInfo --------------------------------------------------------------------------

    def change(self, change: Change, only_revision: PatchSet | None = None) -> Json:
        current = change.current
        info: Json = {
            "id": change_url_id(change),
            "triplet_id": triplet_id(change),
            "project": change.project,
            "branch": change.branch,
        }
        if change.topic:
            info["topic"] = change.topic
        info["attention_set"] = {}
        info["hashtags"] = list(change.hashtags)
        info["change_id"] = change.change_id
        info["subject"] = change.subject
        info["status"] = change.status
        info["created"] = gerrit_time(change.created)
        info["updated"] = gerrit_time(change.updated)
        if change.submitted is not None:
            info["submitted"] = gerrit_time(change.submitted)
            info["submitter"] = self.account(change.submitter_id)
        if not self.has("SKIP_DIFFSTAT"):
            info["insertions"] = current.insertions
            info["deletions"] = current.deletions
        info["total_comment_count"] = 0
        info["unresolved_comment_count"] = 0
        if change.wip:
            info["work_in_progress"] = True
        if _has_review_started(change):
            info["has_review_started"] = True
        if change.submitted is not None:
            millis = int(change.submitted.timestamp() * 1000)
            info["submission_id"] = f"{change.number}-{millis}-{_short_hash(change.change_id)}"
        info["meta_rev_id"] = _meta_rev_id(change)
        info["_number"] = change.number
        info["owner"] = self.account(change.owner_id)
        info["current_revision_number"] = current.number
        if self.has("LABELS") or self.has("DETAILED_LABELS"):
            info["labels"] = self.labels(change)
            if self.has("DETAILED_LABELS"):
                if self.viewer is not None and change.is_open:
                    info["permitted_labels"] = self.permitted_labels(change, self.viewer)
                info["removable_reviewers"] = []
                info["reviewers"] = self.reviewers(change)
                info["pending_reviewers"] = {}
        if self.has("REVIEWER_UPDATES"):
            info["reviewer_updates"] = []
        if self.has("MESSAGES"):
            info["messages"] = [self.message(m) for m in change.messages]
        if only_revision is not None:
            info["current_revision"] = only_revision.revision
            info["revisions"] = {only_revision.revision: self.revision(change, only_revision)}
        elif self.has("ALL_REVISIONS"):
            info["current_revision"] = current.revision
            info["revisions"] = {ps.revision: self.revision(change, ps) for ps in change.patch_sets}
        elif self.has("CURRENT_REVISION"):
            info["current_revision"] = current.revision
            info["revisions"] = {current.revision: self.revision(change, current)}
        return info

    def labels(self, change: Change) -> Json:
        detailed = self.has("DETAILED_LABELS")
        summary = self.has("LABELS")
        reviewers = sorted(change.reviewer_ids)
        labels: Json = {}
        for label, values in LABEL_VALUES.items():
            info: Json = {}
            votes = [
                a for (name, _), a in change.approvals.items() if name == label and a.value != 0
            ]
            if summary:
                _label_summary(info, label, votes, self)
            if detailed:
                if reviewers:
                    info["all"] = [
                        self._approval(change, label, account_id) for account_id in reviewers
                    ]
                info["values"] = {
                    label_value_key(v): text for v, text in sorted(values.items(), reverse=False)
                }
            info["default_value"] = 0
            labels[label] = info
        return labels

    def _approval(self, change: Change, label: str, account_id: int) -> Json:
        approval = change.approvals.get((label, account_id))
        entry: Json = {"value": approval.value if approval else 0}
        if approval is not None and approval.value != 0:
            entry["date"] = gerrit_time(approval.date)
            if approval.tag:
                entry["tag"] = approval.tag
        account = self.state.accounts.get(account_id)
        project = self.state.projects.get(change.project)
        if change.is_open and account is not None and project is not None:
            if project.may_vote(label, account):
                values = LABEL_VALUES[label]
                entry["permitted_voting_range"] = {"min": min(values), "max": max(values)}
        elif (
            approval is not None
            and change.submitted is not None
            and approval.date > change.submitted
        ):
            entry["post_submit"] = True
        entry.update(self.account(account_id))
        return entry

    def permitted_labels(self, change: Change, viewer: Account) -> Json:
        project = self.state.projects.get(change.project)
        permitted: Json = {}
        for label, values in LABEL_VALUES.items():
            if project is None or project.may_vote(label, viewer):
                permitted[label] = [label_value_key(v) for v in sorted(values)]
        return permitted

    def reviewers(self, change: Change) -> Json:
        reviewers: Json = {}
        if change.reviewer_ids:
            reviewers["REVIEWER"] = [self.account(i) for i in sorted(change.reviewer_ids)]
        if change.cc_ids:
            reviewers["CC"] = [self.account(i) for i in sorted(change.cc_ids)]
        return reviewers

    def message(self, message: Message) -> Json:
        """ChangeMessageInfo; ``author`` absent for Gerrit's own messages."""
        info: Json = {"id": message.id}
        if message.tag:
            info["tag"] = message.tag
        if message.author_id is not None:
            author = self.account(message.author_id)
            info["author"] = author
            info["real_author"] = author
        info["date"] = gerrit_time(message.date)
        info["message"] = message.message
        if message.revision_number is not None:
            info["_revision_number"] = message.revision_number
        return info

    # -- RevisionInfo ------------------------------------------------------------------------

    def revision(self, change: Change, patch_set: PatchSet) -> Json:
        is_current = patch_set is change.current
        fetch: Json = {
            "url": f"{self.state.web_url}/{change.project}",
            "ref": patch_set.ref,
        }
        if self.has("DOWNLOAD_COMMANDS"):
            fetch["commands"] = download_commands(fetch["url"], patch_set.ref)
        info: Json = {
            "kind": patch_set.kind,
            "_number": patch_set.number,
            "created": gerrit_time(patch_set.created),
            "uploader": self.account(patch_set.uploader_id),
            "ref": patch_set.ref,
            "fetch": {"anonymous http": fetch},
        }
        if self.has("ALL_COMMITS") or (is_current and self.has("CURRENT_COMMIT")):
            info["commit"] = self.commit(patch_set)
        if self.has("ALL_FILES") or (is_current and self.has("CURRENT_FILES")):
            # Gerrit drops the magic /COMMIT_MSG and /MERGE_LIST files here (RevisionJson).
            info["files"] = self.files(patch_set, with_magic=False)
        info["branch"] = f"refs/heads/{change.branch}"
        return info

    def files(self, patch_set: PatchSet, with_magic: bool) -> Json:
        """FileInfo map sorted by path; ``/COMMIT_MSG`` only for the files endpoint."""
        files: Json = {}
        if with_magic:
            files["/COMMIT_MSG"] = commit_message_file(
                patch_set, self.state.accounts.get(patch_set.author_id)
            )
        for file in sorted(patch_set.files, key=lambda f: f.path):
            files[file.path] = render_file(file)
        return files

    def commit(self, patch_set: PatchSet) -> Json:
        """CommitInfo as nested in RevisionInfo (no ``commit`` key: the map key is the sha)."""
        parents = []
        for parent in patch_set.parents:
            entry: Json = {"commit": parent}
            subject = self.parent_subject(parent)
            if subject is not None:
                entry["subject"] = subject
            parents.append(entry)
        subject = patch_set.commit_message.split("\n", 1)[0]
        return {
            "parents": parents,
            "author": self._person(patch_set.author_id, patch_set.created),
            "committer": self._person(patch_set.uploader_id, patch_set.created),
            "subject": subject,
            "message": patch_set.commit_message,
        }

    def parent_subject(self, revision: str) -> str | None:
        if self._subjects is None:
            self._subjects = {
                ps.revision: ps.commit_message.split("\n", 1)[0]
                for change in self.state.changes.values()
                for ps in change.patch_sets
            }
        return self._subjects.get(revision)

    def _person(self, account_id: int, when: datetime) -> Json:
        account = self.state.accounts.get(account_id)
        return {
            "name": account.name if account else "Unknown",
            "email": (account.email or f"{account.username}@example.org")
            if account
            else "unknown@example.org",
            "date": gerrit_time(when),
            "tz": 0,
        }


def _label_summary(info: Json, label: str, votes: list[Any], renderer: ChangeRenderer) -> None:
    """LABELS (not detailed): approved/rejected/recommended/disliked, as LabelsJson does."""
    values = LABEL_VALUES[label]
    top, bottom = max(values), min(values)
    for approval in sorted(votes, key=lambda a: a.value):
        account = renderer.account(approval.account_id)
        if approval.value == bottom:
            info["rejected"] = account
        elif approval.value == top:
            info.setdefault("approved", account)
        elif approval.value > 0:
            info.setdefault("recommended", account)
            info.setdefault("value", approval.value)
        else:
            info.setdefault("disliked", account)
            info.setdefault("value", approval.value)
    if "rejected" in info:
        info["blocking"] = True


def _has_review_started(change: Change) -> bool:
    if not change.wip:
        return True
    return any(m.tag == "autogenerated:gerrit:setReadyForReview" for m in change.messages)


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _meta_rev_id(change: Change) -> str:
    """A stand-in for the NoteDb meta ref sha: changes whenever the change is updated."""
    key = f"{change.number}:{change.updated.isoformat()}:{len(change.messages)}"
    return hashlib.sha1(key.encode()).hexdigest()
