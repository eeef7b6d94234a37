"""Same scenario and seed, same bytes: across runs, across worker counts, across window sizes."""

from __future__ import annotations

import hashlib

import ats_sim
from ats_sim.records import json_lines
from ats_sim.simulation import Simulation


def digest(sim: Simulation) -> tuple[str, int]:
    """A hash of each record type's stream of canonical JSON lines, and the record count."""
    hashes: dict[str, hashlib._Hash] = {}
    n = 0
    for window in sim.windows():
        for batch in window:
            h = hashes.setdefault(batch.type.name, hashlib.sha256())
            for line in json_lines(batch):
                h.update(line + b"\n")
                n += 1
    return "|".join(f"{k}:{hashes[k].hexdigest()}" for k in sorted(hashes)), n


def test_the_same_scenario_and_seed_give_byte_identical_records() -> None:
    a = digest(Simulation("disruption", until="3h", seed=21, telemetry_interval_s=15))
    b = digest(Simulation("disruption", until="3h", seed=21, telemetry_interval_s=15))
    assert a == b
    assert a[1] > 10_000


def test_a_different_seed_gives_different_records() -> None:
    a = digest(Simulation("weekday", until="2h", seed=1, telemetry_interval_s=30))
    b = digest(Simulation("weekday", until="2h", seed=2, telemetry_interval_s=30))
    assert a[0] != b[0]


def test_two_workers_give_the_same_records_as_one() -> None:
    one = digest(Simulation("event-surge", until="2h", seed=4, telemetry_interval_s=20, workers=1))
    two = digest(Simulation("event-surge", until="2h", seed=4, telemetry_interval_s=20, workers=2))
    assert one == two


def test_window_size_does_not_change_the_records() -> None:
    """Records do not depend on how the run is chunked (replay vs paced live windows)."""
    big = digest(Simulation("weekday", until="90m", seed=8, telemetry_interval_s=10, window_s=900))
    small = digest(
        Simulation("weekday", until="90m", seed=8, telemetry_interval_s=10, window_s=7.5)
    )
    assert big == small


def test_records_are_identical_through_the_library_api() -> None:
    res = ats_sim.run("weekday", until="1h", seed=3, telemetry_interval_s=30)
    per_type: dict[str, list[bytes]] = {}
    for b in res.batches():
        per_type.setdefault(b.type.name, []).extend(json_lines(b))
    direct: dict[str, list[bytes]] = {}
    for window in Simulation("weekday", until="1h", seed=3, telemetry_interval_s=30).windows():
        for b in window:
            direct.setdefault(b.type.name, []).extend(json_lines(b))
    assert per_type == direct
    assert len(per_type["telemetry"]) > 1000


def test_a_run_with_workers_prints_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Worker processes are an implementation detail: no warning or other output reaches the
    user's terminal (``python -m ats_sim._worker`` must not find itself imported already)."""
    import subprocess
    import sys

    code = "import ats_sim; r = ats_sim.run('weekday', until='30m', workers=2); print(len(r.telemetry))"
    out = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert out.stderr == ""
    assert int(out.stdout) > 0
