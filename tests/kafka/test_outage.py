"""A broker that goes away for more than ten seconds in the middle of a run loses nothing.

The run is paced (so it is still producing when the broker stops), the producer's queue is kept
small (so the outage fills it and the simulation has to wait: the BufferError path), and the
broker comes back on the same data dir and ports. Every record must then be in Kafka exactly
once: none lost, none duplicated by the producer's retries (idempotence).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from kafka_helpers import read_topics, unique_prefix

from ats_sim.clock import Pacer
from ats_sim.records import json_lines
from ats_sim.simulation import Simulation
from ats_sim_testing.kafka_broker import KafkaBroker
from sinks import open_sink
from sinks.kafka import topics_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

OUTAGE_S = 10.5


def test_broker_stopped_mid_run_and_restarted_loses_and_duplicates_nothing(
    own_kafka_broker: KafkaBroker,
) -> None:
    """Stop the broker for > 10 s while a paced run produces, restart it: exactly-once content."""
    broker = own_kafka_broker
    prefix = unique_prefix()
    sink = open_sink(
        f"kafka://{broker.bootstrap_servers}/{prefix}telemetry?create_topics=true&partitions=3"
        "&queue.buffering.max.messages=500&message.timeout.ms=180000"
    )
    sim = Simulation("weekday", until="75m", seed=5, telemetry_interval_s=10)
    pacer = Pacer(300.0, sim.start_s)  # 75 simulated minutes in 15 s of wall time
    sim.window_s = pacer.window_for()
    expected: Counter[bytes] = Counter()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            for window in sim.windows():
                pacer.wait_until(sim.now_s)
                for batch in window:
                    expected.update(json_lines(batch))
                    sink.write_batch(batch)
            sink.flush()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    writer = threading.Thread(target=run)
    writer.start()
    deadline = time.monotonic() + 30
    while sink.stats.records < 500 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sink.stats.records >= 500, "nothing was acknowledged before the outage"

    broker.stop()
    stopped = time.monotonic()
    acked_at_stop = sink.stats.records
    time.sleep(OUTAGE_S)
    assert writer.is_alive(), "the run should still be going (held up by the full producer queue)"
    broker.start()
    restarted = time.monotonic()
    writer.join(timeout=180)
    assert not writer.is_alive(), "the run did not finish after the broker came back"
    assert not failure, failure
    sink.close()

    assert restarted - stopped >= 10
    assert acked_at_stop < sum(expected.values())
    got = read_topics(broker.bootstrap_servers, list(topics_for(prefix + "telemetry").values()))
    values = Counter(m.value for m in got)
    assert sum(values.values()) == sum(expected.values()), "lost or duplicated records"
    assert values == expected
    assert sink.stats.records == sum(expected.values())
