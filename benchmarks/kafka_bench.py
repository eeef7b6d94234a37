"""Kafka benchmarks, against a real broker started here (or ``KAFKA_BOOTSTRAP_SERVERS``).

* **Sink throughput vs raw confluent-kafka**: the same records, to the same broker, in the same
  run. The raw producer gets the messages pre-serialized (value bytes, key bytes, headers made
  once per record type) and produces them exactly as the sink does: a producer built from the
  very configuration the sink builds from its URL (``client_config`` with the sink's defaults:
  idempotent, ``acks=all``, ``linger.ms=5``, failures-only delivery reports), the same
  producer-level delivery callback, and the same ``produce(topic, value, key, headers=...)``
  call; it polls only when the queue is full. The sink gets the simulation's Arrow batches and
  does its own serialization. Both are timed from the first produce to the last
  acknowledgement; they alternate over several rounds and the best round of each counts.
* **Live end-to-end latency**: a paced run (``speed=60``, the ``ats-sim live`` pacing) into the
  sink while a consumer records when each message arrives; latency = receipt wall time minus
  the wall time the record's simulated timestamp was due. p50 and p99.
* **Ingest rows/s into DuckDB**: ``sinks.ingest`` consuming the topics written above into a
  fresh DuckDB file (raw, typed and bookkeeping tables, one transaction per batch).

``python -m benchmarks.kafka_bench [--quick] [--only throughput,latency,ingest] [--rounds N]``
runs it alone (``--help`` says more); ``python -m benchmarks.run`` runs it with the others.
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


#: topic, value, key, headers: what one ``produce`` call takes.
Message = tuple[str, bytes, bytes | None, list[tuple[str, str | bytes | None]]]


def _messages(batches: list, topics: dict[str, str]) -> list[Message]:
    """The sink's messages, pre-serialized: topic, value, key and headers (one list per type)."""
    import pyarrow as pa

    from ats_sim.records import json_lines
    from sinks.raw import record_keys

    out: list[Message] = []
    headers: dict[str, list[tuple[str, str | bytes | None]]] = {
        name: [("record_type", name.encode()), ("schema_version", b"1")] for name in topics
    }
    for b in batches:
        keys = record_keys(b).cast(pa.binary()).to_pylist()
        topic, h = topics[b.type.name], headers[b.type.name]
        out.extend((topic, v, k, h) for v, k in zip(json_lines(b), keys, strict=True))
    return out


def _sink_config(bootstrap: str) -> dict:
    """The producer configuration the sink builds from ``kafka://bootstrap/...``, defaults included."""
    from sinks import parse_sink_url
    from sinks.kafka import PRODUCER_DEFAULTS, SINK_OPTIONS, client_config

    conf, _ = client_config(
        parse_sink_url(f"kafka://{bootstrap}/t"), {}, SINK_OPTIONS, PRODUCER_DEFAULTS
    )
    return conf


