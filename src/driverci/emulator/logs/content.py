"""The files inside a seeded CI's artifact directory, generated on demand and deterministically.

A *standard* directory has what OpenDev's third-party requirements ask for: a command trace
with UTC timestamps (job-output.txt), a machine-readable manifest naming the tested revision
and driver (driverci-manifest.json; zuul-manifest.json too for Zuul-format CIs), test results
(testr_results.html and a subunit v2 stream) and service logs. A non-standard one holds only
a bare console log, or only a download-only tarball.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import random
import struct
import tarfile
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

Artifact = dict[str, Any]

TEMPEST_TESTS = (
    "ironic_tempest_plugin.tests.scenario.test_baremetal_basic_ops.BaremetalBasicOps.test_baremetal_server_ops",
    "ironic_tempest_plugin.tests.scenario.test_baremetal_boot_from_volume.BaremetalBFV.test_baremetal_boot_from_volume",
    "ironic_tempest_plugin.tests.scenario.ironic_standalone.test_basic_ops.BaremetalDriverWholeDisk.test_ip_access_to_server",
    "ironic_tempest_plugin.tests.scenario.ironic_standalone.test_basic_ops.BaremetalDriverPartition.test_ip_access_to_server",
    "ironic_tempest_plugin.tests.scenario.ironic_standalone.test_cleaning.BaremetalCleaningAgent.test_manual_cleaning",
    "ironic_tempest_plugin.tests.scenario.ironic_standalone.test_ramdisk_iso.BaremetalRamdiskISO.test_ramdisk_boot",
    "ironic_tempest_plugin.tests.api.admin.test_nodes.TestNodes.test_set_node_boot_device",
    "ironic_tempest_plugin.tests.api.admin.test_nodes.TestNodes.test_get_node_power_state",
)  # fmt: skip

# Subunit v2 status codes and packet flags (python-subunit's StreamResultToBytes).
_SUBUNIT_SIGNATURE = 0xB3
_SUBUNIT_VERSION = 0x2000
_FLAG_TEST_ID = 0x0800
_FLAG_TIMESTAMP = 0x0200
_STATUS_INPROGRESS, _STATUS_SUCCESS, _STATUS_FAIL = 2, 3, 6


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def _rng(artifact: Artifact, what: str) -> random.Random:
    digest = hashlib.sha256(f"{artifact['path']}:{what}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def test_outcomes(artifact: Artifact) -> list[tuple[str, bool, float]]:
    """(test id, passed, seconds) for each tempest test of the run; one fails on FAILURE."""
    rng = _rng(artifact, "tests")
    failing = rng.randrange(len(TEMPEST_TESTS)) if artifact["result"] == "FAILURE" else -1
    return [(t, i != failing, rng.uniform(20, 600)) for i, t in enumerate(TEMPEST_TESTS)]


def job_output(artifact: Artifact, web_url: str, timestamps: bool = True) -> str:
    """The console log: a trace of the commands run, each line with its UTC timestamp."""
    start, end = parse_time(artifact["started_at"]), parse_time(artifact["posted_at"])
    tested = artifact["revision"]
    fetched = (
        artifact["ref"]
        if tested == artifact["patch_set_revision"]
        else f"refs/heads/{artifact['branch']}"
    )
    outcomes = test_outcomes(artifact)
    passed = sum(ok for _, ok, _ in outcomes)
    lines = [
        f"Job {artifact['job']} of {artifact['ci_name']} starting (UTC times)",
        f"Triggered by: {web_url}/c/{artifact['project']}/+/{artifact['change']} "
        f"patchset {artifact['patch_set']}",
        f"Detailed logs: {web_url}/logs/{artifact['path']}/",
        f"Environment: Ubuntu 24.04 (noble), python 3.12, driver {artifact['driver']}",
        f"$ git fetch {web_url}/{artifact['project']} {fetched}",
        "$ git checkout FETCH_HEAD",
        f"HEAD is now at {tested[:7]}",
        f"$ export IRONIC_DEPLOY_DRIVER={artifact['driver']}",
        "$ ./stack.sh",
        "stack.sh completed",
        "$ tempest run --regex ironic_tempest_plugin.tests --concurrency 1",
        *(f"{'ok' if ok else 'FAIL'}: {test} [{secs:.1f}s]" for test, ok, secs in outcomes),
        f"Totals: Passed: {passed} Failed: {len(outcomes) - passed}",
        f"Job {artifact['job']} finished: {artifact['result']}",
    ]
    if not timestamps:
        return "\n".join(lines) + "\n"
    step = (end - start) / max(1, len(lines) - 1)
    return "".join(f"{_stamp(start + step * i)} | {line}\n" for i, line in enumerate(lines))


def manifest(artifact: Artifact, web_url: str) -> str:
    """driverci-manifest.json: what was tested, by whom, when (UTC)."""
    return json.dumps(
        {
            "ci": artifact["ci"],
            "project": artifact["project"],
            "branch": artifact["branch"],
            "change": artifact["change"],
            "patch_set": artifact["patch_set"],
            "ref": artifact["ref"],
            "revision": artifact["revision"],
            "driver": artifact["driver"],
            "job": artifact["job"],
            "result": artifact["result"],
            "start": artifact["started_at"],
            "end": artifact["posted_at"],
            "log_url": f"{web_url}/logs/{artifact['path']}/",
        },
        indent=2,
    )


def zuul_manifest(files: list[str]) -> str:
    """Zuul's zuul-manifest.json: the tree of files in the log directory."""
    tree: list[dict[str, Any]] = []
    for name in files:
        if "/" not in name:
            tree.append({"name": name, "mimetype": "text/plain", "encoding": None})
    return json.dumps({"index_links": False, "tree": tree})


