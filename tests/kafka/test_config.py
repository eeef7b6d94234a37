"""The kafka:// URL: librdkafka properties, properties files, secrets, topics, and a dead broker.

None of these needs a running broker: a broker that is not there is the point of the last ones.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from kafka_helpers import cli

from ats_sim.errors import ConfigError
from sinks import TerminalSinkError, open_sink, parse_sink_url
from sinks.ingest import open_ingester
from sinks.kafka import (
    _PRODUCER_DEFAULTS,
    _SINK_OPTIONS,
    client_config,
    read_properties,
    topics_for,
)


def config(url: str, **options: object) -> tuple[dict, dict]:
    return client_config(parse_sink_url(url), dict(options), _SINK_OPTIONS, _PRODUCER_DEFAULTS)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_url_query_options_are_librdkafka_properties_and_sink_options_are_not() -> None:
    """Dotted query keys go to librdkafka verbatim; the sink's own options are typed and kept apart."""
    conf, own = config(
        "kafka://broker1:9093/metro?security.protocol=SASL_SSL&sasl.mechanism=PLAIN"
        "&linger.ms=20&create_topics=true&partitions=3&timestamp=event"
    )
    assert conf["bootstrap.servers"] == "broker1:9093"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "PLAIN"
    assert conf["linger.ms"] == "20"
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True
    assert own == {"create_topics": True, "partitions": 3, "timestamp": "event"}
    assert "create_topics" not in conf and "partitions" not in conf


def test_the_idempotent_defaults_can_be_overridden_explicitly() -> None:
    """A user who wants acks=1 says so in the URL (and gives up idempotence with it)."""
    conf, _ = config("kafka://b:9092/t?acks=1&enable.idempotence=false")
    assert conf["acks"] == "1" and conf["enable.idempotence"] == "false"


def test_user_in_url_is_the_sasl_username(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka://user@host sets sasl.username; the password comes from KAFKA_SASL_PASSWORD."""
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    conf, _ = config("kafka://alice@b:9092/t?security.protocol=SASL_SSL")
    assert conf["sasl.username"] == "alice"
    assert conf["sasl.password"] == "s3cret"


@pytest.mark.parametrize(
    "key",
    ["sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret", "sasl.jaas.config"],
)
def test_secrets_in_the_url_are_refused_without_echoing_them(key: str) -> None:
    """A secret property in the URL is an error that names the property, not its value."""
    with pytest.raises(ConfigError, match="must not") as err:
        config(f"kafka://b:9092/t?{key}=hunter2")
    assert "hunter2" not in str(err.value)
    assert key in str(err.value)


def test_a_password_in_the_url_authority_is_refused() -> None:
    """kafka://user:password@host is refused by the URL parser, without echoing it."""
    with pytest.raises(ConfigError) as err:
        open_sink("kafka://alice:hunter2@b:9092/t")
    assert "hunter2" not in str(err.value)


def test_properties_file_supplies_brokers_and_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?config=client.properties reads a Java-style file (Confluent Cloud's works as is); the URL wins."""
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-env")
    props = tmp_path / "client.properties"
    props.write_text(
        "# Confluent Cloud style\n"
        "bootstrap.servers=pkc-1.example.invalid:9092\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanisms: PLAIN\n"
        "sasl.username=KEY\n"
        "sasl.password=SECRET==\n"
        "! another comment style\n"
        "linger.ms=50\n"
    )
    assert read_properties(props)["sasl.mechanisms"] == "PLAIN"
    conf, own = config(f"kafka:///ats_telemetry?config={props}&linger.ms=7")
    assert conf["bootstrap.servers"] == "pkc-1.example.invalid:9092"
    assert conf["sasl.password"] == "SECRET=="  # the file wins over the environment
    assert conf["linger.ms"] == "7"  # the URL wins over the file
    assert "config" in own


def test_a_url_without_broker_says_what_to_write() -> None:
    """No host and no bootstrap.servers anywhere: a ConfigError with the expected form."""
    with pytest.raises(ConfigError, match="kafka://host:port/topic"):
        config("kafka:///ats_telemetry")


def test_topics_per_record_type() -> None:
    """The telemetry topic names the others; explicit names win; bad names are refused."""
    assert topics_for("ats_telemetry") == {
        "telemetry": "ats_telemetry",
        "station_event": "ats_station_events",
        "alert": "ats_alerts",
    }
    assert topics_for("metro") == {
        "telemetry": "metro",
        "station_event": "metro_station_events",
        "alert": "metro_alerts",
    }
    assert topics_for("x.telemetry", alerts_topic="ops-alerts")["alert"] == "ops-alerts"
    with pytest.raises(ConfigError, match="not valid"):
        topics_for("bad topic")


def test_an_unknown_librdkafka_property_fails_before_connecting() -> None:
    """librdkafka rejects a misspelt property at once; the error names it."""
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"lingr\.ms"):
        open_sink(f"kafka://127.0.0.1:{closed_port()}/t?lingr.ms=5")
    assert time.monotonic() - started < 5


def test_unreachable_broker_is_a_terminal_error_within_the_timeout() -> None:
    """Opening the sink against a port nobody listens on fails after connect_timeout_s, not never."""
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(
        TerminalSinkError, match=f"cannot reach the Kafka broker at 127.0.0.1:{port}"
    ):
        open_sink(f"kafka://127.0.0.1:{port}/t?connect_timeout_s=2")
    assert 1.5 < time.monotonic() - started < 10


def test_cli_run_against_an_unreachable_broker_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """`ats-sim run --sink kafka://dead` : one line on stderr, exit status 2, no traceback, bounded time."""
    port = closed_port()
    started = time.monotonic()
    res = cli(
        "run",
        "weekday",
        "--until",
        "10m",
        "-q",
        "--sink",
        f"kafka://127.0.0.1:{port}/t?connect_timeout_s=1",
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: cannot reach the Kafka broker at 127.0.0.1:")
    assert "Traceback" not in res.stderr + res.stdout
    assert elapsed < 30


def test_cli_ingest_against_an_unreachable_broker_prints_one_line_and_exits_2(
    tmp_path: Path,
) -> None:
    """`ats-sim ingest kafka://dead --to duckdb://...` fails the same way."""
    port = closed_port()
    res = cli(
        "ingest",
        f"kafka://127.0.0.1:{port}/ats_telemetry?connect_timeout_s=2",
        "--to",
        f"duckdb:///{tmp_path}/ats.duckdb",
        "-q",
    )
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Kafka broker"), (
        res.stderr
    )


def test_ingest_into_an_unsupported_warehouse_says_what_to_use(tmp_path: Path) -> None:
    """Ingest writes to duckdb:// or snowflake://; any other scheme is refused naming both."""
    with pytest.raises(ConfigError, match="duckdb:// or snowflake://"):
        open_ingester("kafka://127.0.0.1:9/t", f"file://{tmp_path}?format=jsonl")
