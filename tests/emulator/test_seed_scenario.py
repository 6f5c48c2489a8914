"""Scenario files: good ones load, broken ones say which file and line is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from driverci.emulator.seed.scenario import load_scenario
from driverci.errors import ConfigError

GOOD = """\
start: 2026-01-05T00:00:00Z
days: 10
seed: 1
branches: {master: 0.9, stable/2025.2: 0.1}
cis:
  - account: acme-ci
    name: Acme CI
    started: 2025-10-01
    report_rate: 0.9
    format: zuul
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_a_good_scenario_loads_with_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.project == "openstack/ironic"
    assert scenario.cis[0].started.isoformat() == "2025-10-01T00:00:00+00:00"
    assert scenario.cis[0].job_names == ["acme-tempest-ipmi"]
    assert scenario.end.isoformat() == "2026-01-15T00:00:00+00:00"


@pytest.mark.parametrize(
    ("broken", "line", "words"),
    [
        (GOOD.replace("2025-10-01", "2025-13-01"), 8, "invalid date"),
        (GOOD.replace("report_rate: 0.9", "report_rate: -0.5"), 9, "greater than or equal to 0"),
        (GOOD.replace("format: zuul", "format: jenkins"), 10, "'zuul' or 'infra'"),
        (GOOD.replace("days: 10", "days: ten"), 2, "valid integer"),
        (GOOD + "    colour: blue\n", 11, "Extra inputs are not permitted"),
        (GOOD.replace("seed: 1", "seed: [1"), None, "invalid YAML"),
    ],
)
def test_a_broken_scenario_names_file_and_line(
    tmp_path: Path, broken: str, line: int | None, words: str
) -> None:
    path = write(tmp_path, broken)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    if line is not None:
        assert message.startswith(f"{path}:{line}:"), message
    assert words in message
    assert "\n" not in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")
