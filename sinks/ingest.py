"""Kafka -> warehouse ingest: ``ats-sim ingest kafka://host:port/topic[,topic2] --to URL``.

A consumer group reads the topics and stores batches (by count and by time) in a warehouse with
the shared schema, the way the Snowflake Kafka connector fills ``ATS_RAW_JSON``:

* ``ATS_RAW_JSON``: ``RECORD_METADATA`` from the real message (``topic``, ``partition``,
  ``offset``, ``CreateTime`` (or ``LogAppendTime``), ``key`` when not null, ``headers``) and
  ``RECORD_CONTENT`` = the message value as it arrived;
* ``ATS_DEAD_LETTER``: every message that is not valid JSON or not a known record, with its
  topic, partition, offset, key, headers, timestamp, raw value and the error. It is stored, the
  ingester goes on, nothing is dropped silently;
* the typed tables: filled by the DuckDB writer in the same transaction; in Snowflake they are
  dynamic tables over ``ATS_RAW_JSON``.

The warehouse is chosen by the URL's scheme (:data:`WAREHOUSES`): ``duckdb://``
(:mod:`sinks.ingest_duckdb`) or ``snowflake://`` (:mod:`sinks.ingest_snowflake`); each
implements :class:`~sinks.ingest_messages.Warehouse` and is imported only when used. This
module is the consumer: it batches, stores a batch through the warehouse, and commits the
batch's offsets to Kafka only after the warehouse committed it. A crash at any moment therefore
loses nothing: the restarted consumer re-reads from the last committed offset, and the
warehouse skips every message whose (topic, partition, offset) it stored before, so nothing is
stored twice either.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ats_sim.errors import ConfigError
from sinks.base import MissingDriverError, TerminalSinkError, TransientSinkError
from sinks.ingest_messages import (
    DEAD_LETTER_TABLE,
    StoredBatch,
    Warehouse,
    metadata_json,
    parse_record,
    typed_rows,
)
from sinks.kafka import (
    DEFAULT_TOPICS,
    check_topic,
    client_config,
    librdkafka_logger,
    unreachable_error,
)
from sinks.url import SinkURL, parse_sink_url

__all__ = [
    "DEAD_LETTER_TABLE",
    "WAREHOUSES",
    "IngestStats",
    "Ingester",
    "StoredBatch",
    "Warehouse",
    "metadata_json",
    "open_ingester",
    "open_warehouse",
    "parse_record",
    "typed_rows",
]

log = logging.getLogger(__name__)

#: URL scheme -> (module, class, the driver package it needs, the extra that installs it).
WAREHOUSES: dict[str, tuple[str, str, str, str]] = {
    "duckdb": ("sinks.ingest_duckdb", "DuckDBWarehouse", "duckdb", "duckdb"),
    "snowflake": (
        "sinks.ingest_snowflake",
        "SnowflakeWarehouse",
        "snowflake.connector",
        "snowflake",
    ),
}


def __getattr__(name: str) -> Any:
    """``DuckDBWarehouse`` and ``OFFSETS_TABLE``, still importable from here (they need duckdb,
    so they are imported on first use; their home is :mod:`sinks.ingest_duckdb`)."""
    if name in ("DuckDBWarehouse", "OFFSETS_TABLE"):
        return getattr(importlib.import_module("sinks.ingest_duckdb"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_warehouse(url: str) -> Warehouse:
    """The warehouse writer for ``url`` (``duckdb://...`` or ``snowflake://...``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in WAREHOUSES:
        # The URL is not repeated: it might hold a secret.
        raise ConfigError(
            f"ingest --to: `ats-sim ingest` writes to a duckdb:// or snowflake:// warehouse, not "
            f"{scheme + '://' if scheme else 'a URL without a scheme'}; e.g. "
            "duckdb:///data/ats.duckdb or snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH"
        )
    module, cls, driver, extra = WAREHOUSES[scheme]
    try:
        importlib.import_module(driver)
    except ImportError:
        raise MissingDriverError(scheme, driver.split(".")[0].replace("_", "-"), extra) from None
    warehouse: Warehouse = getattr(importlib.import_module(module), cls).from_url(url)
    return warehouse


# -- the consumer ---------------------------------------------------------------------------------
@dataclass
class IngestStats:
    """What an ingester has done so far."""

    messages: int = 0
    records: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    duplicates: int = 0
    typed_duplicates: int = 0
    batches: int = 0
    commit_failures: int = 0
    #: ``time.perf_counter()`` when the first message arrived, and of the last warehouse commit.
    first_message_at: float | None = None
    last_commit_at: float | None = None


_CONSUMER_OPTIONS: dict[str, type] = {"config": str, "connect_timeout_s": float}
_CONSUMER_DEFAULTS: dict[str, Any] = {
    "group.id": "ats-sim-ingest",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "client.id": "ats-sim-ingest",
}


class Ingester:
    """A consumer-group member that stores what it reads in a warehouse, then commits offsets.

    Delivery: each message exactly once in the warehouse (at-least-once reads, deduplicated on
    topic, partition and offset). ``run()`` returns when ``stop()`` is called, or after
    ``idle_exit_s`` seconds without a new message.

    Args:
        config: librdkafka consumer properties (``bootstrap.servers`` at least), or a
            ``host:port`` string.
        topics: topics to subscribe to.
        warehouse: where batches go (see :func:`open_warehouse`).
        group_id: consumer group (overrides ``group.id`` in ``config``).
        batch_records: store a batch once it holds this many messages (default: the
            warehouse's ``default_batch_records``)...
        batch_seconds: ...or once its first message waited this long (default: the
            warehouse's ``default_batch_seconds``).
        idle_exit_s: return after this long without messages, counted from when the group
            assigned partitions to this member (None: run until stopped). A member restarted
            after a crash waits for the group to drop the dead one first (``session.timeout.ms``,
            45 s by default), unless ``group.instance.id`` makes it a static member.
        max_retries: how often one batch is stored again after a transient warehouse error
            (backoff from 0.2 s doubling to 5 s) before the ingester gives up.
        on_batch: called after each stored and committed batch with the stats so far.
    """

    def __init__(
        self,
        config: dict[str, Any] | str,
        topics: list[str],
        warehouse: Warehouse,
        *,
        group_id: str | None = None,
        batch_records: int | None = None,
        batch_seconds: float | None = None,
        idle_exit_s: float | None = None,
        connect_timeout_s: float = 10.0,
        max_retries: int = 20,
        on_batch: Callable[[IngestStats], None] | None = None,
    ) -> None:
        conf = dict(_CONSUMER_DEFAULTS)
        conf.update({"bootstrap.servers": config} if isinstance(config, str) else config)
        if group_id:
            conf["group.id"] = group_id
        if batch_records is None:
            batch_records = warehouse.default_batch_records
        if batch_seconds is None:
            batch_seconds = warehouse.default_batch_seconds
        if batch_records < 1 or batch_seconds <= 0:
            raise ConfigError("ingest: batch_records must be at least 1 and batch_seconds positive")
        self.conf = conf
        self.topics = topics
        self.warehouse = warehouse
        self.batch_records = batch_records
        self.batch_seconds = batch_seconds
        self.idle_exit_s = idle_exit_s
        self.connect_timeout_s = connect_timeout_s
        self.max_retries = max_retries
        self.on_batch = on_batch
        self.stats = IngestStats()
        self._stop = False
        self._pending: list[Any] = []
        self._consumer: Any = None
        self._last_error: Any = None
        self._fatal: Any = None
        self._missing_warned: set[str] = set()
        self._assigned_at: float | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to store what it holds, commit and return (safe from a signal handler)."""
        self._stop = True

    def run(self) -> IngestStats:
        """Consume, store and commit until stopped or idle; returns the stats."""
        from confluent_kafka import Consumer, KafkaException

        conf = {**self.conf, "error_cb": self._on_error, "logger": librdkafka_logger()}
        try:
            consumer = Consumer(conf)
        except KafkaException as exc:
            self.warehouse.close()
            raise ConfigError(
                f"ingest: invalid consumer configuration: {exc.args[0].str()}"
            ) from None
        self._consumer = consumer
        bootstrap = str(self.conf["bootstrap.servers"])
        try:
            try:
                consumer.list_topics(timeout=self.connect_timeout_s)
            except KafkaException as exc:
                consumer.poll(0)
                reason = (
                    self._last_error.str() if self._last_error is not None else exc.args[0].str()
                )
                raise unreachable_error(bootstrap, self.connect_timeout_s, reason) from None
            consumer.subscribe(
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            self._loop(consumer)
            self._store_and_commit()
        finally:
            self._consumer = None
            with contextlib.suppress(Exception):
                consumer.close()
            self.warehouse.close()
        return self.stats

    def _loop(self, consumer: Any) -> None:
        from confluent_kafka import KafkaError

        first_at: float | None = None
        last_message = time.monotonic()
        while not self._stop:
            if self._fatal is not None:
                raise TerminalSinkError(f"ingest: fatal Kafka consumer error: {self._fatal.str()}")
            room = self.batch_records - len(self._pending)
            wait = (
                0.2
                if first_at is None
                else max(0.0, min(0.2, first_at + self.batch_seconds - time.monotonic()))
            )
            for m in consumer.consume(num_messages=min(room, 1000), timeout=wait):
                err = m.error()
                if err is None:
                    self._pending.append(m)
                    if self.stats.first_message_at is None:
                        self.stats.first_message_at = time.perf_counter()
                    continue
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    if m.topic() not in self._missing_warned:
                        self._missing_warned.add(m.topic() or "?")
                        log.warning(
                            "ingest: topic %s does not exist (yet); waiting for it", m.topic()
                        )
                elif err.fatal():
                    raise TerminalSinkError(f"ingest: fatal Kafka consumer error: {err.str()}")
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning("ingest: consumer error: %s", err.str())
            now = time.monotonic()
            if self._pending:
                last_message = now
                if first_at is None:
                    first_at = now
                if len(self._pending) >= self.batch_records or now - first_at >= self.batch_seconds:
                    self._store_and_commit()
                    first_at = None
            elif (
                self.idle_exit_s is not None
                and self._assigned_at is not None
                and now - max(last_message, self._assigned_at) >= self.idle_exit_s
            ):
                return  # idle only counts once the group gave this member its partitions

    def _store_and_commit(self) -> None:
        """Store the pending messages (retrying transient errors), then commit their offsets."""
        from confluent_kafka import KafkaException, TopicPartition

        messages, self._pending = self._pending, []
        if not messages:
            return
        attempt = 0
        while True:
            try:
                stored = self.warehouse.store(messages)
                break
            except TransientSinkError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                log.warning("ingest: %s; retry %d of %d", exc, attempt, self.max_retries)
                time.sleep(min(5.0, 0.2 * 2 ** (attempt - 1)))
        s = self.stats
        s.messages += len(messages)
        s.records.update(stored.records)
        s.dead_letters += stored.dead_letters
        s.duplicates += stored.duplicates
        s.typed_duplicates += stored.typed_duplicates
        s.batches += 1
        s.last_commit_at = time.perf_counter()
        nexts: dict[tuple[str, int], int] = {}
        for m in messages:
            tp = (m.topic(), m.partition())
            nexts[tp] = max(nexts.get(tp, -1), m.offset() + 1)
        if self._consumer is not None:
            try:
                self._consumer.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in nexts.items()],
                    asynchronous=False,
                )
            except (
                KafkaException
            ) as exc:  # e.g. a rebalance took the partitions: they are re-read, then skipped
                s.commit_failures += 1
                log.warning(
                    "ingest: offset commit failed (%s); the next owner re-reads and skips them",
                    exc.args[0].str(),
                )
        if self.on_batch is not None:
            self.on_batch(s)

    # -- callbacks ------------------------------------------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned_at = time.monotonic()
        log.info(
            "ingest: assigned %s",
            ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing",
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Store and commit what was read from partitions about to go to another member.
        self._store_and_commit()

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # The partitions are gone already (session timeout): their offsets can no longer be
        # committed. Storing is still safe: the new owner re-reads and skips stored ranges.
        self._store_and_commit()

    def _on_error(self, err: Any) -> None:
        if err.fatal():
            self._fatal = err
        else:
            self._last_error = err
            log.debug("ingest: %s", err.str())


def open_ingester(source: str, to: str, **options: Any) -> Ingester:
    """An :class:`Ingester` for ``kafka://host:port/topic[,topic2]?...`` into the warehouse ``to``.

    No topic in the URL means the three default topics. ``group.id`` (default
    ``ats-sim-ingest``) and any librdkafka consumer property go in the query; ``config=``
    names a properties file; secrets as for the Kafka sink. ``to`` is a ``duckdb://`` or
    ``snowflake://`` URL (:func:`open_warehouse`). ``options`` are :class:`Ingester` keyword
    arguments.
    """
    url: SinkURL = parse_sink_url(source, known=["kafka"])
    conf, own = client_config(url, {}, _CONSUMER_OPTIONS, _CONSUMER_DEFAULTS)
    names = [check_topic(t.strip()) for t in url.path.strip("/").split(",") if t.strip()]
    topics = names or list(DEFAULT_TOPICS)
    if "connect_timeout_s" in own:
        options.setdefault("connect_timeout_s", own["connect_timeout_s"])
    warehouse = open_warehouse(to)
    try:
        return Ingester(conf, topics, warehouse, **options)
    except BaseException:
        warehouse.close()
        raise
