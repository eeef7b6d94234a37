"""The Kafka sink re-sends records whose delivery failed, as they were: value, key and headers.

A record fails when librdkafka gives up on it (here: ``message.timeout.ms`` passes while the
broker is down). The producer reports only such failures; the sink keeps each failed record and
re-sends it from ``flush()`` once the broker is back. confluent-kafka hands a failed message back
without its headers, so the sink must put the record type's headers back on the re-sent record.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from kafka_helpers import read_topics, unique_prefix

import ats_sim
from ats_sim.records import json_lines
from ats_sim_testing.kafka_broker import KafkaBroker
from sinks import open_sink
from sinks.kafka import topics_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_records_that_timed_out_while_the_broker_was_down_are_resent_whole(
    own_kafka_broker: KafkaBroker,
) -> None:
    """Broker down, records time out, broker back: flush() re-sends them with key and headers."""
    broker = own_kafka_broker
    prefix = unique_prefix()
    batches = ats_sim.run("weekday", until="40m", seed=8, telemetry_interval_s=30).batches()
    sink = open_sink(
        f"kafka://{broker.bootstrap_servers}/{prefix}telemetry?create_topics=true"
        "&message.timeout.ms=1500&retry_backoff_s=0.2&max_retries=8"
    )
    broker.stop()
    for b in batches:
        sink.write_batch(b)
    time.sleep(3)  # every record times out: its delivery fails
    broker.start()
    sink.flush()
    sink.close()

    expected = Counter(line for b in batches for line in json_lines(b))
    assert sink.delivery_failures >= sum(expected.values()), "every record should have failed once"
    assert sink.stats.retries >= 1
    assert sink.stats.records == sum(expected.values())

    topic_type = {t: name for name, t in topics_for(prefix + "telemetry").items()}
    got = read_topics(broker.bootstrap_servers, list(topic_type))
    assert Counter(m.value for m in got) == expected, "lost, duplicated or altered records"
    for m in got:
        assert dict(m.headers) == {
            "record_type": topic_type[m.topic].encode(),
            "schema_version": b"1",
        }
        assert m.key is not None
