"""The emulator's stream events look like the real Gerrit 3.x captures in gerrit-samples.

For each captured ``Event*.json``, the same kind of event is produced through the emulator's
state operations and rendered as ``stream-events`` renders it. Both must have the same field
names (except an explicit allow-list of fields the emulator leaves out), in Gson's order,
and the same JSON type at every path: numbers are ints in 3.x, approval values are strings.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driverci.emulator.ssh.stream_render import gson_dumps, render_event
from driverci.emulator.state.journal import EmulatorState
from driverci.emulator.state.model import EmulatorEvent, FileChange

PROJECT = "software-factory/gerrit-haskell"
BASE = "e61b385d95d4a8969bc09ab9163b550da8f715a3"

# Fields a capture has that the emulator intentionally does not write: none so far.
ALLOWED_MISSING: dict[str, set[str]] = {}
# Fields Gerrit writes only when set (json.txt: account email; change topic, hashtags and wip;
# approval oldValue), so a capture may lack them while the emulated event has them.
OPTIONAL_FIELDS = {"email", "topic", "hashtags", "wip", "oldValue"}


def samples_dir() -> Path:
    shared = os.environ.get("DRIVERCI_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2].parent / "shared"
    return root / "gerrit-samples"


def sample_files() -> list[Path]:
    return sorted(samples_dir().glob("Event*.json"))


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def differences(real: Any, emulated: Any, path: str = "$") -> list[str]:
    """Where the emulated JSON's shape departs from the captured one."""
    problems: list[str] = []
    if json_type(real) != json_type(emulated):
        return [f"{path}: real {json_type(real)}, emulated {json_type(emulated)}"]
    if isinstance(real, dict):
        allowed = ALLOWED_MISSING.get(path, set())
        for key in real:
            if key not in emulated and key not in allowed:
                problems.append(f"{path}.{key}: missing in the emulator's event")
        common_real = [key for key in real if key in emulated]
        common_emulated = [key for key in emulated if key in real]
        if common_real != common_emulated:
            problems.append(f"{path}: field order {common_emulated}, real {common_real}")
        for key in emulated:
            if key not in real and key not in OPTIONAL_FIELDS:
                problems.append(f"{path}.{key}: not in the real event")
            elif key in real:
                problems.extend(differences(real[key], emulated[key], f"{path}.{key}"))
    elif isinstance(real, list) and real and emulated:
        for item in emulated:
            problems.extend(differences(real[0], item, f"{path}[]"))
    return problems


def emulated_events(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Drive the state through every captured kind of event; keep the last of each type."""
    clock = iter(datetime(2021, 5, 28, 19, 0, tzinfo=UTC) + timedelta(minutes=i) for i in range(99))
    state = EmulatorState(
        tmp_path / "state", clock=lambda: next(clock), web_url="https://sf.test/r"
    )
    rendered: dict[str, dict[str, Any]] = {}

    def keep(event: EmulatorEvent) -> None:
        document = render_event(state, event)
        if event.type == "ref-updated" and not document["refUpdate"]["refName"].startswith(
            "refs/changes/"
        ):
            return  # the capture is the ref-updated of an uploaded patch set
        rendered[event.type] = json.loads(gson_dumps(document))

    state.add_listener(keep)
    tristan = state.add_account("TristanCacqueray", "Tristan de Cacqueray", "tdecacqu@redhat.com")
    zuul = state.add_account("zuul", "Zuul CI", "zuul@softwarefactory-project.io")
    state.create_project(PROJECT)
    state.set_branch(PROJECT, "master", BASE)
    files = [FileChange("src/Gerrit/Event.hs", "A", 201, 0), FileChange("gerrit.cabal", "M", 2, 1)]

    def upload(revision: str, topic: str | None = None) -> Any:
        change, _ = state.upload_patch_set(
            PROJECT,
            "master",
            "I" + revision,
            revision,
            [BASE],
            f"Add Gerrit.Event data type\n\nChange-Id: I{revision}\n",
            files,
            tristan,
            topic=topic,
        )
        return change

    merged = upload("7c926701b9e2b57b934917672bb1397851119ae0")
    state.post_review(merged, merged.current, zuul, "Starting check jobs.")
    state.merge_change(merged, zuul)
    abandoned = upload("e795336f3b1814a7e3d65a33c391fe3f64472fac")
    state.abandon_change(abandoned, tristan, "Duplicated changeid")
    wip = upload("9b8f6a4d8a379b8c82a10a84aa7d9e8850a72ef6", topic="gerrit-3.4")
    state.set_work_in_progress(wip, tristan, True)
    state.close()
    return rendered


@pytest.mark.parametrize("sample", sample_files(), ids=lambda p: p.name)
def test_emulated_event_has_the_real_fields_and_types(sample: Path, tmp_path: Path) -> None:
    real = json.loads(sample.read_text())
    emulated = emulated_events(tmp_path).get(real["type"])
    assert emulated is not None, f"the emulator produced no {real['type']} event"
    assert differences(real, emulated) == []
    assert list(emulated)[-2:] == ["type", "eventCreatedOn"]  # Gson order: Event fields last


def test_samples_are_there() -> None:
    assert len(sample_files()) >= 7, f"no Event*.json samples under {samples_dir()}"


def test_zero_votes_on_a_plain_comment_are_listed_as_strings_as_in_the_capture(
    tmp_path: Path,
) -> None:
    real = json.loads((samples_dir() / "EventCommentAdded.json").read_text())
    emulated = emulated_events(tmp_path)["comment-added"]
    assert emulated["approvals"] == real["approvals"]  # all three labels at "0"


def test_a_service_account_without_email_renders_without_email() -> None:
    # The 2014 OpenStack capture: Jenkins' author attribute carries no email.
    events = json.loads((samples_dir() / "openstack-2014-jenkins-events.json").read_text())
    jenkins = events["events"][0]["author"]
    state = EmulatorState()
    state.add_account("jenkins", "Jenkins")
    state.create_project("openstack/requirements")
    state.set_branch("openstack/requirements", "master", BASE)
    account = state.account_by_username("jenkins")
    assert account is not None
    change, patch_set = state.upload_patch_set(
        "openstack/requirements", "master", "I" + "1" * 40, "2" * 40, [BASE], "x\n", [], account
    )
    seen: list[dict[str, Any]] = []
    state.add_listener(lambda event: seen.append(render_event(state, event)))
    state.post_review(change, patch_set, account, "Build failed.")
    assert set(seen[-1]["author"]) == set(jenkins) | {"name"}
    assert "email" not in seen[-1]["author"]


def test_gson_escapes_html_characters_like_the_real_stream() -> None:
    line = gson_dumps({"comment": "a=b & 'c' <d>"})
    assert line == '{"comment":"a\\u003db \\u0026 \\u0027c\\u0027 \\u003cd\\u003e"}'
    assert json.loads(line) == {"comment": "a=b & 'c' <d>"}
