"""Small GTFS feeds that the tests build themselves.

:class:`FeedBuilder` holds a feed as tables of rows and writes it as a zip. :func:`add_line`
lays out a metro route: stations along a gently curving track, a ``shapes.txt`` polyline, and
trips in both directions whose running times come from an *independent* formula (constant
cruising speed plus a fixed start/stop overhead, with per-segment noise), not from the
project's physics, so a validation against it is not circular. Options reproduce what real
feeds do: parent stations with per-direction platforms, distances in feet or miles or none at
all, times rounded to the whole minute, ``frequencies.txt`` templates, loops and branches.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

M_PER_DEG_LAT = 111_195.0

#: A metro day: (from hour, headway s); a 5:30 start, peaks of 2.5 minutes, 10 minutes late.
METRO_DAY: tuple[tuple[float, float], ...] = (
    (5.5, 480),
    (7.0, 150),
    (9.5, 300),
    (16.5, 150),
    (19.0, 360),
    (22.0, 600),
)
METRO_END_H = 24.0


@dataclass
class FeedBuilder:
    """A GTFS feed as tables of rows (dicts), written to a zip by :meth:`write`."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, file: str, **row: Any) -> None:
        """Append one row to ``file``."""
        self.tables.setdefault(file, []).append(row)

    def write(
        self,
        path: Path,
        *,
        bom: bool = False,
        quote_all: bool = False,
        drop_files: Sequence[str] = (),
        drop_columns: dict[str, Sequence[str]] | None = None,
        folder: str = "",
        encoding: str = "utf-8",
    ) -> Path:
        """Write the feed as a zip at ``path`` (files under ``folder`` inside it if given)."""
        drop_columns = drop_columns or {}
        with zipfile.ZipFile(path, "w") as zf:
            for file, rows in self.tables.items():
                if file in drop_files:
                    continue
                cols: list[str] = []
                for r in rows:
                    cols += [c for c in r if c not in cols and c not in drop_columns.get(file, ())]
                buf = io.StringIO()
                w = csv.DictWriter(
                    buf,
                    cols,
                    extrasaction="ignore",
                    lineterminator="\r\n",
                    quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
                )
                w.writeheader()
                w.writerows(rows)
                text = ("\ufeff" if bom else "") + buf.getvalue()
                zf.writestr(folder + file, text.encode(encoding))
        return path


