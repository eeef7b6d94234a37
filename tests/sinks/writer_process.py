"""A writer process for the multi-process tests: appends telemetry batches until killed.

    python writer_process.py DIR ROWS FIRST [COUNT [duckdb|all]]

writes batch FIRST, FIRST+1, ... (COUNT of them, or forever when COUNT is 0) of ROWS telemetry
records each, flushing after every batch, into ``DIR/ats.duckdb`` and (with ``all``, the
default) Parquet and JSON Lines file sets under ``DIR``, and prints ``flushed K`` after each
flush.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

from ats_sim.records import TELEMETRY, Batch
from sinks import open_sinks


def telemetry_batch(k: int, rows: int) -> Batch:
    """Batch number ``k``: ``rows`` records with unique ids, one second later per batch."""
    i = np.arange(rows)
    ts = 1_717_200_000_000 + k * 1000 + i % 1000
    return Batch.from_columns(
        TELEMETRY,
        {
            "record_id": [f"w:{k}:{j}" for j in range(rows)],
            "record_type": ["telemetry"] * rows,
            "schema_version": np.ones(rows, dtype=np.int64),
            "run_id": ["writer"] * rows,
            "timestamp": ts,
            "line_id": ["L1"] * rows,
            "train_id": [f"T{j % 20}" for j in range(rows)],
            "trip_id": ["trip"] * rows,
            "direction": (i % 2).astype(np.int64),
            "status": ["running"] * rows,
            "prev_station": ["S1"] * rows,
            "next_station": ["S2"] * rows,
            **{
                name: np.round(np.random.default_rng(k).uniform(0, 100, rows), 2)
                for name in (
                    "chainage_m",
                    "latitude",
                    "longitude",
                    "speed_kmh",
                    "acceleration_ms2",
                    "load_factor",
                    "total_weight_tons",
                    "power_draw_kw",
                    "energy_kwh",
                    "regen_energy_kwh",
                )
            },
            "passenger_count": (i % 900).astype(np.int64),
            "is_overcrowded": i % 7 == 0,
            "is_high_power_draw": i % 11 == 0,
        },
    )


def main() -> None:
    root = Path(sys.argv[1])
    rows, first = int(sys.argv[2]), int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    urls = [f"duckdb://{root}/ats.duckdb"]
    if (sys.argv[5] if len(sys.argv) > 5 else "all") == "all":
        urls += [f"file://{root}/parquet?format=parquet", f"file://{root}/jsonl?format=jsonl"]
    ks = range(first, first + count) if count else itertools.count(first)
    with open_sinks(urls, batch_records=rows, batch_seconds=3600) as sink:
        for k in ks:
            sink.write_batch(telemetry_batch(k, rows))  # reaches batch_records: flushes
            print(f"flushed {k}", flush=True)


if __name__ == "__main__":
    main()
