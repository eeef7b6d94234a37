"""From a feed's tables to stations, routes and trips: what the importer and validator share.

- :class:`Stations` resolves every stop to its station (the parent station where the feed has
  one, climbing from boarding area to platform to station) with its name and coordinates.
- :func:`select_routes` picks routes by id, short or long name, or by type (metro by default).
- :func:`load_trips` reads the chosen routes' trips with their stop times in ``stop_sequence``
  order, runs of ``frequencies.txt`` templates, and checks that times do not run backwards.
- :func:`service_day` finds which services run on a date (the busiest one unless asked).
- :func:`route_line_ids` gives every route the line id used in a scenario, the same way for
  import and validation, so a scenario can be checked against its feed without extra files.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ats_sim.gtfs.feed import Feed, GtfsError

__all__ = [
    "METRO_TYPES",
    "RAIL_TYPES",
    "ROUTE_TYPE_NAMES",
    "Stations",
    "Trip",
    "load_trips",
    "route_line_ids",
    "select_routes",
    "service_day",
]

#: Route types that mean a metro: GTFS 1 and the extended urban-rail types 400-404.
METRO_TYPES: tuple[int, ...] = (1, 400, 401, 402, 403, 404)
#: Route types that mean rail: GTFS 2 and the extended railway types 100-117.
RAIL_TYPES: tuple[int, ...] = (2, *range(100, 118))
ROUTE_TYPE_NAMES = {
    0: "tram",
    1: "metro",
    2: "rail",
    3: "bus",
    4: "ferry",
    5: "cable tram",
    6: "aerial lift",
    7: "funicular",
    11: "trolleybus",
    12: "monorail",
}
#: Route types whose vehicles are pulled by a cable: the train model cannot represent them.
CABLE_TYPES: frozenset[int] = frozenset({5, 6, 7, *range(1300, 1308), 1400})


class Stations:
    """Stops resolved to stations, with names and coordinates (read from ``stops.txt``)."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        df = feed.table(
            "stops.txt",
            optional=("stop_name", "stop_lat", "stop_lon", "location_type", "parent_station"),
        )
        for col in ("stop_name", "stop_lat", "stop_lon", "location_type", "parent_station"):
            if col not in df.columns:
                df[col] = ""
        _unique(feed, "stops.txt", df, "stop_id")
        self._row = {sid: i for i, sid in enumerate(df["stop_id"])}
        self._df = df
        lat = (
            feed.numbers("stops.txt", "stop_lat", allow_empty=True)
            if (df["stop_lat"] != "").any()
            else pd.Series(np.nan, index=df.index)
        )
        lon = (
            feed.numbers("stops.txt", "stop_lon", allow_empty=True)
            if (df["stop_lon"] != "").any()
            else pd.Series(np.nan, index=df.index)
        )
        self._lat = lat.to_numpy()
        self._lon = lon.to_numpy()
        parent = dict(zip(df["stop_id"], df["parent_station"], strict=True))
        ltype = dict(zip(df["stop_id"], df["location_type"], strict=True))
        self._station: dict[str, str] = {}
        for sid in df["stop_id"]:
            cur, hops = sid, 0
            while ltype.get(cur, "") != "1" and parent.get(cur, "") in self._row and hops < 4:
                cur, hops = parent[cur], hops + 1
            self._station[sid] = cur
        self._children: dict[str, list[str]] = {}
        for sid, st in self._station.items():
            self._children.setdefault(st, []).append(sid)

    def __contains__(self, stop_id: object) -> bool:
        return stop_id in self._row

    @property
    def stop_ids(self) -> list[str]:
        """Every stop id in ``stops.txt``."""
        return list(self._row)

    def station(self, stop_id: str) -> str:
        """The station a stop belongs to (itself when it has no parent station)."""
        return self._station[stop_id]

    def name(self, stop_id: str) -> str:
        """The stop's name, or its id when the feed gives none."""
        name = str(self._df.at[self._row[stop_id], "stop_name"])
        return name or stop_id

    def stop_coords(self, stop_id: str) -> tuple[float, float]:
        """Latitude and longitude of the stop itself (NaN when missing)."""
        i = self._row[stop_id]
        return float(self._lat[i]), float(self._lon[i])

    def coords(self, station_id: str) -> tuple[float, float]:
        """Latitude and longitude of a station: its own, else the mean of its platforms'.

        Raises :class:`GtfsError` naming the row when neither the station nor any of its
        platforms has coordinates.
        """
        lat, lon = self.stop_coords(station_id)
        if not (math.isnan(lat) or math.isnan(lon)):
            return lat, lon
        kids = [self.stop_coords(k) for k in self._children.get(station_id, []) if k != station_id]
        kids = [c for c in kids if not (math.isnan(c[0]) or math.isnan(c[1]))]
        if kids:
            return float(np.mean([c[0] for c in kids])), float(np.mean([c[1] for c in kids]))
        field_ = "stop_lat" if math.isnan(lat) else "stop_lon"
        raise GtfsError(
            f"{self.feed.where('stops.txt', self._row[station_id] + 2, field_)} is empty for stop "
            f"{station_id!r} ({self.name(station_id)}): a station the line serves needs coordinates"
        )


