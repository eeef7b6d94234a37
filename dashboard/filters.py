"""What the sidebar selected (:class:`Filters`) and the ``WHERE`` clauses built from it.

Only identifiers from fixed allow-lists are ever spliced into SQL text; every value is a bound
``$name`` parameter. Time filters take a window ``[start, end]`` of *simulated* time; the page
derives it from the run's latest record. Times are compared on the typed tables' own
``TIMESTAMP WITH TIME ZONE`` columns, so DuckDB skips the row groups outside the window (its
min/max statistics per row group; rows are written in time order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dashboard.execution import PARAM

__all__ = ["TSTZ", "Filters", "Where", "epoch_bucket", "floor_hour", "where"]

TSTZ = "TIMESTAMP WITH TIME ZONE"


@dataclass(frozen=True)
class Filters:
    """What the sidebar selected: a run, lines and trains (empty = all), a time window."""

    run_id: str
    lines: tuple[str, ...] = ()
    trains: tuple[str, ...] = ()
    #: Start of the time window (inclusive), or None for the start of the run.
    start: datetime | None = None
    #: End of the time window (inclusive), or None for the latest record.
    end: datetime | None = None


@dataclass
class Where:
    """Builds a ``WHERE`` clause and its parameters from filters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def eq(self, column: str, name: str, value: Any) -> Where:
        """``column = $name``."""
        self.clauses.append(f"{column} = ${name}")
        self.params[name] = value
        return self

    def among(self, column: str, name: str, values: Sequence[Any]) -> Where:
        """``column IN (...)``; nothing when ``values`` is empty (all of them)."""
        if values:
            names = [f"{name}_{i}" for i in range(len(values))]
            self.clauses.append(f"{column} IN ({', '.join('$' + n for n in names)})")
            self.params.update(zip(names, values, strict=True))
        return self

    def time(
        self, column: str, start: datetime | None, end: datetime | None, *, before: bool = False
    ) -> Where:
        """``start <= column <= end`` (``column < end`` with ``before``); None bounds are open."""
        if start is not None:
            name = f"t{len(self.params)}"
            self.clauses.append(f"{column} >= CAST(${name} AS {TSTZ})")
            self.params[name] = start
        if end is not None:
            name = f"t{len(self.params)}"
            self.clauses.append(f"{column} {'<' if before else '<='} CAST(${name} AS {TSTZ})")
            self.params[name] = end
        return self

    def renamed(self, prefix: str) -> Where:
        """This clause with every parameter renamed ``prefix_name``, to combine two in one query."""
        out = Where()
        for clause in self.clauses:
            out.clauses.append(PARAM.sub(lambda m: f"${prefix}_{m.group(1)}", clause))
        out.params = {f"{prefix}_{k}": v for k, v in self.params.items()}
        return out

    def sql(self) -> str:
        """``WHERE a AND b ...``, or nothing."""
        return "WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def where(
    f: Filters, *, trains: bool = True, time_column: str | None = "TIMESTAMP", hourly: bool = False
) -> Where:
    """The run, lines, trains (unless ``trains=False``) and window of ``f`` as a clause.

    ``hourly``: ``time_column`` holds hours, so the window starts at the hour of ``f.start``.
    """
    w = Where().eq("RUN_ID", "run_id", f.run_id).among("LINE_ID", "line", f.lines)
    if trains:
        w.among("TRAIN_ID", "train", f.trains)
    if time_column is not None:
        start = floor_hour(f.start) if hourly and f.start is not None else f.start
        w.time(time_column, start, f.end)
    return w


def floor_hour(ts: datetime) -> datetime:
    """``ts`` truncated to its hour."""
    return ts.replace(minute=0, second=0, microsecond=0)


def epoch_bucket(column: str, width_s: int) -> str:
    """SQL for the number of the ``width_s``-second bucket since the epoch of a timestamp column.

    Integer arithmetic on the epoch second, the same text in DuckDB and Snowflake (``EPOCH`` is
    Snowflake's ``EPOCH_SECOND``); in DuckDB it costs a fraction of ``time_bucket`` or
    ``date_trunc`` on a ``TIMESTAMP WITH TIME ZONE``, which go through the time zone library.
    """
    return f"FLOOR(EXTRACT(EPOCH FROM {column}) / {int(width_s)})"
