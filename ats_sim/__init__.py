"""ats-sim: a SimPy model of a metro network's ATS telemetry.

>>> import ats_sim
>>> result = ats_sim.run("weekday", until="1h", seed=7)   # doctest: +SKIP
>>> result.telemetry.head()                                 # doctest: +SKIP

The package does no I/O of its own and imports no sink driver: records come out as Arrow
batches (see :mod:`ats_sim.records`), handed to a callable or kept in a :class:`RunResult`.
The ``sinks`` package writes them to files, DuckDB, Kafka or Snowflake.
"""

from ats_sim.api import RunResult, query, query_names, run
from ats_sim.errors import AtsSimError, ConfigError, ScenarioError
from ats_sim.records import ALERT, RECORD_TYPES, SCHEMA_VERSION, STATION_EVENT, TELEMETRY, Batch
from ats_sim.scenario import Scenario, builtin_scenarios, load_network, load_scenario
from ats_sim.simulation import Simulation

__version__ = "0.1.0"

__all__ = [
    "ALERT",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "STATION_EVENT",
    "TELEMETRY",
    "AtsSimError",
    "Batch",
    "ConfigError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "__version__",
    "builtin_scenarios",
    "load_network",
    "load_scenario",
    "query",
    "query_names",
    "run",
]
