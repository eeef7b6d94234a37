"""`ats-sim live --speed 60 --until 2m` into Kafka: records arrive as simulated time passes, 60x.

The CLI runs as a subprocess; a consumer in the test notes when each telemetry message arrives.
Live mode starts the simulated clock at the wall clock, so the test gives the weekday scenario a
time zone in which it is about 07:30 right now (the morning service, whatever the hour of the
test), then checks that receipt times follow simulated times with slope 1/60, that two simulated
minutes were covered in about two seconds, and that no record arrives far from when it was due.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_helpers import cli

import ats_sim

pytestmark = pytest.mark.kafka

SPEED = 60.0


def scenario_at_morning_now(tmp_path: Path) -> Path:
    """The weekday scenario in the fixed-offset zone where the local time now is about 07:30."""
    now = dt.datetime.now(dt.UTC)
    offset = round(7.5 - (now.hour + now.minute / 60))
    offset = (offset + 12) % 24 - 12  # -12 .. 11 hours: Etc/GMT+12 .. Etc/GMT-11
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-3 is UTC+3
    text = (Path(ats_sim.__file__).parent / "scenarios" / "weekday.toml").read_text()
    text, n = re.subn(r'(?m)^timezone = ".*"$', f'timezone = "{zone}"', text)
    assert n == 1
    path = tmp_path / "weekday-now.toml"
    path.write_text(text)
    return path


class TopicClock:
    """Notes the wall-clock time (``time.time()``) at which each message of a topic arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.received: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic, "enable.auto.commit": False}
        )
        self._consumer.assign([TopicPartition(topic, 0, 0)])
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for m in self._consumer.consume(500, 0.02):
                if m.error() is None:
                    self.received.append((time.time(), m.value()))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Wait for every message written so far; return (receipt wall times, simulated times) in s."""
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.topic + "probe"})
        _, high = probe.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10)
        probe.close()
        deadline = time.monotonic() + 20
        while len(self.received) < high and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join()
        self._consumer.close()
        assert len(self.received) == high
        wall = np.array([r for r, _ in self.received])
        sim = np.array(
            [
                np.datetime64(orjson.loads(v)["timestamp"].rstrip("Z"), "ms").astype(np.int64)
                / 1000
                for _, v in self.received
            ]
        )
        return wall, sim


def make_topics(bootstrap: str, prefix: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = (prefix + "telemetry", prefix + "station_events", prefix + "alerts")
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in names]).values():
        f.result(timeout=30)
    return names[0]


def assert_paced(wall: np.ndarray, sim: np.ndarray, span_s: float) -> None:
    """Receipts follow simulated time at 1/SPEED, with every record near its due time."""
    assert len(wall) > 100
    assert sim.max() - sim.min() >= span_s - 10, (
        f"only {sim.max() - sim.min():.0f} simulated seconds were played"
    )
    slope, intercept = np.polyfit(sim - sim.min(), wall, 1)
    assert slope == pytest.approx(1 / SPEED, rel=0.15), (
        f"played at {1 / slope:.0f}x instead of {SPEED:.0f}x"
    )
    residual = wall - (intercept + (sim - sim.min()) / SPEED)
    # windows of 0.25 s wall time are written at their end: lateness up to a quarter second
    assert np.abs(residual).max() < 0.75, (
        f"a record arrived {np.abs(residual).max():.2f} s off schedule"
    )


def test_paced_run_reaches_a_consumer_on_schedule(bootstrap: str, prefix: str) -> None:
    """The pacing API at 60x into the Kafka sink: two simulated minutes arrive over two seconds."""
    from ats_sim.clock import Pacer
    from ats_sim.simulation import Simulation
    from sinks import open_sink

    topic = make_topics(bootstrap, prefix)
    clock = TopicClock(bootstrap, topic)
    sink = open_sink(f"kafka://{bootstrap}/{topic}")
    sim = Simulation("weekday", until="152m", seed=3, telemetry_interval_s=5)
    origin = sim.start_s + 150 * 60  # 08:00, the morning peak
    window = Pacer(SPEED, origin).window_for()
    windows = sim.windows(origin + k * window for k in range(10**6))
    next(windows)  # the silent warm-up from the start of service to 08:00
    pacer = Pacer(SPEED, sim.now_s)
    for batches in windows:
        pacer.wait_until(sim.now_s)
        for b in batches:
            if b.type.name == "telemetry":
                sink.write_batch(b)
        sink.flush()
    sink.close()
    wall, sim_s = clock.finish()
    assert_paced(wall, sim_s, span_s=120)


def test_live_cli_follows_the_requested_speed(bootstrap: str, prefix: str, tmp_path: Path) -> None:
    """`ats-sim live --speed 60 --until 2m`: aligned to now, two simulated minutes in about two seconds."""
    topic = make_topics(bootstrap, prefix)
    clock = TopicClock(bootstrap, topic)
    launched = time.time()
    res = cli(
        "live",
        str(scenario_at_morning_now(tmp_path)),
        "--sink",
        f"kafka://{bootstrap}/{topic}",
        "--speed",
        str(int(SPEED)),
        "--until",
        "2m",
        "--telemetry-interval",
        "5",
        "-q",
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    wall, sim = clock.finish()
    assert len(sim) > 100, f"only {len(sim)} telemetry records for two minutes of about 38 trains"
    # aligned to the wall clock: the first simulated instant is "now" (start-up takes a few seconds)
    assert launched - 1 <= sim.min() <= launched + 20
    assert_paced(wall, sim, span_s=120)
