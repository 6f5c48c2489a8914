"""Small Gerrit REST entities and formats: timestamps, ids, AccountInfo, FileInfo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from driverci.emulator.state.model import Account, Change, FileChange, PatchSet

Json = dict[str, Any]

REGULAR_FILE_MODE = 0o100644  # 33188 on the wire, as Gerrit writes modes in decimal


def gerrit_time(moment: datetime) -> str:
    """``2026-01-05 10:11:12.000000000``: UTC, nine fractional digits."""
    if moment.tzinfo is not None and moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is C; rendered once per timestamp of every change of every page.
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds") + "000"


def label_value_key(value: int) -> str:
    """LabelInfo.values keys: ``"-1"``, ``" 0"``, ``"+1"``."""
    return f"{value:+d}" if value else " 0"


def change_url_id(change: Change) -> str:
    """ChangeInfo.id in Gerrit 3.9+: ``<project url-encoded>~<number>``."""
    return f"{quote(change.project, safe='')}~{change.number}"


def triplet_id(change: Change) -> str:
    return f"{quote(change.project, safe='')}~{quote(change.branch, safe='')}~{change.change_id}"


def render_account(account: Account | None, detailed: bool, account_id: int = 0) -> Json:
    """AccountInfo: ``_account_id``, plus name/email/username/tags when detailed."""
    if account is None:
        return {"_account_id": account_id}
    info: Json = {"_account_id": account.account_id}
    if detailed:
        info["name"] = account.name
        if account.email:
            info["email"] = account.email
        info["username"] = account.username
        if account.tags:
            info["tags"] = list(account.tags)
    return info


def commit_message_file(patch_set: PatchSet, author: Account | None) -> Json:
    """FileInfo of the magic ``/COMMIT_MSG`` file (header lines plus the message)."""
    header = "".join(f"Parent:     {parent[:8]}\n" for parent in patch_set.parents)
    who = f"{author.name} <{author.email or ''}>" if author else "Unknown"
    header += f"Author:     {who}\nAuthorDate: {patch_set.created:%Y-%m-%d %H:%M:%S} +0000\n"
    header += f"Commit:     {who}\nCommitDate: {patch_set.created:%Y-%m-%d %H:%M:%S} +0000\n\n"
    text = header + patch_set.commit_message
    size = len(text.encode())
    return {
        "status": "A",
        "lines_inserted": text.count("\n") + (0 if text.endswith("\n") else 1),
        "size_delta": size,
        "size": size,
    }


def render_file(file: FileChange) -> Json:
    """FileInfo: ``status`` omitted for modified files, zero line counts omitted."""
    info: Json = {}
    if file.status != "M":
        info["status"] = file.status
    if file.binary:
        info["binary"] = True
    if file.old_path:
        info["old_path"] = file.old_path
    if file.status != "A":
        info["old_mode"] = REGULAR_FILE_MODE
    if file.status != "D":
        info["new_mode"] = REGULAR_FILE_MODE
    if file.lines_inserted:
        info["lines_inserted"] = file.lines_inserted
    if file.lines_deleted:
        info["lines_deleted"] = file.lines_deleted
    info["size_delta"] = file.size_delta
    info["size"] = file.size
    return info


def download_commands(url: str, ref: str) -> dict[str, str]:
    fetch = f"git fetch {url} {ref}"
    return {
        "Checkout": f"{fetch} && git checkout FETCH_HEAD",
        "Cherry Pick": f"{fetch} && git cherry-pick FETCH_HEAD",
        "Format Patch": f"{fetch} && git format-patch -1 --stdout FETCH_HEAD",
        "Pull": f"git pull {url} {ref}",
    }
