"""The shared sink contract (tests/sinks) run against the Kafka sink and a real broker.

The contract's registry lives in ``tests/sinks/sink_contract.py`` and its test bodies in
``tests/sinks/test_contract.py``; the broker fixtures live in this folder, where that folder
cannot see them. So this module adds the Kafka case here and calls the same test bodies with
it, and with the same fixtures (imported from ``tests/sinks/conftest.py``). Reading back =
consuming the three topics from the start.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from kafka_helpers import read_topics, unique_prefix

from sinks.kafka import topics_for

pytestmark = pytest.mark.kafka

SINK_TESTS = Path(__file__).resolve().parents[1] / "sinks"


def _load(name: str, path: Path) -> ModuleType:
    sys.path.insert(0, str(SINK_TESTS))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


assert (SINK_TESTS / "sink_contract.py").is_file(), (
    "tests/sinks/sink_contract.py (the contract) is missing"
)

sink_contract = _load("ats_sink_contract_for_kafka", SINK_TESTS / "sink_contract.py")
contract_tests = _load("ats_sink_contract_tests_for_kafka", SINK_TESTS / "test_contract.py")
_sink_fixtures = _load("ats_sink_conftest_for_kafka", SINK_TESTS / "conftest.py")
run_batches = _sink_fixtures.run_batches  # the same fixtures as the contract's own run
tricky_batches = _sink_fixtures.tricky_batches


def kafka_url(tmp_path: Path, request: Any) -> str:
    bootstrap = request.getfixturevalue("kafka_broker").bootstrap_servers
    return f"kafka://{bootstrap}/{unique_prefix()}telemetry?create_topics=true&partitions=3"


def read_kafka(url: str, sink: Any) -> dict[str, list[bytes]]:
    topics = topics_for(url.split("?")[0].rsplit("/", 1)[1])
    bootstrap = url.split("://", 1)[1].split("/", 1)[0]
    messages = read_topics(bootstrap, list(topics.values()))
    by_topic = {t: name for name, t in topics.items()}
    out: dict[str, list[bytes]] = {name: [] for name in topics}
    for m in messages:
        assert m.value is not None
        out[by_topic[m.topic]].append(m.value)
    return out


#: The case to append to ``sink_contract.CASES`` once the broker fixtures are visible from tests/sinks.
KAFKA_CASE = sink_contract.SinkCase("kafka", kafka_url, read_kafka, marks=(pytest.mark.kafka,))


def test_kafka_sink_passes_the_read_back_contract(
    run_batches: list, tricky_batches: list, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """write -> flush -> more writes -> close, then the three topics hold exactly those records."""
    contract_tests.test_written_records_read_back_unchanged(
        KAFKA_CASE, run_batches, tricky_batches, tmp_path, request
    )


def test_closed_kafka_sink_refuses_writes(
    tricky_batches: list, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Writing after close() is an error, not a silent drop; closing twice is harmless."""
    contract_tests.test_a_closed_sink_refuses_writes(KAFKA_CASE, tricky_batches, tmp_path, request)
