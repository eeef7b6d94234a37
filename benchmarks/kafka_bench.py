"""Kafka benchmarks, against a real broker started here (or ``KAFKA_BOOTSTRAP_SERVERS``).

* **Sink throughput vs raw confluent-kafka**: the same records, to the same broker, in the same
  run. The raw producer gets the messages pre-serialized (value, key, headers) and produces
  them with the sink's settings (idempotent, ``acks=all``, ``linger.ms=5``) and a delivery
  callback, as a careful hand-written producer would; the sink gets the simulation's Arrow
  batches and does its own serialization. Both are timed from the first produce to the last
  acknowledgement; they alternate over several rounds and the best round of each counts.
* **Live end-to-end latency**: a paced run (``speed=60``, the ``ats-sim live`` pacing) into the
  sink while a consumer records when each message arrives; latency = receipt wall time minus
  the wall time the record's simulated timestamp was due. p50 and p99.
* **Ingest rows/s into DuckDB**: ``sinks.ingest`` consuming the topics written above into a
  fresh DuckDB file (raw, typed and bookkeeping tables, one transaction per batch).

``python -m benchmarks.kafka_bench [--quick]`` runs it alone; ``python -m benchmarks.run`` runs
it with the others.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

Row = tuple[str, float, str, float | None, str, bool | None]

__all__ = ["rows"]


@contextlib.contextmanager
def _broker() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from ats_sim_testing.kafka_broker import KafkaBroker, java_available

    reason = java_available()
    if reason:
        raise RuntimeError(f"cannot start a Kafka broker: {reason}")
    with (
        tempfile.TemporaryDirectory(prefix="kafka-bench.") as tmp,
        KafkaBroker(Path(tmp)) as broker,
    ):
        yield broker.bootstrap_servers


def _messages(batches: list, topics: dict[str, str]) -> list[tuple[str, bytes, str | None, list]]:
    from ats_sim.records import json_lines
    from sinks.raw import record_keys

    out = []
    for b in batches:
        headers = [("record_type", b.type.name.encode()), ("schema_version", b"1")]
        keys = record_keys(b).to_pylist()
        out.extend(
            (topics[b.type.name], v, k, headers) for v, k in zip(json_lines(b), keys, strict=True)
        )
    return out


def _raw_produce(bootstrap: str, msgs: list) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) from the first produce to the last ack."""
    from confluent_kafka import Producer

    from sinks.kafka import librdkafka_logger

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
            "logger": librdkafka_logger(),
        }
    )
    errors: list = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)

    producer.list_topics(timeout=10)  # connected before the clock starts, as the sink is
    produce = producer.produce
    started, cpu = time.perf_counter(), time.process_time()
    for topic, value, key, headers in msgs:
        while True:
            try:
                produce(topic, value, key, on_delivery=on_delivery, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)
    remaining = producer.flush(120)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if remaining or errors:
        raise RuntimeError(f"raw producer: {remaining} unacknowledged, {len(errors)} failed")
    return elapsed, cpu


def _raw_from_batches(bootstrap: str, batches: list, prefix: str) -> tuple[float, float]:
    """A hand-written producer that starts from Arrow batches too: records.json_lines, then produce."""
    from confluent_kafka import Producer

    from ats_sim.records import json_lines
    from sinks.kafka import librdkafka_logger, topics_for
    from sinks.raw import record_keys

    topics = topics_for(prefix + "telemetry")
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
            "logger": librdkafka_logger(),
        }
    )
    errors: list = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)

    producer.list_topics(timeout=10)
    started, cpu = time.perf_counter(), time.process_time()
    for b in batches:
        topic = topics[b.type.name]
        headers = [("record_type", b.type.name.encode()), ("schema_version", b"1")]
        for value, key in zip(json_lines(b), record_keys(b).to_pylist(), strict=True):
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=on_delivery, headers=headers)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if remaining or errors:
        raise RuntimeError(f"raw producer: {remaining} unacknowledged, {len(errors)} failed")
    return elapsed, cpu


def _sink_produce(bootstrap: str, batches: list, prefix: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) from the first write to the last ack."""
    from sinks import open_sink

    sink = open_sink(f"kafka://{bootstrap}/{prefix}telemetry")
    started, cpu = time.perf_counter(), time.process_time()
    for b in batches:
        sink.write_batch(b)
    sink.flush()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    sink.close()
    return elapsed, cpu


def _throughput(bootstrap: str, batches: list, rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` rates (records/s) and CPU per record (us) of the sink and the raw producer."""
    from sinks.kafka import topics_for

    n = sum(b.num_rows for b in batches)
    sink, raw, hand = [], [], []
    for _ in range(rounds):  # alternating, so that a busy moment of the machine hits all three
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        msgs = _messages(batches, topics_for(prefix + "telemetry"))
        raw.append(_raw_produce(bootstrap, msgs))
        sink.append(_sink_produce(bootstrap, batches, f"bench_{uuid.uuid4().hex[:8]}_"))
        hand.append(_raw_from_batches(bootstrap, batches, f"bench_{uuid.uuid4().hex[:8]}_"))
    return {
        "n": n,
        "sink_rate": n / min(w for w, _ in sink),
        "raw_rate": n / min(w for w, _ in raw),
        "hand_rate": n / min(w for w, _ in hand),
        "sink_cpu_us": min(c for _, c in sink) / n * 1e6,
        "raw_cpu_us": min(c for _, c in raw) / n * 1e6,
    }


