"""Scenarios: what to simulate, validated at the edge.

A scenario is a TOML file (or the same structure built in code) naming a network, rolling
stock, demand, timetable, alert thresholds, weather and disruptions. Built-in scenarios live in
``ats_sim/scenarios``; a file path works wherever a name does. Unknown keys are errors, so a
typo is never silently ignored, and every error names the file, the field and what was expected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ats_sim.errors import ScenarioError
from ats_sim.network import Network
from ats_sim.rolling_stock import RollingStock

__all__ = [
    "AlertThresholds",
    "Demand",
    "DemandSurge",
    "Disruption",
    "HoldTrain",
    "Operations",
    "Period",
    "Scenario",
    "SpeedRestriction",
    "Weather",
    "builtin_scenarios",
    "load_network",
    "load_scenario",
    "parse_clock",
]

_CLOCK = re.compile(r"^(\d{1,2}):([0-5]\d)(?::([0-5]\d))?$")

#: Share of a weekday's entries in each hour (Chicago CTA demo data, REFERENCE.md).
CTA_HOURLY = (
    0.010,
    0.008,
    0.006,
    0.006,
    0.010,
    0.025,
    0.050,
    0.075,
    0.125,
    0.075,
    0.050,
    0.0225,
    0.0225,
    0.0225,
    0.0225,
    0.050,
    0.050,
    0.075,
    0.125,
    0.075,
    0.050,
    0.035,
    0.025,
    0.015,
)


def parse_clock(value: str) -> float:
    """``"HH:MM[:SS]"`` to seconds after midnight; hours may run past 24 for after-midnight."""
    m = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"expected a time of day like '07:30' or '24:30', got {value!r}")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 30:
        raise ValueError(f"expected hours up to 30 (after-midnight service), got {value!r}")
    return h * 3600 + mi * 60 + s


ClockStr = Annotated[
    str, Field(description="Time of day, HH:MM; hours past 24 mean after midnight.")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_clock(v: str) -> str:
    parse_clock(v)
    return v


def _clock_validator(*names: str) -> Any:
    """A pydantic validator that checks the named fields are times of day."""
    return field_validator(*names)(_check_clock)


class Period(_Strict):
    """From ``start`` until the next period's start (or end of service), one train every ``headway_s``."""

    start: ClockStr
    headway_s: Annotated[float, Field(ge=60, le=3600)]
    _check = _clock_validator("start")


class Operations(_Strict):
    """Service hours and timetable."""

    service_start: ClockStr = "05:30"
    service_end: ClockStr = "24:30"
    periods: Annotated[list[Period], Field(min_length=1)] = [
        Period(start="05:30", headway_s=480),
        Period(start="06:30", headway_s=300),
        Period(start="07:00", headway_s=210),
        Period(start="09:30", headway_s=360),
        Period(start="16:00", headway_s=210),
        Period(start="19:30", headway_s=420),
        Period(start="22:00", headway_s=600),
    ]
    #: Multiplies the headways of a line, e.g. ``{ B = 1.25 }``.
    line_headway_factor: dict[str, Annotated[float, Field(gt=0.2, le=5)]] = {}
    min_dwell_s: Annotated[float, Field(ge=5, le=300)] = 20.0
    #: Headway regulation, as an ATS does: a train that would leave less than this share of the
    #: timetabled headway after the train ahead waits, up to ``regulation_max_hold_s``.
    regulation_fraction: Annotated[float, Field(ge=0, le=1)] = 0.9
    regulation_max_hold_s: Annotated[float, Field(ge=0, le=600)] = 20.0
    _check = _clock_validator("service_start", "service_end")

    @model_validator(mode="after")
    def _order(self) -> Operations:
        start, end = parse_clock(self.service_start), parse_clock(self.service_end)
        if end <= start:
            raise ValueError("service_end must be after service_start (use e.g. '24:30' for 00:30)")
        starts = [parse_clock(p.start) for p in self.periods]
        if starts != sorted(starts):
            raise ValueError("periods must be listed in order of their start time")
        if starts[0] > start:
            raise ValueError(
                f"the first period must start at or before service_start ({self.service_start})"
            )
        return self

    def headway_at(self, t_of_day: float, line_id: str) -> float:
        """The timetabled headway at a time of day (seconds after midnight)."""
        h = self.periods[0].headway_s
        for p in self.periods:
            if parse_clock(p.start) <= t_of_day:
                h = p.headway_s
        return h * self.line_headway_factor.get(line_id, 1.0)


