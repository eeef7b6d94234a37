"""Build a network and scenario from a GTFS feed.

Each chosen route becomes one line. Its trips are grouped by direction (``direction_id``, or
the orientation of their stations where the feed leaves it out); the most frequent station
sequence of each direction is that direction's dominant pattern, and the longer of the two is
the line, in its own order. Stations are parent stations where the feed has them. Chainage
comes from ``shape_dist_traveled`` (its unit detected), else distance along ``shapes.txt``,
else great circles between stations, and every line says which. Headways by period come from
the day with the most service (or ``date``), counting ``frequencies.txt`` runs.

Station ids are ``<line id>-<GTFS stop id>`` (a loop's closing station adds ``#2``), which is
how :mod:`ats_sim.gtfs.validate` finds a scenario's stations in the feed again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import ValidationError

from ats_sim.errors import ConfigError
from ats_sim.gtfs.chainage import line_chainage
from ats_sim.gtfs.feed import Feed, GtfsError
from ats_sim.gtfs.headways import LATEST_S, Timetable, clock, headway_periods
from ats_sim.gtfs.routes import CABLE_TYPES, METRO_TYPES, RAIL_TYPES, RouteInfo, select_routes
from ats_sim.gtfs.service_days import service_day
from ats_sim.gtfs.stations import Stations
from ats_sim.gtfs.trips import Trip, dwell_share, gives_dwell, load_trips
from ats_sim.network import Line, Network, Station
from ats_sim.rolling_stock import RollingStock
from ats_sim.scenario import Scenario

__all__ = [
    "ImportResult",
    "LineImport",
    "import_gtfs",
    "route_types_for",
    "station_id",
    "station_stop",
]


def _dumps(data: dict[str, Any]) -> str:
    """TOML text of ``data`` (tomli-w is imported only when a file is written)."""
    try:
        import tomli_w
    except ModuleNotFoundError:
        raise ConfigError(
            "writing TOML needs the tomli-w package: pip install 'ats-sim[gtfs]' (or pip install tomli-w)"
        ) from None
    return tomli_w.dumps(data)


def _write_all(files: list[tuple[Path, str]]) -> None:
    """Write every file or none: each to a temporary file beside it, then all renamed into place.

    An :class:`OSError` becomes one :class:`ConfigError` line naming the path and the reason.
    """
    staged: list[tuple[Path, Path]] = []
    path = files[0][0]
    try:
        for path, text in files:
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            parent = path.parent
            if parent.exists() and not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{parent} is not a folder")
            parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            staged.append((tmp, path))
            tmp.write_text(text, encoding="utf-8")
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def station_id(line_id: str, stop_id: str, occurrence: int = 1) -> str:
    """The network id of a GTFS station on a line (``occurrence`` > 1 on a loop)."""
    return f"{line_id}-{stop_id}" + (f"#{occurrence}" if occurrence > 1 else "")


def station_stop(line_id: str, sid: str) -> str | None:
    """The GTFS stop id behind a network station id, or None if it was not made by the importer."""
    prefix = f"{line_id}-"
    if not sid.startswith(prefix):
        return None
    stop = sid[len(prefix) :]
    base, _, occ = stop.rpartition("#")
    return base if base and occ.isdigit() else stop


def route_types_for(route_type: int | None = None, rail: bool = False) -> tuple[int, ...]:
    """Route types to import: metro by default, a given type, plus rail on request."""
    if route_type is None or route_type == 1:
        types = METRO_TYPES
    elif route_type == 2:
        types = RAIL_TYPES
    else:
        types = (route_type,)
    return tuple(dict.fromkeys(types + (RAIL_TYPES if rail else ())))


@dataclass(frozen=True)
class LineImport:
    """What the importer made of one route."""

    route: RouteInfo
    stops: tuple[str, ...]
    chainage_method: str
    runs: int
    patterns: int
    timetable: Timetable
    notes: tuple[str, ...] = ()

    @property
    def line_id(self) -> str:
        """The network's line id."""
        return self.route.line_id