def testr_results(artifact: Artifact) -> str:
    rows = "".join(
        f'<tr class="{"pass" if ok else "fail"}"><td>{html.escape(t)}</td>'
        f"<td>{'ok' if ok else 'FAIL'}</td><td>{secs:.1f}</td></tr>\n"
        for t, ok, secs in test_outcomes(artifact)
    )
    return (
        "<!DOCTYPE html>\n<html><head><title>Test results</title></head><body>\n"
        f"<h1>Test results: {html.escape(artifact['job'])}</h1>\n"
        f"<p>Start time: {artifact['started_at']}</p>\n<table>\n"
        f"<tr><th>Test</th><th>Status</th><th>Seconds</th></tr>\n{rows}</table>\n</body></html>\n"
    )


def _subunit_number(value: int) -> bytes:
    if value < 2**6:
        return struct.pack(">B", value)
    if value < 2**14:
        return struct.pack(">H", value | 0x4000)
    if value < 2**22:
        return struct.pack(">I", value | 0x800000)[1:]
    return struct.pack(">I", value | 0xC0000000)


def _subunit_packet(test_id: str, status: int, at: datetime) -> bytes:
    seconds = int(at.timestamp())
    content = struct.pack(">I", seconds) + _subunit_number(at.microsecond * 1000)
    encoded = test_id.encode()
    content += _subunit_number(len(encoded)) + encoded
    flags = _SUBUNIT_VERSION | _FLAG_TEST_ID | _FLAG_TIMESTAMP | status
    base = 1 + 2 + len(content) + 4
    length = base + 1
    while len(_subunit_number(length)) != length - base:
        length += 1
    packet = struct.pack(">BH", _SUBUNIT_SIGNATURE, flags) + _subunit_number(length) + content
    return packet + struct.pack(">I", zlib.crc32(packet) & 0xFFFFFFFF)


def subunit(artifact: Artifact) -> bytes:
    """A subunit v2 stream with one inprogress and one final packet per test."""
    at = parse_time(artifact["started_at"])
    out = []
    for test, ok, secs in test_outcomes(artifact):
        out.append(_subunit_packet(test, _STATUS_INPROGRESS, at))
        at += timedelta(seconds=secs)
        out.append(_subunit_packet(test, _STATUS_SUCCESS if ok else _STATUS_FAIL, at))
    return b"".join(out)


def service_log(artifact: Artifact, service: str) -> str:
    start = parse_time(artifact["started_at"])
    return (
        f"{_stamp(start)} INFO {service} [-] Starting {service} (driver {artifact['driver']})\n"
        f"{_stamp(start + timedelta(minutes=3))} INFO {service} [-] Node enrolled\n"
    )


def tarball(artifact: Artifact, web_url: str) -> bytes:
    """logs.tar.gz: everything packed, for download only (not browsable)."""
    mtime = int(parse_time(artifact["posted_at"]).timestamp())
    raw = io.BytesIO()
    data = job_output(artifact, web_url).encode()
    info = tarfile.TarInfo("logs/job-output.txt")
    info.size, info.mtime = len(data), mtime
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=mtime) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


# file name -> (content type, generator)
Generator = Callable[[Artifact, str], bytes]


def files_of(artifact: Artifact) -> dict[str, tuple[str, Generator]]:
    """The files an artifact directory serves, by relative path."""
    text = "text/plain; charset=utf-8"
    if artifact.get("archive_only"):
        return {"logs.tar.gz": ("application/gzip", tarball)}
    if not artifact.get("standard"):
        return {"console.txt": (text, lambda a, w: job_output(a, w, timestamps=False).encode())}
    files: dict[str, tuple[str, Generator]] = {
        "job-output.txt": (text, lambda a, w: job_output(a, w).encode()),
        "driverci-manifest.json": ("application/json", lambda a, w: manifest(a, w).encode()),
        "testr_results.html": ("text/html; charset=utf-8", lambda a, w: testr_results(a).encode()),
        "testrepository.subunit": ("application/octet-stream", lambda a, w: subunit(a)),
        "logs/ironic-conductor.txt": (
            text,
            lambda a, w: service_log(a, "ironic-conductor").encode(),
        ),
        "logs/ironic-api.txt": (text, lambda a, w: service_log(a, "ironic-api").encode()),
        "logs/tempest.conf.txt": (text, lambda a, w: b"[service_available]\nironic = True\n"),
    }
    if artifact.get("format") == "zuul":
        names = sorted(files)
        files["zuul-manifest.json"] = (
            "application/json",
            lambda a, w: zuul_manifest(names).encode(),
        )
    return files
