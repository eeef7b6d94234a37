"""Fixtures for the notebook tests: where the notebooks live, a Kafka broker for 03, and the
Snowflake tests' fakesnow server for ``ats_sim.query`` on a ``snowflake://`` URL.

``kafka_bootstrap`` is the address of a real broker: ``KAFKA_BOOTSTRAP_SERVERS`` when set
(outside CI), else one started here from ``ats_sim_testing.kafka_broker``; ``None`` when no
broker can be started on this machine (then ``03_warehouse`` shows how and skips its Kafka
cells). Under ``CI=true`` a broker is always started, and a missing Java fails the test.

``fakesnow_port``, ``password``, ``database`` and ``url_for`` are the fixtures of
``tests/snowflake/conftest.py`` (a ``python -m fakesnow`` server reached by the real connector
over HTTP), loaded from that file rather than copied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.snowflake_fixtures import snowflake_fixtures

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
IN_CI = os.environ.get("CI", "").strip().lower() == "true"


_snowflake = snowflake_fixtures()
fakesnow_port = _snowflake.fakesnow_port
password = _snowflake.password
database = _snowflake.database
url_for = _snowflake.url_for


@pytest.fixture(scope="session")
def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder."""
    return NOTEBOOKS


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A running broker's ``host:port``, or ``None`` where none can be started (never in CI)."""
    external = None if IN_CI else os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from ats_sim_testing.kafka_broker import KafkaBroker, java_available

    reason = java_available()
    if reason is not None:
        if IN_CI:
            pytest.fail(
                f"cannot start a Kafka broker: {reason} (CI=true: the Kafka cells must run)"
            )
        yield None
        return
    with KafkaBroker(tmp_path_factory.mktemp("nb-kafka")) as broker:
        yield broker.bootstrap_servers
