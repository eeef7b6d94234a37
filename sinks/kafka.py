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
gives several bootstrap brokers. The defaults are an idempotent producer with ``acks=all`` and
the ``murmur2_random`` partitioner (the Java client's, so Java and Python producers put a key on
the same partition).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.errors import ConfigError
from ats_sim.records import ALERT, SCHEMA_VERSION, STATION_EVENT, TELEMETRY, Batch
from sinks.base import Sink, TerminalSinkError
from sinks.raw import record_keys
from sinks.url import SinkURL

__all__ = [
    "DEFAULT_TOPIC",
    "DEFAULT_TOPICS",
    "SECRET_ENV",
    "KafkaSink",
    "check_topic",
    "client_config",
    "connection_config",
    "encode_values",
    "librdkafka_logger",
    "read_properties",
    "topics_for",
    "unreachable_error",
]

log = logging.getLogger(__name__)

DEFAULT_TOPIC = TELEMETRY.topic
#: The three default topics, one per record type.
DEFAULT_TOPICS = (TELEMETRY.topic, STATION_EVENT.topic, ALERT.topic)
#: Environment variable that supplies ``sasl.password`` when no properties file sets it.
SECRET_ENV = "KAFKA_SASL_PASSWORD"

_SINK_OPTIONS: dict[str, type] = {
    "events_topic": str,
    "alerts_topic": str,
    "create_topics": bool,
    "partitions": int,
    "replication_factor": int,
    "timestamp": str,
    "config": str,
    "connect_timeout_s": float,
    "batch_records": int,
    "batch_seconds": float,
    "max_retries": int,
    "retry_backoff_s": float,
}
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_SECRET_WORDS = ("password", "secret", "jaas", "ssl.key.pem", "private.key", "oauthbearer.config")
_PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "partitioner": "murmur2_random",
    "linger.ms": 5,
    "client.id": "ats-sim",
}
#: Properties an admin client or a consumer also understands (the connection's, not the producer's).
_CONNECTION_PREFIXES = (
    "bootstrap.",
    "security.",
    "sasl.",
    "ssl.",
    "client.",
    "socket.",
    "broker.",
    "reconnect.",
    "metadata.",
    "api.version",
    "enable.ssl",
    "enable.sasl",
    "topic.metadata",
    "https.",
    "connections.",
    "retry.backoff",
    "debug",
    "log",
)


# -- configuration --------------------------------------------------------------------------------
def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """``key=value`` (or ``key: value``) lines of a Java-style properties file; ``#``/``!`` comments."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Kafka properties file {p}: cannot read it ({exc.strerror or exc})"
        ) from None
    props: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"^([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if not m:
            raise ConfigError(f"Kafka properties file {p}, line {n}: expected key=value")
        props[m.group(1)] = m.group(2).strip()
    return props


def _is_secret(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in _SECRET_WORDS)


def _as_bool(url: SinkURL, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"Kafka URL {url.redacted()!r}: {name}={value!r} is not true or false")


def client_config(
    url: SinkURL, options: dict[str, Any], own: dict[str, type], defaults: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a ``kafka://`` URL (and keyword ``options``) into librdkafka properties and own options.

    Precedence, lowest first: ``defaults``, the ``config=`` properties file, the URL's host and
    user, the URL's other query options, keyword ``options``. ``sasl.password`` comes from the
    file or ``$KAFKA_SASL_PASSWORD``; a secret property in the URL is a :class:`ConfigError`.
    """
    merged: dict[str, Any] = {**url.query, **options}
    mine: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for name, value in merged.items():
        if name in own:
            kind = own[name]
            if kind is bool:
                mine[name] = _as_bool(url, name, value)
                continue
            try:
                mine[name] = kind(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"Kafka URL {url.redacted()!r}: {name}={value!r} is not a valid {kind.__name__}"
                ) from None
            if kind in (int, float) and mine[name] < 0:
                raise ConfigError(f"Kafka URL {url.redacted()!r}: {name} must not be negative")
        else:
            if _is_secret(name) and name in url.query:
                raise ConfigError(
                    f"Kafka URL: the secret property {name!r} must not be in the URL; put it in a "
                    f"properties file given as ?config=path, or set {SECRET_ENV} for sasl.password"
                )
            props[name] = value
    conf: dict[str, Any] = dict(defaults)
    if "config" in mine:
        conf.update(read_properties(mine["config"]))
    if url.host:
        conf["bootstrap.servers"] = f"{url.host}:{url.port or 9092}"
    if url.user:
        conf["sasl.username"] = url.user
    conf.update(props)
    if "sasl.password" not in conf and os.environ.get(SECRET_ENV):
        conf["sasl.password"] = os.environ[SECRET_ENV]
    if not conf.get("bootstrap.servers"):
        raise ConfigError(
            f"Kafka URL {url.redacted()!r} names no broker; expected kafka://host:port/topic "
            "(or bootstrap.servers in the ?config= properties file)"
        )
    return conf, mine


