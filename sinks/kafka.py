"""The Kafka sink: ``kafka://host:port/topic?...`` on confluent-kafka (librdkafka).

One message per record. The value is the record's canonical JSON, byte for byte what the file
sink writes per line (:func:`ats_sim.records.json_lines`); the key is the train id (else the
station id; an alert's train, else its station), so every train's records stay in order on one
partition; the headers are ``record_type`` and ``schema_version``. Each record type has its own
topic: the URL's topic takes telemetry (default ``ats_telemetry``), station events and alerts go
to ``<prefix>station_events`` and ``<prefix>alerts``, where ``<prefix>`` is the telemetry topic
without its trailing ``telemetry`` (``ats_``), or the telemetry topic plus ``_`` when it does not
end in ``telemetry``; ``events_topic=`` and ``alerts_topic=`` name them explicitly.

URL options of the sink itself:

* ``events_topic``, ``alerts_topic``: see above;
* ``create_topics=true`` (with ``partitions=N``, ``replication_factor=N``; default: the
  broker's defaults): create the three topics through the admin client if they are missing;
* ``timestamp=wall`` (default: the wall clock at produce time, so a replay of last month is
  not deleted by retention the moment it lands) or ``timestamp=event`` (the record's simulated
  time; the simulated time is in the payload either way);
* ``config=path/to/client.properties``: librdkafka properties from a Java-style properties
  file (Confluent Cloud's ``client.properties`` works as is);
* ``connect_timeout_s`` (default 10): how long to wait for the broker at start;
* ``max_retries`` (default 5), ``retry_backoff_s``: sink-level re-sends of records whose
  delivery failed after librdkafka's own retries.

Every other query option is a librdkafka property, dots allowed, e.g.
``?security.protocol=SASL_SSL&sasl.mechanism=PLAIN&linger.ms=20``. ``kafka://user@host:port``
sets ``sasl.username``. Secrets never go in a URL: ``sasl.password`` comes from the properties
file or the ``KAFKA_SASL_PASSWORD`` environment variable, and a URL that holds a password or
secret property is refused. ``bootstrap.servers=h1:9092,h2:9092`` in the query (or the file)
gives several bootstrap brokers. The defaults are an idempotent producer with ``acks=all``,
the ``murmur2_random`` partitioner (the Java client's, so Java and Python producers put a key on
the same partition), ``linger.ms=5`` and delivery reports for failed records only
(``delivery.report.only.error``). The URL helpers live in :mod:`sinks.kafka_config`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import pyarrow as pa

from ats_sim.errors import ConfigError
from ats_sim.records import SCHEMA_VERSION, TELEMETRY, Batch, json_lines_array
from sinks.base import Sink, TerminalSinkError
from sinks.kafka_config import (
    DEFAULT_TOPIC,
    DEFAULT_TOPICS,
    PRODUCER_DEFAULTS,
    SECRET_ENV,
    SINK_OPTIONS,
    check_topic,
    client_config,
    connection_config,
    librdkafka_logger,
    read_properties,
    topics_for,
    unreachable_error,
)
from sinks.raw import record_keys
from sinks.url import SinkURL

__all__ = [
    "DEFAULT_TOPIC",
    "DEFAULT_TOPICS",
    "PRODUCER_DEFAULTS",
    "SECRET_ENV",
    "SINK_OPTIONS",
    "KafkaSink",
    "check_topic",
    "client_config",
    "connection_config",
    "librdkafka_logger",
    "read_properties",
    "topics_for",
    "unreachable_error",
]

log = logging.getLogger(__name__)

#: How often ``write_batch`` serves the producer's reports (failures, errors); ``flush`` always does.
POLL_INTERVAL_S = 0.25

# The names this module had before the configuration moved to sinks.kafka_config.
_SINK_OPTIONS = SINK_OPTIONS
_PRODUCER_DEFAULTS = PRODUCER_DEFAULTS


# -- the sink -------------------------------------------------------------------------------------
#: Kafka headers as confluent-kafka takes them.
Headers = list[tuple[str, str | bytes | None]]
#: A record to re-send: record type, topic, value, key, headers, timestamp, re-sends so far.
Pending = tuple[str, str, bytes, bytes | None, Headers, int, int]
#: A delivery report callback, as confluent-kafka calls it.
DeliveryCallback = Callable[[Any, Any], None]


def _text_bytes(strings: pa.Array) -> int:
    """The bytes of all the strings of a string array together (from its offsets, no copy)."""
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    return int(offsets[-1] - offsets[0])


class KafkaSink(Sink):
    """Produces every record to Kafka: idempotent, ``acks=all``, keyed by train.

    The values are :func:`~ats_sim.records.json_lines_array`, the canonical JSON encoded a
    column at a time; the keys are bytes made once per batch and the headers once per record
    type; each record is one ``produce`` call, whose delivery librdkafka reports only when it
    failed (``delivery.report.only.error``, one callback for the whole producer). Reports are
    served every ``POLL_INTERVAL_S`` while writing, and by :meth:`flush`.

    Delivery: at least once, in order per train, and without duplicates from the producer's own
    retries (idempotence). :meth:`write_batch` hands records to librdkafka at once (its queue
    batches them; a full queue is waited out by polling, never dropped). :meth:`flush` returns
    once the broker has acknowledged every record produced so far. A record whose delivery
    still fails after librdkafka's retries is re-sent up to ``max_retries`` times; after that
    (or at once, for errors a retry cannot fix) the sink raises :class:`TerminalSinkError`
    naming how many records were not delivered.

    ``stats.records`` counts acknowledged records (exactly after :meth:`flush`; while records
    are in flight it is the produced count minus those not yet acknowledged).
    """

    scheme = "kafka"
    delivery = (
        "at least once, ordered per train, no duplicates from retries; flush() waits for every ack"
    )

    def __init__(
        self,
        config: dict[str, Any],
        topic: str = DEFAULT_TOPIC,
        *,
        events_topic: str | None = None,
        alerts_topic: str | None = None,
        create_topics: bool = False,
        partitions: int | None = None,
        replication_factor: int | None = None,
        timestamp: str = "wall",
        connect_timeout_s: float = 10.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        from confluent_kafka import KafkaException, Producer

        if timestamp not in ("wall", "event"):
            raise ConfigError(f"Kafka sink: timestamp={timestamp!r}; use wall (default) or event")
        self.topics = topics_for(topic, events_topic, alerts_topic)
        self.event_time = timestamp == "event"
        self.bootstrap = str(config["bootstrap.servers"])
        self.connect_timeout_s = connect_timeout_s
        #: Delivery attempts that failed (a record re-sent and failing again counts again).
        self.delivery_failures = 0
        self._produced: Counter[str] = Counter()
        self._produced_bytes = 0
        self._failed_by_type: Counter[str] = Counter()
        self._failed_bytes = 0
        self._fatal: Any = None
        self._last_error: Any = None
        self._failed: list[tuple[Pending, Any]] = []
        self._connected = False
        self._down_since: float | None = None
        self._next_poll = 0.0
        self._topic_types = {t: name for name, t in self.topics.items()}
        conf: dict[str, Any] = {
            **config,
            "error_cb": self._on_error,
            "on_delivery": self._on_delivery,  # first attempts; a re-send brings its own
            "logger": librdkafka_logger(),
        }
        try:
            self._producer = Producer(conf)
        except KafkaException as exc:
            raise ConfigError(
                f"Kafka sink: invalid producer configuration: {exc.args[0].str()}"
            ) from None
        self._check_reachable()
        if create_topics:
            self._create_topics(config, partitions, replication_factor)
        self._headers: dict[str, Headers] = {
            name: [("record_type", name.encode()), ("schema_version", str(SCHEMA_VERSION).encode())]
            for name in self.topics
        }

    @classmethod
    def from_url(cls, url: SinkURL, **options: Any) -> Self:
        """``kafka://host:port/topic?librdkafka.property=value&create_topics=true&...``."""
        conf, own = client_config(url, options, _SINK_OPTIONS, _PRODUCER_DEFAULTS)
        own.pop("config", None)
        topic = url.path.strip("/") or DEFAULT_TOPIC
        if own.get("partitions") == 0 or own.get("replication_factor") == 0:
            raise ConfigError("Kafka sink: partitions and replication_factor must be at least 1")
        return cls(conf, topic, **own)

    def describe(self) -> str:
        return f"kafka:{self.bootstrap}/{self.topics[TELEMETRY.name]}"

    # -- start-up -------------------------------------------------------------------------------
    def _check_reachable(self) -> None:
        from confluent_kafka import KafkaException

        try:
            self._producer.list_topics(timeout=self.connect_timeout_s)
        except KafkaException as exc:
            self._producer.poll(0)  # serve error callbacks: they hold the reason
            reason = self._last_error.str() if self._last_error is not None else exc.args[0].str()
            raise unreachable_error(self.bootstrap, self.connect_timeout_s, reason) from None
        self._connected = True
        self._last_error = None

    def _create_topics(
        self, config: dict[str, Any], partitions: int | None, rf: int | None
    ) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin_conf: dict[str, Any] = {**connection_config(config), "logger": librdkafka_logger()}
        admin = AdminClient(admin_conf)
        wanted = sorted(set(self.topics.values()))
        futures = admin.create_topics(
            [
                NewTopic(t, num_partitions=partitions or -1, replication_factor=rf or -1)
                for t in wanted
            ],
            request_timeout=self.connect_timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=self.connect_timeout_s * 3)
                log.info("created Kafka topic %s", name)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TerminalSinkError(
                        f"Kafka sink: cannot create topic {name!r}: {err.str()}"
                    ) from None
                if partitions:
                    meta = admin.list_topics(topic=name, timeout=self.connect_timeout_s).topics[
                        name
                    ]
                    if len(meta.partitions) != partitions:
                        log.warning(
                            "Kafka topic %s exists with %d partitions (not %d); left as it is",
                            name,
                            len(meta.partitions),
                            partitions,
                        )

    # -- callbacks (served by poll and flush, on this thread) -----------------------------------
    def _on_error(self, err: Any) -> None:
        from confluent_kafka import KafkaError

        if err.fatal():
            self._fatal = err
            return
        self._last_error = err
        down = err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT)
        if down and self._connected and self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "Kafka broker %s unreachable (%s); records are kept and sent when it is back",
                self.bootstrap,
                err.str(),
            )

    def _on_delivery(self, err: Any, msg: Any) -> None:
        """The report of a record's first delivery attempt (only failures are reported)."""
        if err is not None:  # success costs nothing here: flush() counts what was acknowledged
            self._record_failure(self._topic_types[msg.topic()], err, msg, 0)

    def _delivery_callback(self, type_name: str, attempt: int) -> DeliveryCallback:
        """The report callback of a re-sent record (its attempt number travels with it)."""

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                self._record_failure(type_name, err, msg, attempt)

        return on_delivery

    def _record_failure(self, type_name: str, err: Any, msg: Any, attempt: int) -> None:
        self.delivery_failures += 1
        self._failed_by_type[type_name] += 1
        value = msg.value()
        self._failed_bytes += len(value)
        ts = msg.timestamp()[1] if self.event_time else 0
        # a reported message carries no headers (confluent-kafka): they are the type's own
        pending: Pending = (
            type_name,
            msg.topic(),
            value,
            msg.key(),
            self._headers[type_name],
            ts,
            attempt,
        )
        self._failed.append((pending, err))

    # -- the contract ---------------------------------------------------------------------------
    def write_batch(self, batch: Batch) -> None:
        """Hand every record of ``batch`` to the producer; waits (never drops) while its queue is full."""
        if self._closed:
            raise TerminalSinkError(f"{self.describe()} sink is closed")
        self._raise_if_broken()
        if batch.num_rows == 0:
            return
        encoded = json_lines_array(batch)
        values: list[bytes] = encoded.cast(pa.binary()).to_pylist()
        keys: list[bytes | None] = record_keys(batch).cast(pa.binary()).to_pylist()
        stamps = None
        if self.event_time:
            column = batch.data.column(batch.type.field_names.index("timestamp"))
            stamps = column.cast(pa.int64()).to_pylist()
        self._produce(batch.type.name, values, keys, stamps)
        self._produced_bytes += _text_bytes(encoded)
        now = time.monotonic()
        if now >= self._next_poll:  # serve failure reports and errors, not after every batch
            self._producer.poll(0)
            self._next_poll = now + POLL_INTERVAL_S
        self.stats.batches += 1
        self._resend_failed()
        self._count(in_flight=len(self._producer))

    def _produce(
        self, name: str, values: list[bytes], keys: list[bytes | None], stamps: list[int] | None
    ) -> None:
        """One ``produce`` per record, delivery reported to :meth:`_on_delivery` (failures only)."""
        topic, headers = self.topics[name], self._headers[name]
        produce = self._producer.produce
        if stamps is None:  # the broker's clock: librdkafka stamps the wall-clock time
            for value, key in zip(values, keys, strict=True):
                try:
                    produce(topic, value, key, headers=headers)
                except BufferError:
                    self._wait_for_room(topic, value, key, None, headers, 0)
        else:
            for value, key, ts in zip(values, keys, stamps, strict=True):
                try:
                    produce(topic, value, key, timestamp=ts, headers=headers)
                except BufferError:
                    self._wait_for_room(topic, value, key, None, headers, ts)
        self._produced[name] += len(values)

    def flush(self) -> None:
        """Block until the broker acknowledged every record produced so far (re-sending failures)."""
        started = time.monotonic()
        warned = False
        while True:
            self._raise_if_broken()
            self._resend_failed()
            left = self._producer.flush(0.5)
            if left == 0 and not self._failed:
                break
            if not warned and time.monotonic() - started > 10:
                warned = True
                log.warning(
                    "Kafka sink: still waiting for the broker to acknowledge %d records", left
                )
        self._raise_if_broken()
        self._count(in_flight=0)
        self.stats.flushes += 1

    def _count(self, in_flight: int) -> None:
        """Update ``stats`` from what was produced, what failed and what is still in flight."""
        stats = self.stats
        before = stats.records
        for name, n in self._produced.items():
            stats.by_type[name] = n - self._failed_by_type[name]
        produced = sum(self._produced.values())
        done = produced - self.delivery_failures
        stats.records = max(0, done - in_flight)
        stats.bytes = self._produced_bytes - self._failed_bytes
        if in_flight and done > 0:
            stats.bytes = int(stats.bytes * stats.records / done)
        if self._down_since is not None and stats.records > before:
            log.warning(
                "Kafka broker %s is back after %.0f s",
                self.bootstrap,
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _write(self, batches: list[Batch]) -> int:  # pragma: no cover - write_batch is overridden
        raise NotImplementedError

    def _close(self) -> None:
        left = len(self._producer)
        if left:
            log.error(
                "Kafka sink closed with %d records not acknowledged by %s", left, self.bootstrap
            )

    # -- failures -------------------------------------------------------------------------------
    def _wait_for_room(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        cb: DeliveryCallback | None,
        headers: Headers,
        timestamp: int,
    ) -> None:
        """Poll until the producer's queue takes the record; log once if that takes long.

        ``cb`` is a re-sent record's own report callback (None: the producer's, first attempts).
        """
        extra: dict[str, Any] = {} if cb is None else {"on_delivery": cb}
        started = time.monotonic()
        warned = False
        while True:
            self._producer.poll(0.05)
            self._raise_if_broken()
            self._count(in_flight=len(self._producer))
            try:
                self._producer.produce(
                    topic, value, key, timestamp=timestamp, headers=headers, **extra
                )
                return
            except BufferError:
                if not warned and time.monotonic() - started > 5:
                    warned = True
                    log.warning(
                        "Kafka sink: producer queue full for 5 s (%d records waiting for %s); "
                        "the simulation waits",
                        len(self._producer),
                        self.bootstrap,
                    )

    def _resend_failed(self) -> None:
        """Re-send records whose delivery failed, with backoff; give up loudly after max_retries."""
        if not self._failed:
            return
        from confluent_kafka import KafkaError

        failed, self._failed = self._failed, []
        hopeless = [
            err
            for (_, err) in failed
            if not (err.retriable() or err.code() == KafkaError._MSG_TIMED_OUT)
        ]
        worn_out = [p for (p, _) in failed if p[6] >= self.max_retries]
        if hopeless or worn_out:
            self._failed = failed  # kept, and counted in the error: never dropped silently
            err = (hopeless or [failed[-1][1]])[0]
            why = (
                "cannot be retried"
                if hopeless
                else f"still failing after {self.max_retries} re-sends"
            )
            raise TerminalSinkError(
                f"Kafka sink: {len(failed)} records were not delivered to {self.bootstrap} ({why}): {err.str()}"
            )
        self.stats.retries += 1
        attempt = max(p[6] for p, _ in failed) + 1
        wait = self.retry_backoff_s * 2 ** (attempt - 1)
        log.warning(
            "Kafka sink: %d records failed delivery (%s); re-sending in %.1f s (attempt %d of %d)",
            len(failed),
            failed[0][1].str(),
            wait,
            attempt,
            self.max_retries,
        )
        time.sleep(wait)
        produce = self._producer.produce
        for (type_name, topic, value, key, headers, ts, n), _ in failed:
            cb = self._delivery_callback(type_name, n + 1)
            try:
                produce(topic, value, key, on_delivery=cb, timestamp=ts, headers=headers)
            except BufferError:
                self._wait_for_room(topic, value, key, cb, headers, ts)
            self._produced[type_name] += 1
            self._produced_bytes += len(value)

    def _raise_if_broken(self) -> None:
        if self._fatal is not None:
            raise TerminalSinkError(
                f"Kafka sink: fatal producer error from {self.bootstrap}: {self._fatal.str()}"
            )