def _unique(feed: Feed, filename: str, df: pd.DataFrame, column: str) -> None:
    dup = df[column].duplicated()
    if dup.any():
        i = int(dup.idxmax())
        raise GtfsError(
            f"{feed.where(filename, i + 2, column)}: {df.at[i, column]!r} appears twice; ids must be unique"
        )


def _routes(feed: Feed) -> pd.DataFrame:
    df = feed.table("routes.txt", optional=("route_short_name", "route_long_name", "route_color"))
    _unique(feed, "routes.txt", df, "route_id")
    for col in ("route_short_name", "route_long_name", "route_color"):
        if col not in df.columns:
            df[col] = ""
    return df


def route_line_ids(feed: Feed) -> dict[str, str]:
    """Line id for every route: its short name where that is unique in the feed, else its id."""
    df = _routes(feed)
    short = Counter(s for s in df["route_short_name"] if s)
    route_ids = set(df["route_id"])
    out: dict[str, str] = {}
    for rid, sn in zip(df["route_id"], df["route_short_name"], strict=True):
        clash = sn in route_ids and sn != rid
        out[rid] = sn if sn and short[sn] == 1 and not clash else rid
    return out


@dataclass(frozen=True)
class RouteInfo:
    """One route of the feed."""

    route_id: str
    line_id: str
    short_name: str
    long_name: str
    route_type: int
    color: str

    @property
    def label(self) -> str:
        """How the route is named to people."""
        name = " ".join(p for p in (self.short_name, self.long_name) if p)
        return f"{name} ({self.route_id})" if name and name != self.route_id else self.route_id


def _type_name(t: int) -> str:
    return ROUTE_TYPE_NAMES.get(
        t, "metro" if t in METRO_TYPES else "rail" if t in RAIL_TYPES else f"type {t}"
    )


def select_routes(
    feed: Feed, routes: Sequence[str] | None, route_types: Iterable[int]
) -> list[RouteInfo]:
    """The routes asked for: by id or name when ``routes`` is given, else all of ``route_types``."""
    df = _routes(feed)
    types = feed.numbers("routes.txt", "route_type")
    ids = route_line_ids(feed)
    infos = [
        RouteInfo(rid, ids[rid], sn, ln, int(t), f"#{c}" if len(c) == 6 else "#1f77b4")
        for rid, sn, ln, t, c in zip(
            df["route_id"],
            df["route_short_name"],
            df["route_long_name"],
            types,
            df["route_color"],
            strict=True,
        )
    ]
    wanted = set(route_types)
    if routes:
        chosen: list[RouteInfo] = []
        for ref in routes:
            hits = [r for r in infos if ref in (r.route_id, r.short_name, r.long_name)]
            if not hits:
                known = (
                    ", ".join(r.short_name or r.route_id for r in infos if r.route_type in wanted)
                    or "none"
                )
                raise GtfsError(
                    f"{feed.where('routes.txt')}: no route with id or name {ref!r} "
                    f"(routes of the chosen type: {known})"
                )
            for r in hits:
                if r.route_type not in wanted:
                    raise GtfsError(
                        f"{feed.where('routes.txt')}: route {r.label} is route_type {r.route_type} "
                        f"({_type_name(r.route_type)}), not one of {sorted(wanted)}; pass --route-type "
                        f"{r.route_type} to import it"
                    )
                if r not in chosen:
                    chosen.append(r)
        return chosen
    chosen = [r for r in infos if r.route_type in wanted]
    if not chosen:
        present = Counter(_type_name(r.route_type) for r in infos)
        have = ", ".join(f"{n} {k}" for k, n in present.most_common()) or "no routes"
        raise GtfsError(
            f"{feed.where('routes.txt')}: no route of route_type {', '.join(map(str, sorted(wanted)))} "
            f"(the feed has {have}); use --route-type or --rail"
        )
    return chosen


