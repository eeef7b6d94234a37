"""Whether this DuckDB writes the canonical JSON of records, checked once per process.

The DuckDB sink lets DuckDB build ``RECORD_CONTENT`` inside the ``INSERT``
(:func:`sinks.raw.content_sql`) for the rows :func:`sinks.raw.sql_exact_rows` accepts. That is
only right while this DuckDB's ``to_json`` and ``strftime`` write what orjson writes;
:func:`sql_json_is_canonical` holds them to :func:`ats_sim.records.json_lines_array` on sample
records of every type, and the sink encodes every row in Python when they differ.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ats_sim.records import RECORD_TYPES, Batch, RecordType, json_lines_array
from sinks.raw import content_sql

__all__ = ["probe_batch", "sql_json_is_canonical"]

log = logging.getLogger(__name__)


def probe_batch(rtype: RecordType) -> Batch:
    """A few records of ``rtype`` with the values the simulation writes (and some it might)."""
    n = 6
    kinds: dict[str, Any] = {
        "timestamp": np.array([0, 1_717_200_000_123, -1, 253_402_300_799_999, 86_399_999, 5]),
        "string": ["R-01", "Gare d'Été", "a/b <c>", "仅站台 😀", "x y", "\u2028 \u00e9"],
        "int": np.array([0, -1, 2**62, 7, 1500, -(2**63)], dtype=np.int64),
        "float": np.array([0.0, -0.0, 3.0, 0.1 + 0.2, 123456.789, 1e-5]),
        "bool": np.array([True, False, True, False, True, False]),
    }
    cols = {f.name: kinds[f.kind] for f in rtype.fields}
    for f in rtype.fields:
        if f.nullable:
            cols[f.name] = [*pa.array(cols[f.name], f.arrow_type).to_pylist()[:-1], None]
    assert all(len(v) == n for v in cols.values())
    return Batch.from_columns(rtype, cols)


@functools.cache
def sql_json_is_canonical() -> bool:
    """Whether this DuckDB's ``to_json`` (:func:`sinks.raw.content_sql`) writes the canonical
    JSON of sample records of every type, byte for byte. Checked once per process; when it
    does not (another DuckDB version), the sink encodes every row with
    :func:`ats_sim.records.json_lines_array` instead."""
    con = duckdb.connect(":memory:")
    try:
        for rtype in RECORD_TYPES.values():
            batch = probe_batch(rtype)
            con.register("ats_probe", pa.Table.from_batches([batch.data]))
            got = con.sql(f"SELECT {content_sql(rtype)}::VARCHAR FROM ats_probe").to_arrow_table()
            con.unregister("ats_probe")
            if got.column(0).to_pylist() != json_lines_array(batch).to_pylist():
                log.warning(
                    "DuckDB %s: to_json differs from the canonical JSON; "
                    "encoding RECORD_CONTENT in Python",
                    duckdb.__version__,
                )
                return False
    finally:
        con.close()
    return True
