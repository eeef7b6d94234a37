"""Configuration of the Kafka clients: ``kafka://`` URLs, properties files, topics, errors.

Shared by the Kafka sink (:mod:`sinks.kafka`) and the ingester (:mod:`sinks.ingest`), and
re-exported by :mod:`sinks.kafka`. A URL's query options are librdkafka properties, except the
client's own options (``own``); ``config=path`` reads a Java-style properties file; secrets
never come from a URL (``sasl.password`` from the file or ``$KAFKA_SASL_PASSWORD``).
Nothing here imports confluent-kafka.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from ats_sim.errors import ConfigError
from ats_sim.records import ALERT, STATION_EVENT, TELEMETRY
from sinks.base import TerminalSinkError
from sinks.url import SinkURL

__all__ = [
    "DEFAULT_TOPIC",
    "DEFAULT_TOPICS",
    "PRODUCER_DEFAULTS",
    "SECRET_ENV",
    "SINK_OPTIONS",
    "check_topic",
    "client_config",
    "connection_config",
    "librdkafka_logger",
    "read_properties",
    "topics_for",
    "unreachable_error",
]

DEFAULT_TOPIC = TELEMETRY.topic
#: The three default topics, one per record type.
DEFAULT_TOPICS = (TELEMETRY.topic, STATION_EVENT.topic, ALERT.topic)
#: Environment variable that supplies ``sasl.password`` when no properties file sets it.
SECRET_ENV = "KAFKA_SASL_PASSWORD"

#: The Kafka sink's own URL options (every other query option is a librdkafka property).
SINK_OPTIONS: dict[str, type] = {
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
#: The sink's producer settings unless the URL or the properties file says otherwise. Successful
#: deliveries are not reported back (``flush()`` is what waits for them): only failures are.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "partitioner": "murmur2_random",
    "linger.ms": 5,
    "client.id": "ats-sim",
    "delivery.report.only.error": True,
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