@dataclass(frozen=True)
class ImportResult:
    """A network and scenario built from a feed, with what was decided on the way."""

    scenario: Scenario
    lines: list[LineImport]
    date: dt.date | None
    feed_label: str
    notes: list[str] = field(default_factory=list)
    rolling_stock_changed: bool = False

    @property
    def network(self) -> Network:
        """The imported network."""
        return self.scenario.network

    def network_toml(self) -> str:
        """The network as TOML that :func:`ats_sim.scenario.load_network` reads."""
        data = self.network.model_dump(by_alias=True, exclude_none=True)
        for ln in data["lines"]:
            if not ln["segments"]:
                del ln["segments"]
        return self._header() + _dumps(data)

    def scenario_toml(self, network: str | None = None) -> str:
        """The scenario as TOML; ``network`` is a path to write there, else the network is embedded."""
        sc = self.scenario
        data: dict[str, Any] = {"name": sc.name, "description": sc.description}
        data["network"] = (
            network
            if network is not None
            else self.network.model_dump(by_alias=True, exclude_none=True)
        )
        data["start_date"] = sc.start_date
        data["timezone"] = sc.timezone
        data["day_type"] = sc.day_type
        if self.rolling_stock_changed:
            data["rolling_stock"] = sc.rolling_stock.model_dump(exclude_defaults=True)
        data["operations"] = sc.operations.model_dump(exclude_defaults=False)
        if not data["operations"]["line_headway_factor"]:
            del data["operations"]["line_headway_factor"]
        return self._header() + _dumps(data)

    def write(self, out: str | Path, embed: bool = False) -> list[Path]:
        """Write the scenario to ``out`` and, unless ``embed``, the network beside it.

        Both files or neither: a path that cannot be written (a folder, a missing or read-only
        place) raises :class:`ConfigError` naming it and the reason, and leaves nothing behind.
        """
        out = Path(out)
        if not out.name or out.is_dir():
            raise ConfigError(
                f"cannot write {out}: it is a folder; give the scenario file to write, "
                f"such as {out / 'scenario.toml'}"
            )
        if embed:
            files = [(out, self.scenario_toml())]
        else:
            net = out.with_name(f"{out.stem}-network.toml")
            files = [(out, self.scenario_toml(net.name)), (net, self.network_toml())]
        _write_all(files)
        return [path for path, _ in files]

    def _header(self) -> str:
        lines = [f"# Imported by ats-sim import-gtfs from {self.feed_label}"]
        lines += [
            f"# line {li.line_id}: route {li.route.label}, {len(li.stops)} stations, "
            f"chainage from {li.chainage_method}"
            for li in self.lines
        ]
        lines += [f"# note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n\n"


def import_gtfs(
    path: str | Path,
    routes: Sequence[str] | None = None,
    *,
    route_type: int | None = None,
    rail: bool = False,
    date: dt.date | None = None,
    name: str | None = None,
    rolling_stock: RollingStock | None = None,
    speed_limit_kmh: float | None = None,
    daily_entries: float | None = None,
) -> ImportResult:
    """Build a scenario from the GTFS feed at ``path`` (a zip or a folder).

    ``routes`` are route ids or names (default: every route of the chosen type, metro unless
    ``route_type`` says otherwise; ``rail`` adds rail). Rolling stock, the line speed limit
    and daily entries come from the arguments or the project defaults.
    """
    feed = Feed(path)
    stations = Stations(feed)
    chosen = select_routes(feed, routes, route_types_for(route_type, rail))
    all_trips = load_trips(feed, stations, [r.route_id for r in chosen])
    day, services = service_day(feed, all_trips, date)
    if date is not None and not any(t.service_id in (services or set()) for t in all_trips):
        raise GtfsError(f"{feed.label}: no trip of the chosen routes runs on {date.isoformat()}")
    stock = rolling_stock or RollingStock()
    notes: list[str] = []
    built: list[tuple[Line, LineImport, list[Trip]]] = []
    for route in chosen:
        trips = [t for t in all_trips if t.route_id == route.route_id]
        if not trips:
            notes.append(f"route {route.label} has no trips with times; skipped")
            continue
        today = [t for t in trips if services is None or t.service_id in services]
        if not today:
            notes.append(f"route {route.label} has no trips on {day}; its pattern uses every day")
            today = trips
        line, info = _build_line(
            feed, stations, route, today, stock, speed_limit_kmh, daily_entries
        )
        built.append((line, info, today))
    if not built:
        raise GtfsError(
            f"{feed.label}: none of the chosen routes ({', '.join(r.label for r in chosen)}) has a trip with times"
        )
    infos = [b[1] for b in built]
    operations = _operations(infos, [b[2] for b in built], notes)
    tz = _timezone(feed, notes)
    label = name or Path(path).stem
    data: dict[str, Any] = {
        "name": label,
        "description": f"Imported from GTFS feed {feed.label}: "
        + ", ".join(i.route.label for i in infos)
        + (f"; service of {day.isoformat()}" if day else ""),
        "network": {"name": label, "lines": [b[0].model_dump(by_alias=True) for b in built]},
        "rolling_stock": stock.model_dump(),
        "operations": operations,
        "timezone": tz,
        "day_type": _day_type(day),
    }
    if day is not None:
        data["start_date"] = day
    else:
        notes.append("the feed has no calendar: every trip counts as running on one weekday")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:  # the importer should build valid values; say so if not
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GtfsError(
            f"{feed.label}: the imported scenario does not validate at {where}: {first['msg']}"
        ) from None
    return ImportResult(scenario, infos, day, feed.label, notes, rolling_stock is not None)


def _day_type(day: dt.date | None) -> str:
    if day is None:
        return "weekday"
    return {5: "saturday", 6: "sunday"}.get(day.weekday(), "weekday")


def _timezone(feed: Feed, notes: list[str]) -> str:
    if feed.has("agency.txt"):
        ag = feed.table("agency.txt", optional=("agency_timezone",))
        if "agency_timezone" in ag.columns and len(ag) and ag.at[0, "agency_timezone"]:
            tz = str(ag.at[0, "agency_timezone"])
            try:
                ZoneInfo(tz)
                return tz
            except (ZoneInfoNotFoundError, ValueError):
                notes.append(f"agency.txt gives an unknown time zone {tz!r}; using UTC")
                return "UTC"
    notes.append("agency.txt gives no agency_timezone; using UTC")
    return "UTC"


def _direction_groups(trips: list[Trip]) -> dict[str, list[Trip]]:
    """Trips by direction: ``direction_id`` when every trip has one, else by orientation."""
    if all(t.direction in ("0", "1") for t in trips):
        groups: dict[str, list[Trip]] = {}
        for t in trips:
            groups.setdefault(t.direction, []).append(t)
        return groups
    ref = Counter(t.pattern for t in trips).most_common(1)[0][0]
    pos = {s: i for i, s in reversed(list(enumerate(ref)))}
    groups = {"0": [], "1": []}
    for t in trips:
        idx = [pos[s] for s in dict.fromkeys(t.pattern) if s in pos]
        forward = sum(np.sign(np.diff(idx))) >= 0 if len(idx) > 1 else True
        groups["0" if forward else "1"].append(t)
    return {k: v for k, v in groups.items() if v}


def _cut_reversal(pattern: tuple[str, ...]) -> tuple[str, ...]:
    """The pattern up to where a trip turns back on itself and retraces the line."""
    for k in range(2, len(pattern)):
        if pattern[k] == pattern[k - 2]:
            return pattern[:k]
    return pattern


def _build_line(
    feed: Feed,
    stations: Stations,
    route: RouteInfo,
    trips: list[Trip],
    stock: RollingStock,
    speed_limit_kmh: float | None,
    daily_entries: float | None,
) -> tuple[Line, LineImport]:
    notes: list[str] = []
    groups = _direction_groups(trips)
    dominant: list[tuple[tuple[str, ...], int, str]] = []
    for d, ts in sorted(groups.items()):
        counts = Counter[tuple[str, ...]]()
        for t in ts:
            counts[t.pattern] += len(t.runs)
        pat, n = counts.most_common(1)[0]
        dominant.append((pat, n, d))
        if len(counts) > 1:
            notes.append(
                f"direction {d}: {len(counts)} stop patterns, the dominant one has {n} of {sum(counts.values())} runs"
            )
    pattern, _, direction = max(dominant, key=lambda p: (len(_cut_reversal(p[0])), p[1]))
    line_pattern = _cut_reversal(pattern)
    if line_pattern != pattern:
        notes.append(
            f"trips reverse at {stations.name(line_pattern[-1])} and retrace the line; "
            "the line ends there"
        )
    served = {s for t in trips for s in t.stations}
    missing = served - set(line_pattern)
    if missing:
        names = ", ".join(sorted(stations.name(s) for s in missing)[:6])
        notes.append(
            f"{len(missing)} station(s) off the dominant pattern are not on the line (a branch or short working): {names}"
        )
    occurrences = Counter[str]()
    ids = []
    for s in line_pattern:
        occurrences[s] += 1
        ids.append(station_id(route.line_id, s, occurrences[s]))
    if any(v > 1 for v in occurrences.values()):
        notes.append(
            "the line is a loop: its closing station appears again at the end as a separate platform"
        )
    rep = [t for t in trips if t.pattern == pattern]
    chain, method = line_chainage(feed, stations, rep, len(line_pattern), notes)
    coords = [stations.coords(s) for s in line_pattern]
    if route.route_type in CABLE_TYPES:
        notes.append(
            f"route_type {route.route_type} is cable-hauled: the train model cannot represent it"
        )
    dir_trips = groups[direction]
    departures = [r for t in dir_trips for r in t.runs]
    try:
        line_stations = [
            Station(
                id=i,
                name=stations.name(s),
                chainage_m=round(float(c), 1),
                lat=round(la, 6),
                lon=round(lo, 6),
            )
            for i, s, c, (la, lo) in zip(ids, line_pattern, chain, coords, strict=True)
        ]
        fields: dict[str, Any] = {
            "id": route.line_id,
            "name": route.long_name or route.short_name or route.route_id,
            "color": route.color,
            "stations": line_stations,
            "speed_limit_kmh": speed_limit_kmh or stock.top_speed_kmh,
        }
        if daily_entries is not None:
            fields["daily_entries"] = daily_entries
        line = Line.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        where = ".".join(str(p) for p in first["loc"])
        raise GtfsError(
            f"{feed.label}: route {route.label} does not make a valid line ({where}: {msg})"
        ) from None
    info = LineImport(
        route,
        tuple(line_pattern),
        method,
        len(departures),
        len({t.pattern for t in trips}),
        headway_periods(departures),
        tuple(notes),
    )
    return line, info


def _operations(
    infos: list[LineImport], trips: list[list[Trip]], notes: list[str]
) -> dict[str, Any]:
    """``[operations]``: service hours and periods of the busiest line, other lines by factor."""
    ref = max(infos, key=lambda i: i.runs)
    tt = ref.timetable
    start = min(i.timetable.service_start_s for i in infos)
    end = max(i.timetable.service_end_s for i in infos)
    if end >= LATEST_S:
        notes.append("service runs past 30:00; the scenario ends at 30:00")
    periods = [{"start": clock(s), "headway_s": h} for s, h in tt.periods]
    periods[0]["start"] = clock(start)
    factors = {}
    for i in infos:
        if i is ref or not i.timetable.median_gap_s or not tt.median_gap_s:
            continue
        f = i.timetable.median_gap_s / tt.median_gap_s
        if abs(f - 1) > 0.05:
            factors[i.line_id] = round(min(max(f, 0.21), 5.0), 3)
    if len(infos) > 1:
        notes.append(
            f"headway periods follow line {ref.line_id}; other lines scale them by their median headway"
        )
    dwell = _dwell(trips)
    ops: dict[str, Any] = {
        "service_start": clock(start),
        "service_end": clock(min(end, LATEST_S)),
        "periods": periods,
    }
    if factors:
        ops["line_headway_factor"] = factors
    if dwell is None:
        share = dwell_share(t for ts in trips for t in ts)
        why = (
            "no trip stops between its ends"
            if share is None
            else f"arrival equals departure at {1 - share:.0%} of stops"
        )
        notes.append(f"the feed gives no dwell times ({why}); min_dwell_s keeps its default")
    else:
        ops["min_dwell_s"] = round(min(max(dwell, 5.0), 300.0), 1)
    return ops


def _dwell(groups: list[list[Trip]]) -> float | None:
    """Typical dwell at intermediate stops, s; None when the feed gives no dwell times.

    A feed that separates arrival and departure at only a few stops (timing holds, see
    :data:`~ats_sim.gtfs.trips.DWELL_SHARE`) gives none: its holds are not dwells.
    """
    trips = [t for ts in groups for t in ts]
    if not gives_dwell(trips):
        return None
    values = np.concatenate([(t.departure - t.arrival)[1:-1] for t in trips])
    values = values[~np.isnan(values)]
    if bool(np.all(values % 60 == 0)):
        # Rounded to the minute, the mean over many stops (zeros included) recovers the dwell.
        return float(values.mean())
    # Otherwise a stop with equal times gave no dwell at all: the median of those that did.
    return float(np.median(values[values > 0]))