@dataclass
class Trip:
    """One trip in ``stop_sequence`` order: stops, their stations and times (s after midnight)."""

    trip_id: str
    route_id: str
    direction: str
    service_id: str
    shape_id: str
    stops: tuple[str, ...]
    stations: tuple[str, ...]
    arrival: np.ndarray
    departure: np.ndarray
    dist: np.ndarray
    #: Departure from the first stop of each run (several for a frequencies.txt template).
    runs: list[float] = field(default_factory=list)

    @property
    def pattern(self) -> tuple[str, ...]:
        """Stations served, with a station repeated back to back (a platform change) kept once."""
        out = [self.stations[0]]
        for s in self.stations[1:]:
            if s != out[-1]:
                out.append(s)
        return tuple(out)


def load_trips(feed: Feed, stations: Stations, route_ids: Iterable[str]) -> list[Trip]:
    """Every trip of the given routes, checked: known stops, ordered sequences, times forward."""
    route_ids = set(route_ids)
    tdf = feed.table("trips.txt", optional=("direction_id", "service_id", "shape_id"))
    for col in ("direction_id", "service_id", "shape_id"):
        if col not in tdf.columns:
            tdf[col] = ""
    _unique(feed, "trips.txt", tdf, "trip_id")
    tdf = tdf[tdf["route_id"].isin(route_ids)]
    meta = {r.trip_id: r for r in tdf.itertuples(index=False)}
    st = feed.table("stop_times.txt", optional=("shape_dist_traveled",))
    rows = st.index[st["trip_id"].isin(meta.keys())]
    if not len(rows):
        return []
    sub = st.loc[rows]
    seq = feed.numbers("stop_times.txt", "stop_sequence", rows)
    arr = feed.times("stop_times.txt", "arrival_time", rows)
    dep = feed.times("stop_times.txt", "departure_time", rows)
    arr, dep = arr.fillna(dep), dep.fillna(arr)
    if "shape_dist_traveled" in sub.columns:
        dist = feed.numbers("stop_times.txt", "shape_dist_traveled", rows, allow_empty=True)
    else:
        dist = pd.Series(np.nan, index=rows)
    unknown = ~sub["stop_id"].isin(stations.stop_ids)
    if unknown.any():
        i = unknown.idxmax()
        raise GtfsError(
            f"{feed.where('stop_times.txt', int(i) + 2, 'stop_id')}: {sub.at[i, 'stop_id']!r} is not a stop in stops.txt"
        )
    frame = pd.DataFrame(
        {
            "trip": sub["trip_id"],
            "seq": seq,
            "stop": sub["stop_id"],
            "arr": arr,
            "dep": dep,
            "dist": dist,
            "row": rows + 2,
        }
    )
    frame = frame.sort_values(["trip", "seq"], kind="stable")
    dup = frame.duplicated(["trip", "seq"], keep="first")
    if dup.any():
        r = frame[dup].iloc[0]
        raise GtfsError(
            f"{feed.where('stop_times.txt', int(r['row']), 'stop_sequence')}: trip {r['trip']!r} "
            f"has stop_sequence {r['seq']:g} twice"
        )
    runs = _frequency_runs(feed, set(meta))
    trips: list[Trip] = []
    col_trip = frame["trip"].to_numpy(dtype=object)
    col_stop = frame["stop"].to_numpy(dtype=object)
    col_arr, col_dep = frame["arr"].to_numpy(float), frame["dep"].to_numpy(float)
    col_dist, col_seq = frame["dist"].to_numpy(float), frame["seq"].to_numpy(float)
    col_row = frame["row"].to_numpy()
    bounds = np.flatnonzero(col_trip[1:] != col_trip[:-1]) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(frame)], strict=True):
        trip_id = str(col_trip[lo])
        a, d = col_arr[lo:hi], col_dep[lo:hi]
        times = np.column_stack([a, d]).ravel()
        timed = np.flatnonzero(~np.isnan(times))
        back = np.flatnonzero(np.diff(times[timed]) < 0)
        if len(back):
            k = lo + int(timed[back[0] + 1] // 2)
            raise GtfsError(
                f"{feed.where('stop_times.txt', int(col_row[k]), 'stop_sequence')}: trip {trip_id!r} "
                f"goes back in time at stop_sequence {col_seq[k]:g} (stop {col_stop[k]!r}): "
                "stop_sequence order does not match the times"
            )
        if hi - lo < 2 or np.isnan(d[0]) or np.isnan(a[-1]):
            continue
        m = meta[trip_id]
        stops = tuple(str(x) for x in col_stop[lo:hi])
        trips.append(
            Trip(
                trip_id=trip_id,
                route_id=m.route_id,
                direction=m.direction_id,
                service_id=m.service_id,
                shape_id=m.shape_id,
                stops=stops,
                stations=tuple(stations.station(x) for x in stops),
                arrival=a,
                departure=d,
                dist=col_dist[lo:hi],
                runs=runs.get(trip_id, [float(d[0])]),
            )
        )
    return trips


def _frequency_runs(feed: Feed, trip_ids: set[str]) -> dict[str, list[float]]:
    """First-stop departures of each run of a frequencies.txt template, by trip id."""
    if not feed.has("frequencies.txt"):
        return {}
    fq = feed.table("frequencies.txt")
    rows = fq.index[fq["trip_id"].isin(trip_ids)]
    if not len(rows):
        return {}
    start = feed.times("frequencies.txt", "start_time", rows)
    end = feed.times("frequencies.txt", "end_time", rows)
    head = feed.numbers("frequencies.txt", "headway_secs", rows)
    out: dict[str, list[float]] = {}
    for i in rows:
        if math.isnan(start[i]) or math.isnan(end[i]):
            raise GtfsError(
                f"{feed.where('frequencies.txt', int(i) + 2, 'start_time')}: start and end times are required"
            )
        if head[i] <= 0:
            raise GtfsError(
                f"{feed.where('frequencies.txt', int(i) + 2, 'headway_secs')}: must be positive, got {head[i]:g}"
            )
        out.setdefault(fq.at[i, "trip_id"], []).extend(
            np.arange(start[i], end[i], head[i]).tolist()
        )
    return {k: sorted(v) for k, v in out.items()}


def _date(feed: Feed, file: str, row: int, field_: str, text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise GtfsError(
            f"{feed.where(file, row, field_)}: {text!r} is not a date like 20260310"
        ) from None


def service_day(
    feed: Feed, trips: Sequence[Trip], date: dt.date | None = None
) -> tuple[dt.date | None, set[str] | None]:
    """The date to take headways from and the services running on it.

    Without ``date``, the date (in the feed's calendar) on which the given trips make the most
    runs, preferring Tuesday to Thursday among equals. ``(None, None)`` when the feed has no
    calendar at all: then every trip counts.
    """
    if not (feed.has("calendar.txt") or feed.has("calendar_dates.txt")):
        if date is not None:
            raise GtfsError(
                f"{feed.label}: has neither calendar.txt nor calendar_dates.txt, so --date cannot be used"
            )
        return None, None
    weekly: list[tuple[str, tuple[bool, ...], dt.date, dt.date]] = []
    if feed.has("calendar.txt"):
        cal = feed.table("calendar.txt")
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        for i, r in cal.iterrows():
            weekly.append(
                (
                    r["service_id"],
                    tuple(r[d] == "1" for d in days),
                    _date(feed, "calendar.txt", int(i) + 2, "start_date", r["start_date"]),
                    _date(feed, "calendar.txt", int(i) + 2, "end_date", r["end_date"]),
                )
            )
    added: dict[dt.date, set[str]] = {}
    removed: dict[dt.date, set[str]] = {}
    if feed.has("calendar_dates.txt"):
        cd = feed.table("calendar_dates.txt")
        for i, r in cd.iterrows():
            d = _date(feed, "calendar_dates.txt", int(i) + 2, "date", r["date"])
            (added if r["exception_type"] == "1" else removed).setdefault(d, set()).add(
                r["service_id"]
            )

    def active(d: dt.date) -> set[str]:
        on = {s for s, wk, a, b in weekly if a <= d <= b and wk[d.weekday()]}
        return (on | added.get(d, set())) - removed.get(d, set())

    if date is not None:
        return date, active(date)
    runs_by_service = Counter[str]()
    for t in trips:
        runs_by_service[t.service_id] += len(t.runs)
    bounds = [a for _, _, a, _ in weekly] + [b for _, _, _, b in weekly] + list(added)
    if not bounds:
        return None, None
    first, last = min(bounds), max(bounds)
    last = min(last, first + dt.timedelta(days=400))
    best: tuple[tuple[int, int, int], dt.date, set[str]] | None = None
    d = first
    while d <= last:
        on = active(d)
        key = (sum(runs_by_service[s] for s in on), int(d.weekday() in (1, 2, 3)), -d.toordinal())
        if best is None or key > best[0]:
            best = (key, d, on)
        d += dt.timedelta(days=1)
    assert best is not None
    return best[1], best[2]
