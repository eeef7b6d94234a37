"""Fixtures that give tests a real Apache Kafka broker.

- `kafka_broker` (session): one broker shared by every test that only produces and consumes.
  With `KAFKA_BOOTSTRAP_SERVERS` set it points at that running broker instead of starting one.
- `own_kafka_broker` (function): a fresh broker in the test's `tmp_path`, for tests that stop,
  kill or restart it. It skips when `KAFKA_BOOTSTRAP_SERVERS` is set (the user asked for an
  external broker) and when Java or Maven is missing. `unstarted_kafka_broker` is the same
  broker before `start()`, for tests of a failing start.
- `bootstrap` (function): the shared broker's `bootstrap.servers`; `prefix`: a fresh topic
  prefix for the test, so tests never read each other's messages.

`kafka_helpers` (this folder, put on `sys.path` here) reads topics back and runs the CLI.

Under `CI=true` nothing skips: `KAFKA_BOOTSTRAP_SERVERS` is ignored, the fixtures start their own
brokers, and a missing Java or Maven fails the test with the reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ats_sim_testing.kafka_broker import ExternalKafkaBroker, KafkaBroker, java_available


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _external_bootstrap_servers() -> str | None:
    """`KAFKA_BOOTSTRAP_SERVERS`, unless under CI, where the tests always start their own broker."""
    return None if _in_ci() else os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None


def _require_java() -> None:
    """Skip the test when no broker can be started here (fail instead under CI=true)."""
    reason = java_available()
    if reason is None:
        return
    message = f"cannot start a Kafka broker: {reason}"
    if _in_ci():
        pytest.fail(f"{message} (CI=true: Kafka tests must run)", pytrace=False)
    pytest.skip(f"{message}; or set KAFKA_BOOTSTRAP_SERVERS to a running broker")


@pytest.fixture(scope="session")
def kafka_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KafkaBroker | ExternalKafkaBroker]:
    """A running broker shared by the whole session; create a uniquely named topic per test."""
    external = _external_bootstrap_servers()
    if external:
        yield ExternalKafkaBroker(external)
        return
    _require_java()
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture
def unstarted_kafka_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker configured in `tmp_path/kafka` but not started; stopped after the test."""
    external = _external_bootstrap_servers()
    if external:
        pytest.skip(
            f"KAFKA_BOOTSTRAP_SERVERS={external} is set: this test stops or restarts a broker, "
            "so it needs one started by the fixture; unset it to run the test"
        )
    _require_java()
    broker = KafkaBroker(tmp_path / "kafka")
    yield broker
    broker.stop()


@pytest.fixture
def own_kafka_broker(unstarted_kafka_broker: KafkaBroker) -> KafkaBroker:
    """A fresh running broker of this test alone, free to stop, kill and restart."""
    unstarted_kafka_broker.start()
    return unstarted_kafka_broker


@pytest.fixture
def bootstrap(kafka_broker: KafkaBroker | ExternalKafkaBroker) -> str:
    """`bootstrap.servers` of the shared broker."""
    return kafka_broker.bootstrap_servers


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test alone: its topics are `<prefix>telemetry` and so on."""
    from kafka_helpers import unique_prefix

    return unique_prefix()
