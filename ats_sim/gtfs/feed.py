"""Reading a GTFS feed: its tables as strings, checked at the edge.

A feed is a zip archive (or a folder) of CSV files. Real feeds are messy: a byte-order mark
before the header (or a whole file in UTF-16), text in Windows-1252, quoted fields, spaces after
commas, columns nobody asked for, the files one folder down inside the zip. :class:`Feed` copes with all of that and with nothing else: a
missing file or column, an empty required field or a time that is not ``H:MM:SS`` raises
:class:`GtfsError`, whose one line names the feed, the file inside it, the row and the field.
Row numbers count the header as row 1, as a spreadsheet does.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, cast

import numpy as np
import pandas as pd

from ats_sim.errors import ConfigError

__all__ = ["REQUIRED_COLUMNS", "Feed", "GtfsError", "parse_times"]


class GtfsError(ConfigError):
    """A GTFS feed that cannot be read or does not describe what was asked for."""


#: Columns this package needs from each file it reads (the spec requires more; we ask for less).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "trip_id"),
    "stops.txt": ("stop_id",),
    "stop_times.txt": ("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time"),
    "shapes.txt": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
    "calendar.txt": (
        "service_id",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "start_date",
        "end_date",
    ),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "agency.txt": (),
}

_TIME = re.compile(r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d)\s*$")


class Feed:
    """The files of one GTFS feed, read lazily and cached, every value a stripped string."""

    def __init__(self, source: str | Path) -> None:
        self.path = Path(source)
        self.label = self.path.name or str(self.path)
        self._members: dict[str, str] = {}
        self._zip: zipfile.ZipFile | None = None
        #: Per file: the columns asked for so far, and the table read with them.
        self._cache: dict[str, tuple[set[str], pd.DataFrame]] = {}
        #: Per file read: its header line, as error messages quote it.
        self._headers: dict[str, str] = {}
        if self.path.is_dir():
            self._members = {p.name: str(p) for p in self.path.glob("*.txt")}
        elif self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise GtfsError(f"{self.label}: not a GTFS zip archive ({exc})") from None
            for name in self._zip.namelist():
                base = PurePosixPath(name).name
                # A file at the top level wins over one in a sub-folder.
                wanted = base.endswith(".txt") and not name.startswith("__MACOSX")
                if wanted and (base not in self._members or "/" not in name):
                    self._members[base] = name
        else:
            raise GtfsError(f"{self.path}: no such file or folder (expected a GTFS .zip)")

    def has(self, filename: str) -> bool:
        """Whether the feed contains ``filename`` (e.g. ``shapes.txt``)."""
        return filename in self._members

    def where(self, filename: str, row: int | None = None, field: str | None = None) -> str:
        """``feed.zip: stops.txt row 7 field stop_lat``: the prefix of every error message."""
        out = f"{self.label}: {filename}"
        if row is not None:
            out += f" row {row}"
        if field is not None:
            out += f": field {field}"
        return out

    def _read_text(self, filename: str) -> str:
        member = self._members[filename]
        try:
            raw = self._zip.read(member) if self._zip is not None else Path(member).read_bytes()
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
            raise GtfsError(f"{self.where(filename)}: cannot be read ({exc})") from None
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16, as some spreadsheets save CSV
            return raw.decode("utf-16", errors="replace")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return raw.decode("cp1252", errors="replace")

    def table(self, filename: str, optional: Sequence[str] = ()) -> pd.DataFrame:
        """``filename`` as a DataFrame of strings with its required and present optional columns.

        A DataFrame index ``i`` is file row ``i + 2`` (the header is row 1).
        """
        required = REQUIRED_COLUMNS.get(filename, ())
        wanted = set(required) | set(optional)
        if filename in self._cache:
            asked, cached = self._cache[filename]
            if wanted <= asked:
                return cached
            wanted |= asked
        if not self.has(filename):
            raise GtfsError(f"{self.where(filename)}: missing from the feed (a GTFS feed needs it)")
        text = self._read_text(filename)
        if not text.strip():
            raise GtfsError(f"{self.where(filename)}: is empty (expected a header row)")
        try:
            df = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skipinitialspace=True,
                index_col=False,
                usecols=lambda c: c.strip() in wanted,
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise GtfsError(f"{self.where(filename)}: not valid CSV ({str(exc).strip()})") from None
        df.columns = [c.strip() for c in df.columns]
        df = df.loc[:, ~df.columns.duplicated()]
        self._headers[filename] = text.lstrip("\ufeff").splitlines()[0]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise self.missing_columns(filename, missing)
        for col in df.columns:
            df[col] = df[col].str.strip()
        df = df.reset_index(drop=True)
        self._cache[filename] = (wanted, df)
        return df

    def missing_columns(self, filename: str, columns: Sequence[str], why: str = "") -> GtfsError:
        """The error for ``columns`` absent from the header of ``filename`` (read already).

        ``why`` says what needs them, for columns the GTFS spec makes conditional.
        """
        header = self._headers.get(filename, "")
        return GtfsError(
            f"{self.where(filename)}: missing column {', '.join(columns)} "
            f"(header is: {header[:120]})" + (f"; {why}" if why else "")
        )

    def require_values(self, filename: str, column: str, rows: pd.Index | None = None) -> None:
        """Raise if ``column`` is empty in any of ``rows`` (default: every row)."""
        df = self.table(filename)
        col = df[column] if rows is None else df.loc[rows, column]
        empty = col.index[col == ""]
        if len(empty):
            raise GtfsError(f"{self.where(filename, int(empty[0]) + 2, column)} is empty")

    def require_unique(self, filename: str, column: str) -> None:
        """Raise if a value of ``column`` (an id) appears twice in ``filename``."""
        df = self.table(filename)
        dup = df[column].duplicated()
        if dup.any():
            # table() gives a RangeIndex, so row labels are ints.
            i = int(cast(int, dup.idxmax()))
            raise GtfsError(
                f"{self.where(filename, i + 2, column)}: {df.at[i, column]!r} appears twice; "
                "ids must be unique"
            )

    def numbers(
        self, filename: str, column: str, rows: pd.Index | None = None, allow_empty: bool = False
    ) -> pd.Series:
        """``column`` as floats (NaN where empty and ``allow_empty``); a bad value raises."""
        df = self.table(filename)
        col = df[column] if rows is None else df.loc[rows, column]
        out = pd.to_numeric(col.where(col != "", None), errors="coerce").astype(float)
        bad = out.isna() & (col != "")
        if bad.any():
            i = cast(int, bad.idxmax())  # row labels of table() are ints
            raise GtfsError(
                f"{self.where(filename, int(i) + 2, column)}: {col[i]!r} is not a number"
            )
        if not allow_empty and out.isna().any():
            i = cast(int, out.isna().idxmax())
            raise GtfsError(f"{self.where(filename, int(i) + 2, column)} is empty")
        return out

    def times(self, filename: str, column: str, rows: pd.Index | None = None) -> pd.Series:
        """``column`` (``H:MM:SS``, hours may pass 24) as seconds after midnight; NaN where empty."""
        df = self.table(filename)
        col = df[column] if rows is None else df.loc[rows, column]
        return parse_times(col, lambda i: self.where(filename, int(i) + 2, column))


def parse_times(col: pd.Series, where: Callable[[Any], str]) -> pd.Series:
    """GTFS times to seconds after midnight (NaN where empty); ``where(index)`` names a bad row.

    ``HH:MM:SS`` and ``H:MM:SS`` are decoded as bytes with NumPy (stop_times.txt has millions of
    rows); anything else (three-digit hours, a bad value) goes through a regular expression.
    """
    text = col.to_numpy(dtype=str)
    out = np.full(len(text), np.nan)
    lengths = np.char.str_len(text)
    padded = np.where(lengths == 7, np.char.add("0", text), text)
    fast = (lengths == 7) | (lengths == 8)
    if fast.any():
        raw = np.frombuffer(padded[fast].astype("S8").tobytes(), dtype=np.uint8).reshape(-1, 8)
        digits = raw.astype(np.int64) - ord("0")
        num = np.delete(digits, [2, 5], axis=1)
        ok = (
            (raw[:, 2] == ord(":"))
            & (raw[:, 5] == ord(":"))
            & np.all((num >= 0) & (num <= 9), axis=1)
            & (num[:, 2] <= 5)
            & (num[:, 4] <= 5)
        )
        secs = (
            (num[:, 0] * 10 + num[:, 1]) * 3600
            + (num[:, 2] * 10 + num[:, 3]) * 60
            + num[:, 4] * 10
            + num[:, 5]
        )
        idx = np.flatnonzero(fast)
        out[idx[ok]] = secs[ok]
        fast[idx[~ok]] = False
    for i in np.flatnonzero(~fast & (lengths > 0)):
        value = str(text[i])
        m = _TIME.match(value)
        if m is None:
            # pandas-stubs: Index.__getitem__ does not list NumPy integers (it accepts them).
            raise GtfsError(f"{where(col.index[i])}: {value!r} is not a time of day like 08:15:00")  # type: ignore[call-overload]
        out[i] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    return pd.Series(out, index=col.index)