def connection_config(conf: dict[str, Any]) -> dict[str, Any]:
    """The connection properties of a producer or consumer config, for an admin client."""
    return {k: v for k, v in conf.items() if k.startswith(_CONNECTION_PREFIXES)}


class _DemotedLogger(logging.LoggerAdapter):  # type: ignore[type-arg,unused-ignore]
    """librdkafka's log lines at debug level: the sink reports what matters itself, once."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args)


def librdkafka_logger() -> logging.LoggerAdapter:  # type: ignore[type-arg,unused-ignore]
    """The logger given to librdkafka clients (visible with ``ats-sim -v``)."""
    return _DemotedLogger(logging.getLogger("sinks.kafka.librdkafka"), {})


def unreachable_error(bootstrap: str, timeout_s: float, reason: str) -> TerminalSinkError:
    """The one-line error for a broker that cannot be reached at start."""
    # librdkafka says "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection
    # refused (after 0ms in state CONNECT)"; the person needs "Connection refused".
    short = re.sub(
        r"\s*\(after \d+ms in state \w+\)", "", reason.rsplit(" failed: ", 1)[-1]
    ).strip()
    return TerminalSinkError(
        f"cannot reach the Kafka broker at {bootstrap} within {timeout_s:g} s ({short}); is it running? "
        "(`ats-sim kafka broker` starts a local one)"
    )


def check_topic(name: str) -> str:
    """``name`` if it is a valid Kafka topic name, else a :class:`ConfigError`."""
    if not _TOPIC_NAME.match(name) or name in (".", ".."):
        raise ConfigError(
            f"Kafka topic {name!r} is not valid: use 1-249 letters, digits, '.', '_' or '-'"
        )
    return name


def topics_for(
    topic: str, events_topic: str | None = None, alerts_topic: str | None = None
) -> dict[str, str]:
    """Record type name -> topic, from the telemetry topic and optional explicit names."""
    prefix = topic[: -len("telemetry")] if topic.endswith("telemetry") else topic + "_"
    topics = {
        TELEMETRY.name: topic,
        STATION_EVENT.name: events_topic or prefix + "station_events",
        ALERT.name: alerts_topic or prefix + "alerts",
    }
    for name in topics.values():
        check_topic(name)
    return topics


# -- the message values, vectorised ---------------------------------------------------------------
def _may_need_escaping(col: pa.Array) -> bool:
    """False when no string of ``col`` can need JSON escaping: no '"', backslash or control byte."""
    data = col.buffers()[2]
    if data is None:
        return False
    buf = np.frombuffer(data, dtype=np.uint8)
    return bool((buf < 0x20).any() or (buf == 0x22).any() or (buf == 0x5C).any())


def _needs_escaping(text: str) -> bool:
    return any(ch in '"\\' or ch < " " for ch in text)


def _json_string_column(col: pa.Array) -> tuple[pa.Array, bool]:
    if _may_need_escaping(col):
        values = col.to_pylist()
        if any(v is not None and _needs_escaping(v) for v in values):
            return pa.array([orjson.dumps(v).decode() for v in values], pa.string()), False
    if col.null_count:
        return pc.fill_null(pc.binary_join_element_wise('"', col, '"', ""), "null"), False
    return col, True


def _json_timestamp_column(col: pa.Array) -> tuple[pa.Array, bool]:
    # json_lines writes "2026-03-10T05:30:00.000Z"; Arrow casts a zone-less timestamp to
    # "2026-03-10 05:30:00.000" (ten times faster than with the zone), the caller adds the "Z".
    naive = col.cast(pa.int64()).cast(pa.timestamp("ms"))
    text = pc.replace_substring(pc.cast(naive, pa.string()), " ", "T", max_replacements=1)
    if col.null_count:
        return pc.fill_null(pc.binary_join_element_wise('"', text, 'Z"', ""), "null"), False
    return text, True


def _json_float_column(col: pa.Array) -> pa.Array:
    # Arrow's shortest round-trip text equals orjson's for finite values of magnitude >= 1e-4
    # (or zero) that Arrow writes without an exponent, once "100" becomes "100.0". orjson
    # writes the others (exponents, tiny values, NaN and infinities as null) itself.
    text = pc.cast(col, pa.string())
    x = col.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        odd = ~np.isfinite(x) | ((x != 0) & (np.abs(x) < 1e-4))
        whole = np.floor(x) == x
    odd |= pc.fill_null(pc.match_substring(text, "e"), False).to_numpy(zero_copy_only=False)
    if col.null_count:
        odd &= col.is_valid().to_numpy(zero_copy_only=False)
    whole &= ~odd
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    if odd.any():
        idx = np.flatnonzero(odd).tolist()
        text = _replace(text, idx, [orjson.dumps(float(x[i])).decode() for i in idx])
    return text


def _replace(arr: pa.Array, idx: list[int], values: list[str]) -> pa.Array:
    py = arr.to_pylist()
    for i, v in zip(idx, values, strict=True):
        py[i] = v
    return pa.array(py, type=pa.string())


def _json_column(kind: str, col: pa.Array) -> tuple[pa.Array, bool]:
    """The JSON text of each value of ``col``, and whether the caller still has to quote it."""
    if kind == "string":
        return _json_string_column(col)
    if kind == "timestamp":
        return _json_timestamp_column(col)
    if kind == "int":
        out = pc.cast(col, pa.string())
    elif kind == "float":
        out = _json_float_column(col)
    elif kind == "bool":
        out = pc.if_else(col, "true", "false")
    else:  # pragma: no cover - every FieldKind is handled above
        raise ValueError(kind)
    return (pc.fill_null(out, "null") if col.null_count else out), False


#: Fields that usually hold one value per batch (folded into the constant text when they do).
_OFTEN_CONSTANT = frozenset({"record_type", "schema_version", "run_id", "line_id"})


def encode_values(batch: Batch) -> list[bytes]:
    """The canonical JSON of each record, byte-identical to :func:`~ats_sim.records.json_lines`.

    The same column-by-column Arrow approach as ``records.json_lines_array``, about a third
    cheaper per record (4.6 -> 3.0 us here), which matters when serialization is most of what
    the sink adds to the producer: zone-less timestamp casts instead of ``strftime``, columns
    holding one value per batch folded into the constant text, quotes folded into it too, and
    one pass over a column's bytes instead of a regex to rule out escaping. Values Arrow and
    orjson write differently (exponents, tiny values, NaN) are encoded by orjson. The tests
    hold it to ``records.reference_json_lines``; once ``records`` has these tricks the sink can
    call ``json_lines`` and this function can go.
    """
    if batch.num_rows == 0:
        return []
    parts: list[Any] = []
    glue = "{"  # constant text before the next value: '{"name":' or '","name":"' ...
    for i, f in enumerate(batch.type.fields):
        col = batch.data.column(i)
        if (
            f.name in _OFTEN_CONSTANT
            and col.null_count == 0
            and pc.all(pc.equal(col, col[0])).as_py()
        ):
            glue += (
                orjson.dumps(f.name).decode() + ":" + orjson.dumps(col[0].as_py()).decode() + ","
            )
            continue  # the same value in every record: part of the constant text
        text, quote = _json_column(f.kind, col)
        glue += orjson.dumps(f.name).decode() + ":" + ('"' if quote else "")
        parts += [glue, text]
        glue = ('Z"' if f.kind == "timestamp" else '"') + "," if quote else ","
    parts.append(glue[:-1] + "}")
    joined = pc.binary_join_element_wise(*parts, "")
    values: list[bytes] = joined.cast(pa.binary()).to_pylist()
    return values


# -- the sink -------------------------------------------------------------------------------------
#: Kafka headers as confluent-kafka takes them.
Headers = list[tuple[str, str | bytes | None]]
#: A record to re-send: record type, topic, value, key, headers, timestamp, re-sends so far.
Pending = tuple[str, str, bytes, str | None, Headers, int, int]


class KafkaSink(Sink):
    """Produces every record to Kafka: idempotent, ``acks=all``, keyed by train.

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
        conf: dict[str, Any] = {**config, "error_cb": self._on_error, "logger": librdkafka_logger()}
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
        self._callbacks = {name: self._delivery_callback(name, 0) for name in self.topics}

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

    def _delivery_callback(self, type_name: str, attempt: int) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:  # success costs nothing here: flush() counts what was acknowledged
                self._record_failure(type_name, err, msg, attempt)

        return on_delivery

    def _record_failure(self, type_name: str, err: Any, msg: Any, attempt: int) -> None:
        self.delivery_failures += 1
        self._failed_by_type[type_name] += 1
        value = msg.value()
        self._failed_bytes += len(value)
        ts = msg.timestamp()[1] if self.event_time else 0
        key = msg.key()
        pending: Pending = (
            type_name,
            msg.topic(),
            value,
            None if key is None else key.decode(),
            msg.headers() or [],
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
        keys = record_keys(batch).to_pylist()
        stamps = None
        if self.event_time:
            column = batch.data.column(batch.type.field_names.index("timestamp"))
            stamps = column.cast(pa.int64()).to_pylist()
        self._produce(batch.type.name, encode_values(batch), keys, stamps)
        self._producer.poll(0)
        self.stats.batches += 1
        self._resend_failed()
        self._count(in_flight=len(self._producer))

    def _produce(
        self, name: str, values: list[bytes], keys: list[str | None], stamps: list[int] | None
    ) -> None:
        topic, headers, cb = self.topics[name], self._headers[name], self._callbacks[name]
        produce = self._producer.produce
        if stamps is None:  # the broker's clock: librdkafka stamps the wall-clock time
            for value, key in zip(values, keys, strict=True):
                try:
                    produce(topic, value, key, on_delivery=cb, headers=headers)
                except BufferError:
                    self._wait_for_room(topic, value, key, cb, headers, 0)
        else:
            for value, key, ts in zip(values, keys, stamps, strict=True):
                try:
                    produce(topic, value, key, on_delivery=cb, timestamp=ts, headers=headers)
                except BufferError:
                    self._wait_for_room(topic, value, key, cb, headers, ts)
        self._produced[name] += len(values)
        self._produced_bytes += sum(map(len, values))

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
        key: str | None,
        cb: Callable[[Any, Any], None],
        headers: Headers,
        timestamp: int,
    ) -> None:
        """Poll until the producer's queue takes the record; log once if that takes long."""
        started = time.monotonic()
        warned = False
        while True:
            self._producer.poll(0.05)
            self._raise_if_broken()
            self._count(in_flight=len(self._producer))
            try:
                self._producer.produce(
                    topic, value, key, on_delivery=cb, timestamp=timestamp, headers=headers
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
