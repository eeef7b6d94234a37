"""Stops resolved to stations: parent stations, names and coordinates from ``stops.txt``.

A trip stops at platforms (or boarding areas); a line is drawn through stations. Each stop is
resolved by climbing ``parent_station`` links (boarding area, platform, station) to the
station, whose coordinates are its own or, when the feed leaves them out, the mean of its
platforms'. A station the line serves with no coordinates at all is an error naming the row (or
the missing column, when ``stops.txt`` has no ``stop_lat`` or ``stop_lon`` at all); stops the
chosen lines do not serve (the buses of a multimodal feed) may lack them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ats_sim.gtfs.feed import Feed, GtfsError

__all__ = ["Stations"]


class Stations:
    """Stops resolved to stations, with names and coordinates (read from ``stops.txt``)."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        columns = ("stop_name", "stop_lat", "stop_lon", "location_type", "parent_station")
        df = feed.table("stops.txt", optional=columns)
        #: Coordinate columns the file lacks altogether (reported as such when a station needs them).
        self._absent = [c for c in ("stop_lat", "stop_lon") if c not in df.columns]
        # A new frame: the feed's cached table keeps the columns the file really has.
        df = df.reindex(columns=["stop_id", *columns], fill_value="")
        feed.require_unique("stops.txt", "stop_id")
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
        """Latitude and longitude of the stop itself (NaN when missing).

        Raises :class:`GtfsError` naming the row when a value is off the globe.
        """
        i = self._row[stop_id]
        lat, lon = float(self._lat[i]), float(self._lon[i])
        for name, value, bound in (("stop_lat", lat, 90), ("stop_lon", lon, 180)):
            if abs(value) > bound:  # False for NaN
                raise GtfsError(
                    f"{self.feed.where('stops.txt', i + 2, name)}: {value:g} is outside "
                    f"-{bound} to {bound} for stop {stop_id!r} ({self.name(stop_id)})"
                )
        return lat, lon

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
        if self._absent:
            raise self.feed.missing_columns(
                "stops.txt", self._absent, "the stations of a line need coordinates"
            )
        field_ = "stop_lat" if math.isnan(lat) else "stop_lon"
        raise GtfsError(
            f"{self.feed.where('stops.txt', self._row[station_id] + 2, field_)} is empty for stop "
            f"{station_id!r} ({self.name(station_id)}): a station the line serves needs coordinates"
        )
