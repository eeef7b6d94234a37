"""The typed records the simulation emits, defined once.

Each record type is a tuple of :class:`Field` definitions. From that one definition come the
Arrow schema (what batches carry), the JSON Schema (what a Kafka consumer can validate), the SQL
columns of the transformed table (DuckDB and Snowflake) and the canonical JSON line of a record,
so the four cannot drift apart.

Records travel in :class:`Batch` objects: one record type, many rows, as an Arrow ``RecordBatch``
built from NumPy columns. The canonical JSON of a record is exactly the message value that the
file and Kafka sinks write; :func:`json_lines` produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson
import pyarrow as pa

__all__ = [
    "ALERT",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "STATION_EVENT",
    "TELEMETRY",
    "Batch",
    "Field",
    "RecordType",
    "iter_json_lines",
    "json_lines",
    "json_lines_array",
    "record_type",
    "reference_json_lines",
]

#: Bumped whenever a field is added, removed or changes meaning.
SCHEMA_VERSION = 1

FieldKind = Literal["timestamp", "string", "int", "float", "bool"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}
_JSON_TYPES = {
    "timestamp": {"type": "string", "format": "date-time"},
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}
_SQL_TYPES = {
    "duckdb": {
        "timestamp": "TIMESTAMPTZ",
        "string": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
    },
    "snowflake": {
        "timestamp": "TIMESTAMP_TZ(3)",
        "string": "VARCHAR",
        "int": "NUMBER(38,0)",
        "float": "FLOAT",
        "bool": "BOOLEAN",
    },
}


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a record type."""

    name: str
    kind: FieldKind
    description: str
    nullable: bool = False
    #: Decimal places the simulation rounds a float to, so JSON and columnar values agree.
    decimals: int | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type of this column."""
        return _ARROW_TYPES[self.kind]

    def sql_type(self, dialect: Literal["duckdb", "snowflake"]) -> str:
        """The SQL type of this column in ``dialect``."""
        return _SQL_TYPES[dialect][self.kind]


@dataclass(frozen=True, slots=True)
class RecordType:
    """A named record type: its fields in their canonical order."""

    name: str
    description: str
    fields: tuple[Field, ...]
    #: The default Kafka topic (and file set) of this record type.
    topic: str
    _arrow: pa.Schema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        schema = pa.schema(
            [pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in self.fields],
            metadata={
                "ats_sim.record_type": self.name,
                "ats_sim.schema_version": str(SCHEMA_VERSION),
            },
        )
        object.__setattr__(self, "_arrow", schema)

    @property
    def field_names(self) -> list[str]:
        """Column names in canonical order."""
        return [f.name for f in self.fields]

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema every batch of this type carries."""
        return self._arrow

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) for one JSON line of this type."""
        props: dict[str, Any] = {}
        for f in self.fields:
            spec: dict[str, Any] = dict(_JSON_TYPES[f.kind])
            if f.nullable:
                spec["type"] = [spec["type"], "null"]
            spec["description"] = f.description
            props[f.name] = spec
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"ats-sim {self.name} record, schema version {SCHEMA_VERSION}",
            "description": self.description,
            "type": "object",
            "properties": props,
            "required": [f.name for f in self.fields if not f.nullable],
            "additionalProperties": False,
        }

    def sql_columns(self, dialect: Literal["duckdb", "snowflake"]) -> list[tuple[str, str]]:
        """``(column, SQL type)`` pairs for the typed table in ``dialect``."""
        return [(f.name.upper(), f.sql_type(dialect)) for f in self.fields]


def _f(name: str, kind: FieldKind, description: str, **kw: Any) -> Field:
    return Field(name, kind, description, **kw)


_COMMON_HEAD = (
    _f(
        "record_id",
        "string",
        "Deterministic unique id of the record: run, type, train or station, time.",
    ),
    _f("record_type", "string", "The record type: telemetry, station_event or alert."),
    _f("schema_version", "int", "Version of this record layout."),
    _f(
        "run_id",
        "string",
        "Id of the simulation run (scenario, seed and start) that made the record.",
    ),
    _f("timestamp", "timestamp", "Simulated event time, UTC, millisecond precision."),
    _f("line_id", "string", "Line the record belongs to."),
)

TELEMETRY = RecordType(
    "telemetry",
    "The state of one train in service, sampled every telemetry interval.",
    (
        *_COMMON_HEAD,
        _f("train_id", "string", "Persistent train id, e.g. R-07."),
        _f("trip_id", "string", "Id of the trip (one terminal-to-terminal run) the train is on."),
        _f("direction", "int", "0 outbound (first to last station), 1 inbound."),
        _f("status", "string", "running, dwelling or turnaround."),
        _f("prev_station", "string", "Last station served (or the one the train stands at)."),
        _f("next_station", "string", "Next station to be served."),
        _f(
            "chainage_m",
            "float",
            "Position along the line from its first station, metres.",
            decimals=1,
        ),
        _f("latitude", "float", "Latitude interpolated along the line.", decimals=6),
        _f("longitude", "float", "Longitude interpolated along the line.", decimals=6),
        _f("speed_kmh", "float", "Speed, km/h.", decimals=2),
        _f("acceleration_ms2", "float", "Acceleration, m/s^2 (negative when braking).", decimals=3),
        _f("passenger_count", "int", "Passengers on board."),
        _f(
            "load_factor",
            "float",
            "Passengers on board over the planned (AW3) capacity.",
            decimals=3,
        ),
        _f(
            "total_weight_tons",
            "float",
            "Tare mass plus passengers times passenger mass, tonnes.",
            decimals=2,
        ),
        _f(
            "power_draw_kw",
            "float",
            "Power at the current collector, kW; negative when regenerating.",
            decimals=1,
        ),
        _f(
            "energy_kwh",
            "float",
            "Energy drawn by this train since its first dispatch, net of regeneration, kWh.",
            decimals=3,
        ),
        _f(
            "regen_energy_kwh",
            "float",
            "Energy returned by regenerative braking since first dispatch, kWh.",
            decimals=3,
        ),
        _f("is_overcrowded", "bool", "Load factor above the scenario's overcrowding threshold."),
        _f(
            "is_high_power_draw",
            "bool",
            "Power above the scenario's high-power fraction of rated power.",
        ),
    ),
    topic="ats_telemetry",
)

STATION_EVENT = RecordType(
    "station_event",
    "A train arriving at or departing from a station, with the passenger exchange.",
    (
        *_COMMON_HEAD,
        _f("train_id", "string", "Persistent train id."),
        _f("trip_id", "string", "Trip id."),
        _f("direction", "int", "0 outbound, 1 inbound."),
        _f("station_id", "string", "Station id."),
        _f("station_name", "string", "Station name."),
        _f("event", "string", "arrival or departure."),
        _f("passengers_on_board", "int", "On board after the exchange (arrival: after alighting)."),
        _f("alighted", "int", "Passengers who got off (arrival events; 0 on departure)."),
        _f("boarded", "int", "Passengers who got on (departure events; 0 on arrival)."),
        _f(
            "left_behind",
            "int",
            "Passengers who could not board for lack of room (departure events).",
        ),
        _f("waiting", "int", "Passengers on the platform for this direction at the event."),
        _f(
            "dwell_s",
            "float",
            "Dwell time at the station, s (departure events; 0 on arrival).",
            decimals=1,
        ),
        _f(
            "headway_s",
            "float",
            "Time since the previous departure in this direction, s (departures).",
            nullable=True,
            decimals=1,
        ),
        _f("scheduled_headway_s", "float", "Timetabled headway at this time, s.", decimals=1),
    ),
    topic="ats_station_events",
)

ALERT = RecordType(
    "alert",
    "An alert raised or cleared. Each alert is raised once and cleared once.",
    (
        *_COMMON_HEAD,
        _f("alert_id", "string", "Id shared by the raise and the clear of one alert."),
        _f(
            "alert_type",
            "string",
            "overcrowding, high_power_draw, bunching, dwell_overrun or platform_crowding.",
        ),
        _f("state", "string", "raised or cleared."),
        _f("severity", "string", "info, warning or critical."),
        _f("train_id", "string", "Train concerned, if any.", nullable=True),
        _f("station_id", "string", "Station concerned, if any.", nullable=True),
        _f("value", "float", "The measured value that crossed the threshold.", decimals=3),
        _f("threshold", "float", "The threshold it crossed.", decimals=3),
        _f("message", "string", "A human-readable sentence."),
    ),
    topic="ats_alerts",
)

RECORD_TYPES: dict[str, RecordType] = {t.name: t for t in (TELEMETRY, STATION_EVENT, ALERT)}


def record_type(name: str) -> RecordType:
    """The record type called ``name``; raises ``KeyError`` naming the known ones."""
    try:
        return RECORD_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown record type {name!r}; known: {', '.join(RECORD_TYPES)}") from None


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows of one record type, as an Arrow record batch in the type's canonical schema."""

    type: RecordType
    data: pa.RecordBatch

    def __post_init__(self) -> None:
        if not self.data.schema.equals(self.type.arrow_schema, check_metadata=False):
            raise ValueError(f"batch schema does not match record type {self.type.name!r}")

    @property
    def num_rows(self) -> int:
        """How many records the batch holds."""
        return self.data.num_rows

    def __len__(self) -> int:
        return self.data.num_rows

    @classmethod
    def from_columns(cls, rtype: RecordType, columns: dict[str, Any]) -> Batch:
        """Build a batch from NumPy arrays or lists, one per field (timestamps as int64 ms)."""
        arrays = []
        for f in rtype.fields:
            col = columns[f.name]
            if f.kind == "timestamp":
                arrays.append(
                    pa.array(np.asarray(col, dtype=np.int64), type=pa.int64()).cast(f.arrow_type)
                )
            elif isinstance(col, pa.Array):
                arrays.append(col.cast(f.arrow_type) if col.type != f.arrow_type else col)
            else:
                arrays.append(pa.array(col, type=f.arrow_type, from_pandas=True))
        return cls(rtype, pa.RecordBatch.from_arrays(arrays, schema=rtype.arrow_schema))

    @classmethod
    def empty(cls, rtype: RecordType) -> Batch:
        """A batch with no rows."""
        return cls(rtype, pa.RecordBatch.from_pylist([], schema=rtype.arrow_schema))

    def slice(self, offset: int, length: int | None = None) -> Batch:
        """A zero-copy slice of the batch."""
        return Batch(self.type, self.data.slice(offset, length))

    def to_pylist(self) -> list[dict[str, Any]]:
        """The records as dictionaries of canonical JSON values (timestamps as ISO strings)."""
        return [orjson.loads(line) for line in json_lines(self)]


# The canonical JSON lines live in ats_sim.json_lines (they need the classes above).
from ats_sim.json_lines import (  # noqa: E402
    iter_json_lines,
    json_lines,
    json_lines_array,
    reference_json_lines,
)
