"""The in-memory sink: batches kept as Arrow, read back as Arrow tables or pandas DataFrames."""

from __future__ import annotations

from typing import Any, Self

import pandas as pd
import pyarrow as pa

from ats_sim.records import RECORD_TYPES, Batch
from sinks.base import Sink
from sinks.url import SinkURL

__all__ = ["MemorySink"]


class MemorySink(Sink):
    """Keeps every batch in memory (the library API's sink, and the testing sink).

    Delivery: exactly once within the process; nothing survives the process. ``flush()`` makes
    the buffered batches visible to :meth:`table` (there is nothing more durable to reach).
    """

    scheme = "memory"
    delivery = "exactly once, in this process's memory only"

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("batch_records", 1)
        super().__init__(**kw)
        self._batches: dict[str, list[pa.RecordBatch]] = {name: [] for name in RECORD_TYPES}

    @classmethod
    def from_url(cls, url: SinkURL, **options: Any) -> Self:
        """``memory://`` takes no options."""
        return cls(**options)

    def _write(self, batches: list[Batch]) -> int:
        size = 0
        for b in batches:
            self._batches[b.type.name].append(b.data)
            size += b.data.nbytes
        return size

    def table(self, record_type: str) -> pa.Table:
        """Every flushed record of ``record_type`` as one Arrow table."""
        rtype = RECORD_TYPES[record_type]
        return pa.Table.from_batches(self._batches[record_type], schema=rtype.arrow_schema)

    def dataframe(self, record_type: str) -> pd.DataFrame:
        """Every flushed record of ``record_type`` as a pandas DataFrame."""
        return self.table(record_type).to_pandas()
