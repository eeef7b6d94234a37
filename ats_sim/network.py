"""Lines, stations and segments: the metro network a scenario runs on.

A network is loaded from TOML (the shipped reference network lives in ``ats_sim/data``) and
validated with pydantic. Stations carry a chainage (metres from the line's first station) and a
latitude/longitude; a segment is the track between two consecutive stations, with its speed
limit, gradient and curve radius. Direction 0 runs from the first station to the last.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Line", "Network", "SegmentSpec", "Station"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Station(_Strict):
    """A station on one line."""

    id: str = Field(description="Unique id within the network, e.g. R05.")
    name: str = Field(description="Name shown to people.")
    chainage_m: Annotated[
        float, Field(ge=0, description="Distance from the line's first station, m.")
    ]
    lat: Annotated[float, Field(ge=-90, le=90, description="Latitude, degrees.")]
    lon: Annotated[float, Field(ge=-180, le=180, description="Longitude, degrees.")]
    weight: Annotated[
        float, Field(gt=0, description="Relative attraction for the gravity demand model.")
    ] = 1.0


class SegmentSpec(_Strict):
    """Overrides for the segment that starts at station ``from`` (in direction 0)."""

    from_: str = Field(
        alias="from", description="Id of the station the segment starts at (direction 0)."
    )
    speed_limit_kmh: Annotated[float, Field(gt=0, le=200)] | None = None
    gradient_permille: Annotated[
        float, Field(ge=-60, le=60, description="Uphill in direction 0 is positive.")
    ] = 0.0
    curve_radius_m: Annotated[float, Field(gt=50)] | None = None


class Line(_Strict):
    """A line: stations in direction-0 order, segment overrides, and terminal turnaround."""

    id: str = Field(description="Short id, e.g. R.")
    name: str
    color: str = "#1f77b4"
    stations: Annotated[list[Station], Field(min_length=2)]
    segments: list[SegmentSpec] = []
    speed_limit_kmh: Annotated[float, Field(gt=0, le=200)] = 80.0
    turnaround_s: Annotated[float, Field(ge=0, le=3600)] = 180.0
    daily_entries: Annotated[float, Field(ge=0, description="Passenger entries on a weekday.")] = (
        100_000.0
    )

    @model_validator(mode="after")
    def _check(self) -> Line:
        ch = [s.chainage_m for s in self.stations]
        for a, b, sa, sb in zip(ch, ch[1:], self.stations, self.stations[1:], strict=False):
            if b <= a:
                raise ValueError(
                    f"line {self.id}: station {sb.id} (chainage {b} m) must lie beyond "
                    f"{sa.id} (chainage {a} m)"
                )
        ids = [s.id for s in self.stations]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"line {self.id}: station ids repeat: {', '.join(sorted(dup))}")
        for seg in self.segments:
            if seg.from_ not in ids[:-1]:
                raise ValueError(
                    f"line {self.id}: segment from {seg.from_!r} does not start at a station "
                    f"before the last one ({', '.join(ids[:-1])})"
                )
        return self

    @property
    def n_stations(self) -> int:
        """How many stations the line has."""
        return len(self.stations)

    @cached_property
    def chainages(self) -> np.ndarray:
        """Station chainages, m, direction-0 order."""
        return np.array([s.chainage_m for s in self.stations], dtype=np.float64)

    @property
    def length_m(self) -> float:
        """First to last station, m."""
        return float(self.chainages[-1] - self.chainages[0])

    def segment(self, i: int) -> SegmentSpec:
        """The overrides of segment ``i`` (station i to i+1), or defaults."""
        for seg in self.segments:
            if seg.from_ == self.stations[i].id:
                return seg
        return SegmentSpec.model_validate({"from": self.stations[i].id})

    def segment_speed_limit_kmh(self, i: int) -> float:
        """The speed limit of segment ``i``."""
        lim = self.segment(i).speed_limit_kmh
        return self.speed_limit_kmh if lim is None else lim

    def segment_grade_permille(self, i: int, direction: int) -> float:
        """Equivalent grade of segment ``i`` in ``direction``: gradient plus curve (800/r)."""
        seg = self.segment(i)
        g = seg.gradient_permille if direction == 0 else -seg.gradient_permille
        if seg.curve_radius_m:
            g += 800.0 / seg.curve_radius_m
        return g

    def position(self, chainage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude at each chainage, interpolated between stations."""
        lat = np.array([s.lat for s in self.stations])
        lon = np.array([s.lon for s in self.stations])
        return np.interp(chainage, self.chainages, lat), np.interp(chainage, self.chainages, lon)


class Network(_Strict):
    """A metro network: one or more lines."""

    name: str
    lines: Annotated[list[Line], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> Network:
        ids = [ln.id for ln in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"line ids repeat: {ids}")
        seen: dict[str, str] = {}
        for ln in self.lines:
            for st in ln.stations:
                if st.id in seen:
                    raise ValueError(
                        f"station id {st.id!r} is used on lines {seen[st.id]} and {ln.id}; "
                        "give each line's platforms their own ids"
                    )
                seen[st.id] = ln.id
        return self

    def line(self, line_id: str) -> Line:
        """The line with id ``line_id``."""
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(f"no line {line_id!r}; lines: {', '.join(ln.id for ln in self.lines)}")

    @property
    def n_stations(self) -> int:
        """Stations over all lines."""
        return sum(ln.n_stations for ln in self.lines)