class DemandSurge(_Strict):
    """Extra passengers entering one station for a while (a concert, a match)."""

    type: Literal["demand_surge"] = "demand_surge"
    station: str
    start: ClockStr
    end: ClockStr
    factor: Annotated[float, Field(gt=0, le=50, description="Multiplies the station's entries.")]
    day: Annotated[int, Field(ge=0)] = 0
    _check = _clock_validator("start", "end")


class HoldTrain(_Strict):
    """Hold the first train that reaches ``station`` after ``at`` for ``minutes``."""

    type: Literal["hold"] = "hold"
    station: str
    at: ClockStr
    minutes: Annotated[float, Field(gt=0, le=240)]
    direction: Literal[0, 1] = 0
    day: Annotated[int, Field(ge=0)] = 0
    _check = _clock_validator("at")


class SpeedRestriction(_Strict):
    """Limit the speed between two adjacent stations for a while (both directions)."""

    type: Literal["speed_restriction"] = "speed_restriction"
    from_station: str
    to_station: str
    start: ClockStr
    end: ClockStr
    max_speed_kmh: Annotated[float, Field(gt=0, le=200)]
    day: Annotated[int, Field(ge=0)] = 0
    _check = _clock_validator("start", "end")


Disruption = Annotated[HoldTrain | SpeedRestriction | DemandSurge, Field(discriminator="type")]


class Demand(_Strict):
    """How many passengers enter, when, and where they go."""

    scale: Annotated[
        float, Field(ge=0, le=20, description="Multiplies every line's daily entries.")
    ] = 1.0
    saturday_factor: Annotated[float, Field(ge=0, le=2)] = 0.50
    sunday_factor: Annotated[float, Field(ge=0, le=2)] = 0.43
    hourly_profile: Annotated[
        list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)
    ] = list(CTA_HOURLY)
    od_model: Literal["gravity", "matrix"] = "gravity"
    gravity_length_km: Annotated[float, Field(gt=0, le=100)] = 9.0
    #: Explicit origin-destination weights per line: ``{ R = [[...], ...] }``, stations in line order.
    od_matrix: dict[str, list[list[Annotated[float, Field(ge=0)]]]] = {}

    @field_validator("hourly_profile")
    @classmethod
    def _positive_total(cls, v: list[float]) -> list[float]:
        if sum(v) <= 0:
            raise ValueError("hourly_profile must not be all zeros")
        return v


class AlertThresholds(_Strict):
    """When alerts are raised and cleared (raise > clear gives hysteresis)."""

    overcrowding_load_factor: Annotated[float, Field(gt=0)] = 1.0
    overcrowding_clear_load_factor: Annotated[float, Field(gt=0)] = 0.9
    high_power_fraction: Annotated[float, Field(gt=0, le=1.5)] = 0.9
    high_power_min_s: Annotated[float, Field(ge=0)] = 30.0
    bunching_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.6
    bunching_clear_fraction: Annotated[float, Field(gt=0, le=1.5)] = 0.8
    dwell_overrun_s: Annotated[float, Field(gt=0)] = 90.0
    platform_crowding_waiting: Annotated[int, Field(gt=0)] = 500
    platform_crowding_clear_waiting: Annotated[int, Field(gt=0)] = 350

    @model_validator(mode="after")
    def _hysteresis(self) -> AlertThresholds:
        if self.overcrowding_clear_load_factor >= self.overcrowding_load_factor:
            raise ValueError(
                "overcrowding_clear_load_factor must be below overcrowding_load_factor"
            )
        if self.platform_crowding_clear_waiting >= self.platform_crowding_waiting:
            raise ValueError(
                "platform_crowding_clear_waiting must be below platform_crowding_waiting"
            )
        if self.bunching_clear_fraction <= self.bunching_fraction:
            raise ValueError("bunching_clear_fraction must be above bunching_fraction")
        return self