def _raw_produce(bootstrap: str, msgs: list[Message]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) from the first produce to the last ack."""
    from confluent_kafka import Producer

    from sinks.kafka import librdkafka_logger

    errors: list = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer(
        {
            **_sink_config(bootstrap),
            "on_delivery": on_delivery,
            "error_cb": errors.append,
            "logger": librdkafka_logger(),
        }
    )
    producer.list_topics(timeout=10)  # connected before the clock starts, as the sink is
    produce = producer.produce
    started, cpu = time.perf_counter(), time.process_time()
    for topic, value, key, headers in msgs:
        try:
            produce(topic, value, key, headers=headers)
        except BufferError:
            while True:
                producer.poll(0.05)
                try:
                    produce(topic, value, key, headers=headers)
                    break
                except BufferError:
                    continue
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


def _encode_cpu(batches: list, rounds: int) -> float:
    """CPU microseconds per record of ``records.json_lines`` alone (best of ``rounds``)."""
    from ats_sim.records import json_lines

    n = sum(b.num_rows for b in batches)
    best = float("inf")
    for _ in range(rounds):
        cpu = time.process_time()
        for b in batches:
            json_lines(b)
        best = min(best, time.process_time() - cpu)
    return best / n * 1e6


def _throughput(bootstrap: str, batches: list, rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` rates (records/s) and CPU per record (us) of the sink and the raw producer."""
    from sinks.kafka import topics_for

    n = sum(b.num_rows for b in batches)
    sink, raw, ratios = [], [], []
    for _ in range(rounds):  # alternating, so that a busy moment of the machine hits both
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        raw.append(_raw_produce(bootstrap, _messages(batches, topics_for(prefix + "telemetry"))))
        sink.append(_sink_produce(bootstrap, batches, f"bench_{uuid.uuid4().hex[:8]}_"))
        ratios.append(raw[-1][0] / sink[-1][0])
    return {
        "n": n,
        "sink_rate": n / min(w for w, _ in sink),
        "raw_rate": n / min(w for w, _ in raw),
        "median_ratio": statistics.median(ratios),
        "sink_cpu_us": min(c for _, c in sink) / n * 1e6,
        "raw_cpu_us": min(c for _, c in raw) / n * 1e6,
        "encode_cpu_us": _encode_cpu(batches, rounds),
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


PARTS = ("throughput", "latency", "ingest")


def rows(
    quick: bool = False, only: tuple[str, ...] = PARTS, rounds: int | None = None
) -> list[Row]:
    """Start a broker, measure ``only`` those parts, return the table rows."""
    import ats_sim
    from sinks.kafka import topics_for

    result = ats_sim.run("weekday", until="2h" if quick else "4h", seed=3, telemetry_interval_s=5)
    batches = result.batches()
    n = sum(b.num_rows for b in batches)
    out: list[Row] = []
    with _broker() as bootstrap:
        if "throughput" in only:
            out += _throughput_rows(bootstrap, batches, rounds or (2 if quick else 4))
        if "latency" in only:
            out += _latency_rows(bootstrap, 2 if quick else 4)
        if "ingest" in only:
            prefix = f"ingest_{uuid.uuid4().hex[:8]}_"
            _sink_produce(bootstrap, batches, prefix)
            topics = sorted(set(topics_for(prefix + "telemetry").values()))
            rate, m = _ingest(bootstrap, topics, n)
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


def _throughput_rows(bootstrap: str, batches: list, rounds: int) -> list[Row]:
    t = _throughput(bootstrap, batches, rounds)
    n = int(t["n"])
    ratio = t["sink_rate"] / t["raw_rate"]
    return [
        (
            f"Kafka sink throughput ({n:,} records, acks=all, best of {rounds})",
            t["sink_rate"],
            "records/s",
            None,
            "",
            None,
        ),
        (
            "  raw confluent-kafka, same messages pre-serialized, same config",
            t["raw_rate"],
            "msgs/s",
            None,
            "",
            None,
        ),
        (
            "  Kafka sink vs raw producer (best rounds)",
            ratio,
            "ratio",
            ratio,
            ">= 0.8x",
            ratio >= 0.8,
        ),
        (
            "  Kafka sink vs raw producer (median of rounds)",
            t["median_ratio"],
            "ratio",
            t["median_ratio"],
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
        (
            "  of which records.json_lines (measured alone)",
            t["encode_cpu_us"],
            "us",
            None,
            "",
            None,
        ),
    ]


def _latency_rows(bootstrap: str, sim_minutes: float) -> list[Row]:
    lat, transport, count = _latency(bootstrap, sim_minutes)
    if len(lat) != count:
        raise RuntimeError(f"live run: {len(lat)} of {count} records reached the consumer")
    q = statistics.quantiles(lat, n=100)
    tq = statistics.quantiles(transport, n=100)
    return [
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


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.kafka_bench``: print the table."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.kafka_bench",
        description="Kafka benchmarks against a broker started here (or KAFKA_BOOTSTRAP_SERVERS).",
    )
    parser.add_argument("--quick", action="store_true", help="2 simulated hours, 2 rounds")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run (default: {','.join(PARTS)})",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="throughput rounds (default 4; 2 with --quick)"
    )
    args = parser.parse_args(argv)
    only = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = set(only) - set(PARTS)
    if unknown:
        parser.error(
            f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}"
        )
    from benchmarks.run import print_rows

    print_rows(rows(quick=args.quick, only=only, rounds=args.rounds), title="Kafka benchmarks")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
