"""docker-compose.yml and the Snowflake Kafka connector configs: they cannot run here, so they are read.

The checks tie them to the code: the URLs in the compose commands parse with the sink's and the
ingester's own parsers, the topics the simulator writes are the ones the ingester and the
connector read, and the connector keeps the two-VARIANT ``ATS_RAW_JSON`` layout.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from kafka_helpers import REPO

from ats_sim_testing import require
from sinks import parse_sink_url
from sinks.kafka import _PRODUCER_DEFAULTS, _SINK_OPTIONS, DEFAULT_TOPICS, client_config, topics_for
from sinks.schema import RAW_TABLE

yaml = require("yaml", "PyYAML reads the deploy files: pip install pyyaml")

CONNECT = REPO / "kafka_connect"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def command_args(service: dict[str, Any]) -> list[str]:
    """The ats-sim arguments of a service's ``sh -c "... python -m ats_sim.cli ARGS"`` command."""
    script = service["command"][-1]
    args = shlex.split(script.split("python -m ats_sim.cli", 1)[1])
    return args


def test_compose_runs_kafka_in_kraft_mode_with_internal_and_host_listeners(
    compose: dict[str, Any],
) -> None:
    """One broker+controller, no ZooKeeper, reachable as kafka:9092 inside and localhost:9094 outside."""
    services = compose["services"]
    assert set(services) == {"kafka", "simulator", "ingest", "dashboard"}
    env = services["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://localhost:9094" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "9094:9094" in services["kafka"]["ports"]
    assert not any("zookeeper" in name for name in services)
    for name in ("simulator", "ingest"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_simulator_ingest_and_dashboard_agree_on_topics_and_warehouse(
    compose: dict[str, Any],
) -> None:
    """The simulator's sink URL and the ingester's source parse; topics and DuckDB file match up."""
    services = compose["services"]
    sim = command_args(services["simulator"])
    assert sim[0] == "live"
    sink_url = parse_sink_url(sim[sim.index("--sink") + 1])
    conf, own = client_config(sink_url, {}, _SINK_OPTIONS, _PRODUCER_DEFAULTS)
    assert conf["bootstrap.servers"] == "kafka:9092"
    assert own == {"create_topics": True, "partitions": 3}
    written = set(topics_for(sink_url.path.strip("/")).values())

    ingest = command_args(services["ingest"])
    assert ingest[0] == "ingest"
    source = parse_sink_url(ingest[1])
    assert f"{source.host}:{source.port}" == "kafka:9092"
    assert set(source.path.strip("/").split(",")) == written == set(DEFAULT_TOPICS)
    assert source.query["group.id"] == "ats-sim-ingest"
    warehouse = ingest[ingest.index("--to") + 1]

    dash = command_args(services["dashboard"])
    assert dash[:2] == ["dashboard", warehouse] and warehouse == "duckdb:///data/ats.duckdb"
    for name in ("ingest", "dashboard"):
        assert "ats-data:/data" in services[name].get("volumes", compose["x-ats-sim"]["volumes"])
    assert "8501:8501" in services["dashboard"]["ports"]


@pytest.fixture(scope="module", params=["v3", "v4"])
def connector(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    data = json.loads((CONNECT / f"snowflake-sink-{request.param}.json").read_text())
    assert set(data) == {"name", "config"}
    return request.param, data["config"]


def test_connector_sends_all_three_topics_to_the_raw_table(
    connector: tuple[str, dict[str, str]],
) -> None:
    """topics = the three default topics; topic2table maps each to ATS_RAW_JSON; string keys."""
    _, config = connector
    assert config["connector.class"] == "com.snowflake.kafka.connector.SnowflakeSinkConnector"
    assert set(config["topics"].split(",")) == set(DEFAULT_TOPICS)
    mapping = dict(pair.split(":") for pair in config["snowflake.topic2table.map"].split(","))
    assert mapping == {t: RAW_TABLE for t in DEFAULT_TOPICS}
    assert config["key.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    assert config["value.converter.schemas.enable"] == "false"
    assert config["snowflake.database.name"] == "ATS"


def test_connector_keeps_the_two_variant_layout(connector: tuple[str, dict[str, str]]) -> None:
    """v3: buffer settings and an ingestion method; v4: schematization off (else one column per key)."""
    version, config = connector
    assert config["snowflake.enable.schematization"] == "false"
    buffers = {"buffer.count.records", "buffer.flush.time", "buffer.size.bytes"}
    if version == "v3":
        assert buffers <= set(config)
        assert config["snowflake.ingestion.method"] in ("SNOWPIPE", "SNOWPIPE_STREAMING")
        assert int(config["buffer.count.records"]) > 0 and int(config["buffer.size.bytes"]) > 0
        # Snowpipe Streaming flushes at least every second; Snowpipe at least every 10 s
        assert int(config["buffer.flush.time"]) >= (
            1 if config["snowflake.ingestion.method"] == "SNOWPIPE_STREAMING" else 10
        )
    else:
        assert not buffers & set(config), "connector v4 has no buffer.* settings"
        assert "snowflake.ingestion.method" not in config


def test_connector_configs_hold_no_secrets(connector: tuple[str, dict[str, str]]) -> None:
    """Credentials come from Kafka Connect's FileConfigProvider, never inline."""
    _, config = connector
    for key in ("snowflake.private.key", "snowflake.user.name", "snowflake.url.name"):
        assert config[key].startswith("${file:"), key
    assert not any("password" in k or "passphrase" in k for k in config)
    example = (CONNECT / "snowflake.properties.example").read_text()
    referenced = {
        v.rsplit(":", 1)[1].rstrip("}") for v in config.values() if v.startswith("${file:")
    }
    assert all(f"\n{key}=" in example for key in referenced)


def test_docs_describe_both(compose: dict[str, Any]) -> None:
    """docs/kafka.md explains the compose file and both connector configs by name."""
    doc = (REPO / "docs" / "kafka.md").read_text()
    for needle in (
        "docker-compose.yml",
        "snowflake-sink-v3.json",
        "snowflake-sink-v4.json",
        "snowflake.enable.schematization",
        "buffer.flush.time",
        "events_topic",
        "alerts_topic",
        "KAFKA_SASL_PASSWORD",
        "ATS_DEAD_LETTER",
        "make kafka",
    ):
        assert needle in doc, needle
    assert Path(REPO / "kafka_connect" / "snowflake.properties.example").is_file()
