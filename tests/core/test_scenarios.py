"""Scenarios: the built-ins validate, and every kind of bad input gives one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ats_sim.errors import ConfigError, ScenarioError
from ats_sim.scenario import builtin_scenarios, load_network, load_scenario
from ats_sim.simulation import Simulation, parse_duration


def test_the_builtin_scenarios_are_the_five_promised() -> None:
    assert set(builtin_scenarios()) == {
        "weekday",
        "weekend",
        "disruption",
        "heatwave",
        "event-surge",
    }


@pytest.mark.parametrize("name", ["weekday", "weekend", "disruption", "heatwave", "event-surge"])
def test_every_builtin_scenario_loads(name: str) -> None:
    assert load_scenario(name).name == name


def test_the_reference_network_has_two_lines_of_realistic_spacing() -> None:
    net = load_network("reference")
    assert len(net.lines) >= 2
    assert net.n_stations >= 30
    for line in net.lines:
        gaps = [b - a for a, b in zip(line.chainages, line.chainages[1:], strict=False)]
        assert min(gaps) >= 600 and max(gaps) <= 2500


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('name = "x"\nseeed = 3\n', "unknown field 'seeed'"),
        ('name = "x"\n[operations]\nservice_start = "25:99"\n', "operations.service_start"),
        ('name = "x"\ntelemetry_interval_s = 0.1\n', "telemetry_interval_s"),
        (
            'name = "x"\n[alerts]\noverctowding_load_factor = 1.2\n',
            "unknown field 'alerts.overctowding_load_factor'",
        ),
        (
            'name = "x"\n[[disruptions]]\ntype = "hold"\nstation = "Z99"\nat = "08:00"\nminutes = 3\n',
            "no station 'Z99'",
        ),
        ('name = "x"\n[[disruptions]]\ntype = "meteor"\n', "disruptions[0]"),
        ('name = "x"\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
        ('name = "x"\n[weather]\nmin_temp_c = 30\nmax_temp_c = 20\n', "max_temp_c"),
        ('name = "x"\nnetwork = "missing.toml"\n', "missing.toml: no such file"),
        ("name = \n", "not valid TOML"),
    ],
)
def test_a_bad_scenario_file_names_the_file_and_the_field(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message
    if "missing.toml" not in expected:
        assert str(path) in message


def test_an_unknown_scenario_name_lists_the_builtins() -> None:
    with pytest.raises(ScenarioError, match=r"built-in scenarios are .*weekday"):
        load_scenario("weekdya")


def test_scenarios_can_be_changed_in_code_with_validation() -> None:
    sc = load_scenario("weekday").with_changes(telemetry_interval_s=5)
    assert sc.telemetry_interval_s == 5
    with pytest.raises(ScenarioError, match="telemetry_interval_s"):
        load_scenario("weekday").with_changes(telemetry_interval_s=-1)


@pytest.mark.parametrize("text", ["3x", "", "h", "-2h", "0m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_durations_are_measured_from_the_start_of_service() -> None:
    sim = Simulation("weekday", until="1h30m")
    assert sim.spec.until_s == sim.start_s + 5400


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ats_sim.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_the_cli_reports_a_bad_scenario_in_one_line_with_exit_status_2(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\nseeed = 3\n')
    proc = run_cli("run", str(path), "--sink", "memory://", "--quiet")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "seeed" in lines[0] and str(path) in lines[0]


def test_the_cli_lists_and_shows_scenarios() -> None:
    listing = run_cli("scenarios", "list")
    assert listing.returncode == 0 and "event-surge" in listing.stdout
    shown = run_cli("scenarios", "show", "disruption")
    assert shown.returncode == 0 and "R08" in shown.stdout
