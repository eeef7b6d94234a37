"""Raw-table rows in the Kafka connector's layout, built without a database driver."""

from __future__ import annotations

import json
import sys

from sink_contract import make_batch

from ats_sim.records import json_lines
from sinks.raw import TopicOffsets, raw_table, record_keys


def test_metadata_and_content_per_record() -> None:
    """Keys: train id, else station id, else no key at all; offsets from first_offset; headers as strings."""
    batch = make_batch(
        "alert",
        [
            {"timestamp": 0, "train_id": 'T"7', "station_id": "S1"},
            {"timestamp": 1, "train_id": None, "station_id": "S1"},
            {"timestamp": 2, "train_id": None, "station_id": None},
        ],
    )
    table = raw_table(batch, first_offset=41, create_time_ms=1_700_000_000_123)
    metas = [json.loads(m) for m in table.column("RECORD_METADATA").to_pylist()]
    assert metas[0] == {
        "topic": "ats_alerts",
        "partition": 0,
        "offset": 41,
        "CreateTime": 1_700_000_000_123,
        "key": 'T"7',
        "headers": {"record_type": "alert", "schema_version": "1"},
    }
    assert metas[1]["key"] == "S1" and metas[1]["offset"] == 42
    assert "key" not in metas[2] and metas[2]["offset"] == 43
    assert [c.encode() for c in table.column("RECORD_CONTENT").to_pylist()] == json_lines(batch)


def test_telemetry_is_keyed_by_train() -> None:
    """Telemetry has no station id: the key is the train id."""
    batch = make_batch("telemetry", [{"timestamp": 0, "train_id": "R-01"}])
    assert record_keys(batch).to_pylist() == ["R-01"]
    meta = json.loads(raw_table(batch, first_offset=0, topic="custom").column(0)[0].as_py())
    assert meta["topic"] == "custom" and meta["key"] == "R-01"


def test_offsets_advance_only_when_told() -> None:
    """A sink reads next() before writing and advances after: a retry reuses the same offsets."""
    offsets = TopicOffsets()
    assert offsets.next("a") == 0
    offsets.advance("a", 5)
    assert (offsets.next("a"), offsets.next("b")) == (5, 0)


def test_the_module_imports_no_database_driver() -> None:
    """sinks.raw is shared by every warehouse sink, so it must not pull in duckdb or snowflake."""
    import subprocess

    code = (
        "import sys, sinks.raw; bad = [m for m in ('duckdb', 'snowflake', 'confluent_kafka') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(sys.path)},
    )
    assert out.stdout.strip() == "[]"
