"""Real networks from GTFS feeds: import a scenario, and check the physics against the timetable.

- :func:`import_gtfs` builds a :class:`~ats_sim.network.Network` and a scenario from a feed's
  metro (or rail) routes; :meth:`ImportResult.write` saves them as TOML.
- :func:`validate` compares every inter-station running time the model produces with the
  feed's timetable, optionally fitting one cruising speed per line.

Both raise :class:`GtfsError` (a :class:`~ats_sim.errors.ConfigError`) with one line naming
the file inside the feed, the row and field, and what is wrong.
"""

from __future__ import annotations

from ats_sim.gtfs.feed import GtfsError
from ats_sim.gtfs.importer import ImportResult, LineImport, import_gtfs
from ats_sim.gtfs.validate import (
    Calibration,
    ExcludedSegment,
    SegmentCheck,
    ValidationReport,
    validate,
)

__all__ = [
    "Calibration",
    "ExcludedSegment",
    "GtfsError",
    "ImportResult",
    "LineImport",
    "SegmentCheck",
    "ValidationReport",
    "import_gtfs",
    "validate",
]
