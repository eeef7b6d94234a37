"""The file sink: layout, UTC-date partitions, rotation, atomic files, exact JSON lines, Parquet types."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sink_contract import make_batch

from ats_sim.records import Batch, json_lines
from sinks import open_sink
from sinks.files import list_files


def _names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_one_file_set_per_record_type_partitioned_by_utc_date(
    tmp_path: Path, tricky_batches: list[Batch]
) -> None:
    """Records just before and after midnight UTC land in two date partitions, per record type."""
    with open_sink(f"file://{tmp_path}") as sink:
        for b in tricky_batches:
            sink.write_batch(b)
    assert _names(tmp_path) == [
        "alert/date=2024-06-01/part-000000.jsonl",
        "alert/date=2024-06-02/part-000000.jsonl",
        "station_event/date=2024-06-01/part-000000.jsonl",
        "station_event/date=2024-06-02/part-000000.jsonl",
    ]
    lines = json_lines(tricky_batches[0])
    assert (tmp_path / "alert/date=2024-06-01/part-000000.jsonl").read_bytes() == lines[0] + b"\n"
    assert (tmp_path / "alert/date=2024-06-02/part-000000.jsonl").read_bytes() == b"\n".join(
        lines[1:]
    ) + b"\n"


def test_json_lines_files_are_exactly_the_kafka_message_values(
    tmp_path: Path, run_batches: list[Batch]
) -> None:
    """One flush of several batches makes one file per type whose bytes are json_lines + newline."""
    telemetry = [b for b in run_batches if b.type.name == "telemetry"]
    with open_sink(f"file://{tmp_path}?format=jsonl", batch_records=10**9) as sink:
        for b in telemetry:
            sink.write_batch(b)
    (path,) = list_files(tmp_path, "telemetry")
    assert path.read_bytes() == b"".join(line + b"\n" for b in telemetry for line in json_lines(b))


def test_parquet_has_typed_columns_and_zstd(tmp_path: Path, run_batches: list[Batch]) -> None:
    """Parquet files carry the record type's Arrow schema (UTC ms timestamps, ints, bools) and zstd."""
    with open_sink(f"file://{tmp_path}?format=parquet") as sink:
        for b in run_batches:
            sink.write_batch(b)
    for name in ("telemetry", "station_event"):
        (path,) = list_files(tmp_path, name)
        table = pq.read_table(path)
        rtype = (
            run_batches[0].type
            if name == "telemetry"
            else next(b.type for b in run_batches if b.type.name == name)
        )
        assert table.schema.equals(rtype.arrow_schema, check_metadata=False)
        assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
        meta = pq.ParquetFile(path).metadata
        assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {
            "ZSTD"
        }


def test_files_rotate_by_size(tmp_path: Path, run_batches: list[Batch]) -> None:
    """With rotate_mb small, one flush is split into several files near that size, in order."""
    telemetry = [b for b in run_batches if b.type.name == "telemetry"]
    with open_sink(f"file://{tmp_path}?rotate_mb=0.02", batch_records=10**9) as sink:
        for b in telemetry:
            sink.write_batch(b)
    files = list_files(tmp_path, "telemetry")
    sizes = [p.stat().st_size for p in files]
    assert len(files) >= 5
    assert max(sizes) <= 20_000 * 1.5
    assert b"".join(p.read_bytes() for p in files) == b"".join(
        line + b"\n" for b in telemetry for line in json_lines(b)
    )


def test_files_rotate_by_time(tmp_path: Path, tricky_batches: list[Batch]) -> None:
    """rotate_s=0 finishes the files on every write: one file per batch and date."""
    alerts = tricky_batches[0]
    with open_sink(f"file://{tmp_path}?rotate_s=0") as sink:
        for i in range(3):
            sink.write_batch(alerts.slice(i, 1))
        assert sink.stats.flushes == 3
    assert len(list_files(tmp_path, "alert")) == 3


def test_sequence_numbers_continue_and_never_overwrite(
    tmp_path: Path, tricky_batches: list[Batch]
) -> None:
    """A second sink on the same directory appends part-000001 after part-000000; names depend
    only on what is already there, never on the clock."""
    events = tricky_batches[1].slice(0, 1)
    for _ in range(2):
        with open_sink(f"file://{tmp_path}/a?format=parquet") as sink:
            sink.write_batch(events)
    with open_sink(f"file://{tmp_path}/b?format=parquet") as sink:
        sink.write_batch(events)
    assert _names(tmp_path / "a") == [
        "station_event/date=2024-06-01/part-000000.parquet",
        "station_event/date=2024-06-01/part-000001.parquet",
    ]
    assert _names(tmp_path / "b") == ["station_event/date=2024-06-01/part-000000.parquet"]


def test_no_temporary_file_is_left_after_a_flush(tmp_path: Path, run_batches: list[Batch]) -> None:
    """Files are written under hidden .tmp names and renamed; after flush none remain."""
    with open_sink(f"file://{tmp_path}?format=parquet", batch_records=200) as sink:
        for b in run_batches:
            sink.write_batch(b)
            assert not [p for p in tmp_path.rglob("*.tmp")]
    assert all(not p.name.startswith(".") for p in tmp_path.rglob("*"))


def test_compressed_json_lines(tmp_path: Path) -> None:
    """compression=gzip writes .jsonl.gz files that decompress to the canonical lines."""
    batch = make_batch("alert", [{"timestamp": 0, "message": "ü"}])
    with open_sink(f"file://{tmp_path}?compression=gzip") as sink:
        sink.write_batch(batch)
    (path,) = list_files(tmp_path, "alert")
    assert path.name == "part-000000.jsonl.gz"
    assert gzip.decompress(path.read_bytes()) == json_lines(batch)[0] + b"\n"