def hms(t: float) -> str:
    """Seconds after midnight as GTFS ``H:MM:SS``."""
    t = round(t)
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def track(
    spacings_m: Sequence[float],
    lat0: float = 48.85,
    lon0: float = 2.30,
    wiggle_m: float = 120.0,
    loop: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A track and stations on it: shape lat/lon (every ~25 m), and each station's distance along it.

    The track runs east with a sideways wiggle, so it is longer than the straight line between
    stations; ``loop`` bends it into a circle that closes on the first station.
    """
    stations_at = np.concatenate([[0.0], np.cumsum(spacings_m)])
    total = stations_at[-1]
    s = np.linspace(0.0, total, max(int(total / 25.0), 2) + 1)
    if loop:
        r = total / (2 * math.pi)
        ang = s / r
        x, y = r * np.sin(ang), r * (1 - np.cos(ang))
    else:
        # Arc length of a wiggly curve: integrate numerically and re-sample evenly.
        u = np.linspace(0.0, total, len(s) * 4)
        yy = wiggle_m * np.sin(u / 900.0)
        seg = np.hypot(np.diff(u), np.diff(yy))
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        scale = total / arc[-1]
        x = np.interp(s, arc * scale, u) * scale
        y = np.interp(s, arc * scale, yy) * scale
    lat = lat0 + y / M_PER_DEG_LAT
    lon = lon0 + x / (M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return lat, lon, s, stations_at


def departures(
    day: Sequence[tuple[float, float]] = METRO_DAY, end_h: float = METRO_END_H, phase_s: float = 0.0
) -> list[float]:
    """First-stop departures over a day of ``(from hour, headway)`` periods."""
    out, t = [], day[0][0] * 3600 + phase_s
    for k, (_, h) in enumerate(day):
        until = day[k + 1][0] * 3600 if k + 1 < len(day) else end_h * 3600
        while t < until:
            out.append(t)
            t += h
    return out


def scheduled_run_s(distance_m: float, cruise_kmh: float = 62.0, overhead_s: float = 24.0) -> float:
    """Independent running-time formula: distance at a constant speed plus a fixed overhead."""
    return distance_m / (cruise_kmh / 3.6) + overhead_s


def add_line(
    fb: FeedBuilder,
    route_id: str = "M1",
    short_name: str = "1",
    spacings_m: Sequence[float] = (900, 1200, 800, 1500, 1100),
    *,
    route_type: int = 1,
    lat0: float = 48.85,
    lon0: float = 2.30,
    stop_prefix: str | None = None,
    loop: bool = False,
    parents: bool = False,
    dist_unit: float | None = 1.0,
    shapes: bool = True,
    whole_minute: bool = False,
    dwell_s: float = 30.0,
    noise: float = 0.05,
    cruise_kmh: float = 62.0,
    overhead_s: float = 24.0,
    day: Sequence[tuple[float, float]] = METRO_DAY,
    frequencies: bool = False,
    direction_ids: bool = True,
    seed: int = 1,
    service_id: str = "WK",
    trip_prefix: str | None = None,
    more_trips: bool = False,
    holds: dict[int, float] | None = None,
) -> list[str]:
    """Add one route with both directions to ``fb``; return its station stop ids in order.

    ``dist_unit`` is metres per unit of ``shape_dist_traveled`` (None leaves it empty);
    ``more_trips`` adds trips (e.g. of another service) to a route added before with the same layout;
    ``holds`` maps a stop's position in a trip (1 = the second stop) to a timing hold, s, spent
    there with the departure after the arrival, on top of any dwell.
    """
    rng = np.random.default_rng(seed)
    prefix = stop_prefix if stop_prefix is not None else f"{route_id}S"
    tp = trip_prefix or route_id
    lat, lon, s, at = track(spacings_m, lat0, lon0, loop=loop)
    n = len(at) - (1 if loop else 0)
    names = [f"{route_id} Station {k + 1}" for k in range(n)]
    ids = [f"{prefix}{k + 1:02d}" for k in range(n)]
    st_lat = np.interp(at, s, lat)
    st_lon = np.interp(at, s, lon)
    known = any(r["route_id"] == route_id for r in fb.tables.get("routes.txt", []))
    if known != more_trips:
        raise ValueError(
            f"route {route_id}: more_trips={more_trips} but the route is {'' if known else 'not '}in the feed"
        )
    if not more_trips:
        fb.add(
            "routes.txt",
            route_id=route_id,
            agency_id="A",
            route_short_name=short_name,
            route_long_name=f"Line {short_name}",
            route_type=route_type,
            route_color="AA0000",
        )
        for k in range(n):
            if parents:
                fb.add(
                    "stops.txt",
                    stop_id=ids[k],
                    stop_name=names[k],
                    stop_lat=f"{st_lat[k]:.6f}",
                    stop_lon=f"{st_lon[k]:.6f}",
                    location_type=1,
                    parent_station="",
                )
                for d in (0, 1):
                    fb.add(
                        "stops.txt",
                        stop_id=f"{ids[k]}P{d}",
                        stop_name=f"{names[k]} platform {d + 1}",
                        stop_lat=f"{st_lat[k] + (d - 0.5) * 0.0001:.6f}",
                        stop_lon=f"{st_lon[k]:.6f}",
                        location_type=0,
                        parent_station=ids[k],
                    )
            else:
                fb.add(
                    "stops.txt",
                    stop_id=ids[k],
                    stop_name=names[k],
                    stop_lat=f"{st_lat[k]:.6f}",
                    stop_lon=f"{st_lon[k]:.6f}",
                    location_type="",
                    parent_station="",
                )
    seq_idx = list(range(n)) + ([0] if loop else [])
    seg_len = np.diff(at)
    run = {
        (d, k): scheduled_run_s(seg_len[k], cruise_kmh, overhead_s)
        * (1 + noise * rng.standard_normal())
        for d in (0, 1)
        for k in range(len(seg_len))
    }
    for d in (0, 1):
        shape_id = f"{route_id}_sh{d}"
        if shapes and not more_trips:
            order = range(len(s)) if d == 0 else range(len(s) - 1, -1, -1)
            for j, i in enumerate(order):
                fb.add(
                    "shapes.txt",
                    shape_id=shape_id,
                    shape_pt_lat=f"{lat[i]:.7f}",
                    shape_pt_lon=f"{lon[i]:.7f}",
                    shape_pt_sequence=j + 1,
                )
        stops_d = seq_idx if d == 0 else seq_idx[::-1]
        pos_d = list(at) if d == 0 else list(at[-1] - at[::-1])
        segs = list(range(len(seg_len))) if d == 0 else list(range(len(seg_len)))[::-1]
        starts = departures(day, phase_s=0.0 if d == 0 else 75.0)
        starts_used = [starts[0]] if frequencies else starts
        for j, t0 in enumerate(starts_used):
            trip_id = f"{tp}_{d}_{j:04d}"
            fb.add(
                "trips.txt",
                route_id=route_id,
                service_id=service_id,
                trip_id=trip_id,
                direction_id=d if direction_ids else "",
                shape_id=shape_id if shapes else "",
            )
            t = t0
            for k, stop in enumerate(stops_d):
                inside = 0 < k < len(stops_d) - 1
                hold = (holds or {}).get(k, 0.0) if inside else 0.0
                arr = t
                dep = t + dwell_s + hold if inside else t
                if whole_minute:
                    arr, dep = round(arr / 60) * 60, round(dep / 60) * 60
                stop_id = f"{ids[stop]}P{d}" if parents else ids[stop]
                fb.add(
                    "stop_times.txt",
                    trip_id=trip_id,
                    arrival_time=hms(arr),
                    departure_time=hms(dep),
                    stop_id=stop_id,
                    stop_sequence=(k + 1) * 10,
                    shape_dist_traveled="" if dist_unit is None else f"{pos_d[k] / dist_unit:.4f}",
                )
                if k < len(segs):
                    t = t + (0 if k == 0 else dwell_s) + hold + run[(d, segs[k])]
            if frequencies:
                for (h0, head), nxt in zip(
                    day, [*[p[0] for p in day[1:]], METRO_END_H], strict=True
                ):
                    fb.add(
                        "frequencies.txt",
                        trip_id=trip_id,
                        start_time=hms(h0 * 3600),
                        end_time=hms(nxt * 3600),
                        headway_secs=int(head),
                    )
    return ids


def base_feed(calendar: bool = True) -> FeedBuilder:
    """A feed with an agency and (optionally) a weekday calendar for service ``WK``."""
    fb = FeedBuilder()
    fb.add(
        "agency.txt",
        agency_id="A",
        agency_name="Test Transit",
        agency_url="https://example.invalid",
        agency_timezone="Europe/Paris",
    )
    if calendar:
        fb.add(
            "calendar.txt",
            service_id="WK",
            monday=1,
            tuesday=1,
            wednesday=1,
            thursday=1,
            friday=1,
            saturday=0,
            sunday=0,
            start_date="20260105",
            end_date="20260403",
        )
        fb.add(
            "calendar.txt",
            service_id="WE",
            monday=0,
            tuesday=0,
            wednesday=0,
            thursday=0,
            friday=0,
            saturday=1,
            sunday=1,
            start_date="20260105",
            end_date="20260403",
        )
    return fb


@pytest.fixture
def write_feed(tmp_path: Path) -> Callable[..., Path]:
    """Write a :class:`FeedBuilder` to ``tmp_path/<name>.zip`` (keyword options as in ``write``)."""

    def _write(fb: FeedBuilder, name: str = "feed", **options: Any) -> Path:
        return fb.write(tmp_path / f"{name}.zip", **options)

    return _write


@pytest.fixture
def feeds() -> SimpleNamespace:
    """The feed-building helpers of this module, for tests (conftest modules are not importable)."""
    return SimpleNamespace(
        FeedBuilder=FeedBuilder,
        add_line=add_line,
        base_feed=base_feed,
        hms=hms,
        departures=departures,
        scheduled_run_s=scheduled_run_s,
        METRO_DAY=METRO_DAY,
    )