def _latency(bootstrap: str, sim_minutes: float) -> tuple[list[float], list[float], int]:
    """Latencies (s) of a run paced at 60x, measured by a consumer of the telemetry topic.

    Returns (simulated emission -> receipt, write_batch -> receipt, records written).
    """
    from confluent_kafka import Consumer

    from ats_sim.clock import Pacer
    from ats_sim.simulation import Simulation
    from sinks import open_sink

    prefix = f"live_{uuid.uuid4().hex[:8]}_"
    sink = open_sink(f"kafka://{bootstrap}/{prefix}telemetry?create_topics=true&partitions=3")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": prefix,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([prefix + "telemetry"])
    received: list[tuple[float, bytes]] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for m in consumer.consume(500, 0.05):
                if m.error() is None:
                    received.append((time.monotonic(), m.value()))

    # Warm the consumer up (group join) before the clock starts.
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    time.sleep(3)
    speed = 60.0
    sim = Simulation("weekday", until=f"{150 + sim_minutes}m", telemetry_interval_s=5)
    origin = sim.start_s + 150 * 60  # 08:00, the morning peak
    window = Pacer(speed, origin).window_for()
    windows = sim.windows(origin + k * window for k in range(10**6))
    next(windows)  # the silent warm-up from the start of service to 08:00
    pacer = Pacer(speed, sim.now_s)
    count = 0
    written: dict[str, float] = {}
    for window_batches in windows:  # as `ats-sim live` drives the sink: write, never wait
        pacer.wait_until(sim.now_s)
        for b in window_batches:
            if b.type.name == "telemetry":
                sink.write_batch(b)
                now = time.monotonic()
                written.update(dict.fromkeys(b.data.column(0).to_pylist(), now))
                count += b.num_rows
    sink.close()
    deadline = time.monotonic() + 30
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join()
    consumer.close()
    epoch_ms = sim.spec.epoch_ms
    lat, transport = [], []
    for wall, value in received:
        record = orjson.loads(value)
        sim_s = (
            int(np.datetime64(record["timestamp"].rstrip("Z"), "ms").astype(np.int64)) - epoch_ms
        ) / 1000
        due = pacer.origin_wall + (sim_s - pacer.origin_sim_s) / speed
        lat.append(wall - due)
        transport.append(wall - written[record["record_id"]])
    return lat, transport, count


def _ingest(bootstrap: str, topics: list[str], expected: int) -> tuple[float, int]:
    from sinks.ingest import DuckDBWarehouse, Ingester

    with tempfile.TemporaryDirectory(prefix="ingest-bench.") as tmp:
        warehouse = DuckDBWarehouse(Path(tmp) / "ats.duckdb")
        ingester = Ingester(
            bootstrap,
            topics,
            warehouse,
            group_id=f"bench-{uuid.uuid4().hex[:8]}",
            batch_records=20_000,
            batch_seconds=2.0,
            idle_exit_s=3.0,
        )
        stats = ingester.run()
        # from the first message to the last commit: not the group join before, nor the idle wait after
        assert stats.first_message_at is not None and stats.last_commit_at is not None
        elapsed = stats.last_commit_at - stats.first_message_at
        if stats.messages != expected:
            raise RuntimeError(f"ingest read {stats.messages} messages, expected {expected}")
        return stats.messages / elapsed, stats.messages


def rows(quick: bool = False) -> list[Row]:
    """Start a broker, measure, return the table rows."""
    import ats_sim
    from sinks.kafka import topics_for

    result = ats_sim.run("weekday", until="2h" if quick else "4h", seed=3, telemetry_interval_s=5)
    batches = result.batches()
    out: list[Row] = []
    with _broker() as bootstrap:
        t = _throughput(bootstrap, batches, rounds=2 if quick else 4)
        n = int(t["n"])
        ratio = t["sink_rate"] / t["raw_rate"]
        out += [
            (
                f"Kafka sink throughput ({n:,} records, acks=all)",
                t["sink_rate"],
                "records/s",
                None,
                "",
                None,
            ),
            (
                "  raw confluent-kafka, same messages pre-serialized",
                t["raw_rate"],
                "msgs/s",
                None,
                "",
                None,
            ),
            ("  Kafka sink vs raw producer", ratio, "ratio", ratio, ">= 0.8x", ratio >= 0.8),
            (
                "  hand-written producer from the same Arrow batches (records.json_lines)",
                t["hand_rate"],
                "records/s",
                t["sink_rate"] / t["hand_rate"],
                "",
                None,
            ),
            (
                "  CPU per record in this process, sink (serializes JSON)",
                t["sink_cpu_us"],
                "us",
                None,
                f"raw {t['raw_cpu_us']:.1f} us",
                None,
            ),
        ]
        lat, transport, count = _latency(bootstrap, 2 if quick else 4)
        if len(lat) != count:
            raise RuntimeError(f"live run: {len(lat)} of {count} records reached the consumer")
        q = statistics.quantiles(lat, n=100)
        tq = statistics.quantiles(transport, n=100)
        out += [
            (
                f"live latency p50, simulated emission -> consumer ({count:,} records, speed 60)",
                q[49] * 1000,
                "ms",
                None,
                "",
                None,
            ),
            (
                "live latency p99, simulated emission -> consumer",
                q[98] * 1000,
                "ms",
                None,
                "",
                None,
            ),
            (
                "  of which write_batch -> consumer, p50",
                tq[49] * 1000,
                "ms",
                None,
                f"p99 {tq[98] * 1000:.0f} ms",
                None,
            ),
        ]
        prefix = f"ingest_{uuid.uuid4().hex[:8]}_"
        _sink_produce(bootstrap, batches, prefix)
        rate, m = _ingest(bootstrap, sorted(set(topics_for(prefix + "telemetry").values())), n)
        out.append(
            (
                f"ingest Kafka -> DuckDB ({m:,} messages, 20,000 per batch)",
                rate,
                "rows/s",
                None,
                "",
                None,
            )
        )
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.run import print_rows

    print_rows(rows(quick="--quick" in sys.argv), title="Kafka benchmarks")
