"""Routes: which ones to import, and the line id each becomes.

Routes are chosen by id, short name or long name, or by type: metro (GTFS 1 and the extended
urban-rail types 400-404) by default, rail (2 and 100-117) on request. A route's line id is its
short name where that is unique in the feed, else its route id; import and validation derive
it the same way, so a scenario can be checked against its feed without any extra file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from ats_sim.gtfs.feed import Feed, GtfsError

__all__ = [
    "CABLE_TYPES",
    "METRO_TYPES",
    "RAIL_TYPES",
    "ROUTE_TYPE_NAMES",
    "RouteInfo",
    "route_line_ids",
    "select_routes",
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


def _routes(feed: Feed) -> pd.DataFrame:
    df = feed.table("routes.txt", optional=("route_short_name", "route_long_name", "route_color"))
    feed.require_unique("routes.txt", "route_id")
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