class Weather(_Strict):
    """Outside temperature over the day: coolest at 05:00, warmest at 15:00."""

    min_temp_c: Annotated[float, Field(ge=-40, le=50)] = 9.0
    max_temp_c: Annotated[float, Field(ge=-40, le=55)] = 17.0

    @model_validator(mode="after")
    def _order(self) -> Weather:
        if self.max_temp_c < self.min_temp_c:
            raise ValueError("max_temp_c must not be below min_temp_c")
        return self


class Scenario(_Strict):
    """Everything one simulation run needs, besides the seed and the clock."""

    name: str
    description: str = ""
    network: Network
    rolling_stock: RollingStock = RollingStock()
    demand: Demand = Demand()
    operations: Operations = Operations()
    alerts: AlertThresholds = AlertThresholds()
    weather: Weather = Weather()
    disruptions: list[Disruption] = []
    start_date: dt.date = dt.date(2026, 3, 10)
    timezone: str = "Europe/London"
    day_type: Literal["auto", "weekday", "saturday", "sunday"] = "auto"
    telemetry_interval_s: Annotated[float, Field(ge=1, le=300)] = 30.0
    seed: int = 7

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as 'Europe/London'"
            ) from None
        return v

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        stations = {s.id: ln for ln in self.network.lines for s in ln.stations}
        for d in self.disruptions:
            names = (
                [d.from_station, d.to_station] if isinstance(d, SpeedRestriction) else [d.station]
            )
            for n in names:
                if n not in stations:
                    raise ValueError(
                        f"disruption {d.type}: no station {n!r} in network {self.network.name!r}"
                    )
            if isinstance(d, SpeedRestriction):
                ln = stations[d.from_station]
                ids = [s.id for s in ln.stations]
                if (
                    stations[d.to_station] is not ln
                    or abs(ids.index(d.from_station) - ids.index(d.to_station)) != 1
                ):
                    raise ValueError(
                        f"speed_restriction: {d.from_station} and {d.to_station} are not adjacent stations of one line"
                    )
        for line_id, m in self.demand.od_matrix.items():
            try:
                size = self.network.line(line_id).n_stations
            except KeyError as exc:
                raise ValueError(f"demand.od_matrix: {exc.args[0]}") from None
            if len(m) != size or any(len(r) != size for r in m):
                raise ValueError(
                    f"demand.od_matrix.{line_id} must be {size} x {size} (one row and column per station)"
                )
        for line_id in self.operations.line_headway_factor:
            if line_id not in {ln.id for ln in self.network.lines}:
                raise ValueError(f"operations.line_headway_factor: no line {line_id!r}")
        return self

    def fingerprint(self) -> str:
        """A short hash of the scenario's content (used in run ids)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:10]

    def with_changes(self, **changes: Any) -> Scenario:
        """A validated copy with top-level fields replaced (nested models as dicts or models)."""
        data = self.model_dump(by_alias=True)
        for k, v in changes.items():
            data[k] = v.model_dump(by_alias=True) if isinstance(v, BaseModel) else v
        return _validate(data, f"scenario {self.name!r} (changed in code)")

    def __repr__(self) -> str:
        net = self.network
        return (
            f"Scenario({self.name!r}: {net.name}, {len(net.lines)} lines, {net.n_stations} stations; "
            f"{self.start_date} {self.day_type}; demand x{self.demand.scale:g}; "
            f"{len(self.disruptions)} disruption{'' if len(self.disruptions) == 1 else 's'}; "
            f"fingerprint {self.fingerprint()})"
        )

    def _repr_html_(self) -> str:
        """A notebook card: what the scenario simulates, one row per setting that matters."""
        from html import escape

        def row(label: str, value: object) -> str:
            return (
                f"<tr><th style='text-align:left;padding-right:1em'>{escape(label)}</th>"
                f"<td style='text-align:left'>{escape(str(value))}</td></tr>"
            )

        ops, net = self.operations, self.network
        lines = "; ".join(
            f"{ln.id} {ln.name}: {ln.n_stations} stations, {ln.length_m / 1000:.1f} km"
            for ln in net.lines
        )
        periods = ", ".join(f"{p.start} every {p.headway_s / 60:g} min" for p in ops.periods)
        if ops.line_headway_factor:
            periods += (
                " (line factors "
                + ", ".join(f"{k} x{v:g}" for k, v in ops.line_headway_factor.items())
                + ")"
            )
        disruptions = "; ".join(self._describe(d) for d in self.disruptions) or "none"
        rows = [
            row("network", f"{net.name}: {lines}"),
            row("day", f"{self.start_date} ({self.day_type}), {self.timezone}"),
            row("service", f"{ops.service_start} to {ops.service_end}"),
            row("timetable", periods),
            row(
                "demand", f"x{self.demand.scale:g}, {self.demand.od_model} origin-destination model"
            ),
            row("weather", f"{self.weather.min_temp_c:g} to {self.weather.max_temp_c:g} °C"),
            row(
                "trains",
                f"{self.rolling_stock.cars} cars, {self.rolling_stock.seats_per_car} seats per car",
            ),
            row("disruptions", disruptions),
            row("telemetry", f"every {self.telemetry_interval_s:g} s, seed {self.seed}"),
            row("fingerprint", self.fingerprint()),
        ]
        desc = f"<br><span>{escape(self.description)}</span>" if self.description else ""
        return f"<div><b>Scenario</b> <code>{escape(self.name)}</code>{desc}<table>{''.join(rows)}</table></div>"

    @staticmethod
    def _describe(d: HoldTrain | SpeedRestriction | DemandSurge) -> str:
        """One line per disruption, for the notebook card."""
        day = f" (day {d.day})" if d.day else ""
        if isinstance(d, HoldTrain):
            return f"train held {d.minutes:g} min at {d.station} after {d.at}{day}"
        if isinstance(d, SpeedRestriction):
            return f"{d.max_speed_kmh:g} km/h between {d.from_station} and {d.to_station}, {d.start}-{d.end}{day}"
        return f"entries x{d.factor:g} at {d.station}, {d.start}-{d.end}{day}"


# ---- loading -------------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in (
            "hold",
            "speed_restriction",
            "demand_surge",
            "function-after",
            "function-before",
        ):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_validation(exc: ValidationError, where: str) -> str:
    errs = exc.errors()
    first = errs[0]
    loc = _loc(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        msg = f"{where}: unknown field {loc!r} (check the spelling; unknown keys are not allowed)"
    elif kind == "missing":
        msg = f"{where}: field {loc!r} is required"
    else:
        text = first["msg"].removeprefix("Value error, ")
        given = first.get("input")
        shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
        msg = f"{where}: field {loc!r}: {text}{shown}"
    if len(errs) > 1:
        msg += f" [and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''}]"
    return msg


def _validate(data: dict[str, Any], where: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(exc, where)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc.strerror}") from None


def _builtin_dir() -> Path:
    return Path(str(resources.files("ats_sim") / "scenarios"))


def builtin_scenarios() -> dict[str, Path]:
    """The shipped scenarios by name."""
    return {p.stem: p for p in sorted(_builtin_dir().glob("*.toml"))}


def load_network(ref: str | Path, *, relative_to: Path | None = None) -> Network:
    """A network by built-in name (``reference``) or TOML path."""
    path = (
        Path(str(resources.files("ats_sim") / "data" / f"{ref}.toml"))
        if ref == "reference"
        else Path(ref)
    )
    if relative_to is not None and not path.is_absolute() and ref != "reference":
        path = relative_to / path
    data = _read_toml(path)
    try:
        return Network.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(exc, str(path))) from None


def load_scenario(ref: str | Path | Scenario, **overrides: Any) -> Scenario:
    """A scenario from a built-in name, a TOML path or a :class:`Scenario` (returned as is).

    ``overrides`` replace top-level fields (``seed=3``, ``telemetry_interval_s=1``).
    """
    if isinstance(ref, Scenario):
        return ref.with_changes(**overrides) if overrides else ref
    builtins = builtin_scenarios()
    if isinstance(ref, str) and ref in builtins:
        path = builtins[ref]
    else:
        path = Path(ref)
        if (
            not path.exists()
            and isinstance(ref, str)
            and not ref.endswith(".toml")
            and "/" not in ref
        ):
            raise ScenarioError(
                f"no scenario called {ref!r}: built-in scenarios are {', '.join(builtins)}; "
                "or give the path of a .toml file"
            )
    data = _read_toml(path)
    net = data.get("network", "reference")
    if isinstance(net, str):
        data["network"] = load_network(net, relative_to=path.parent).model_dump(by_alias=True)
    data.setdefault("name", path.stem)
    data.update(overrides)
    return _validate(data, str(path))
