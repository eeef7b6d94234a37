"""The test Kafka broker is a real broker: it carries messages and keeps them across restarts."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from ats_sim_testing.kafka_broker import ExternalKafkaBroker, KafkaBroker, KafkaBrokerError

pytestmark = pytest.mark.kafka

Message = tuple[bytes | None, bytes | None]


def create_topic(bootstrap_servers: str, partitions: int = 1) -> str:
    """Create a uniquely named topic and return its name."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
    futures[name].result(timeout=30)
    return name


def produce(bootstrap_servers: str, topic: str, messages: list[Message]) -> None:
    """Produce `messages` with acks=all and wait until the broker acknowledged every one."""
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    config = {"bootstrap.servers": bootstrap_servers, "acks": "all", "enable.idempotence": True}
    producer = Producer(config)
    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0, "messages still unacknowledged after 30 s"
    assert errors == []


def consume(bootstrap_servers: str, topic: str, count: int, timeout: float = 30.0) -> list[Message]:
    """Read `count` messages from the start of `topic` in a new consumer group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[Message] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                assert not error.fatal(), error
                continue
            received.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return received


def test_broker_carries_a_message_from_producer_to_consumer(
    kafka_broker: KafkaBroker | ExternalKafkaBroker,
) -> None:
    """A topic created with AdminClient takes a produced message and hands it to a consumer group."""
    topic = create_topic(kafka_broker.bootstrap_servers)
    produce(kafka_broker.bootstrap_servers, topic, [(b"train-7", b'{"speed_mps": 12.5}')])

    assert consume(kafka_broker.bootstrap_servers, topic, 1) == [
        (b"train-7", b'{"speed_mps": 12.5}')
    ]


def test_bootstrap_servers_is_an_explicit_loopback_address(own_kafka_broker: KafkaBroker) -> None:
    """Clients are given 127.0.0.1:PORT (never localhost or a blank host) and the port accepts."""
    host, port = own_kafka_broker.bootstrap_servers.split(":")
    assert host == "127.0.0.1"
    socket.create_connection((host, int(port)), timeout=5).close()


@pytest.mark.slow
def test_restarted_broker_keeps_messages(own_kafka_broker: KafkaBroker) -> None:
    """A broker stopped and started again on the same data dir serves the messages written before."""
    broker = own_kafka_broker
    bootstrap_before = broker.bootstrap_servers
    topic = create_topic(broker.bootstrap_servers)
    messages: list[Message] = [(b"train-%d" % i, b"position-%d" % i) for i in range(3)]
    produce(broker.bootstrap_servers, topic, messages)

    broker.stop()
    assert not broker.is_running
    broker.restart()

    assert broker.bootstrap_servers == bootstrap_before
    assert consume(broker.bootstrap_servers, topic, 3) == messages


@pytest.mark.slow
def test_killed_broker_recovers_acknowledged_messages(own_kafka_broker: KafkaBroker) -> None:
    """After a SIGKILL crash the restarted broker still has every message it acknowledged."""
    broker = own_kafka_broker
    topic = create_topic(broker.bootstrap_servers)
    messages: list[Message] = [(None, b"door-open-%d" % i) for i in range(100)]
    produce(broker.bootstrap_servers, topic, messages)

    broker.kill()
    broker.start()

    assert consume(broker.bootstrap_servers, topic, 100) == messages


def test_failed_start_reports_the_broker_log(unstarted_kafka_broker: KafkaBroker) -> None:
    """A broker that cannot bind its port fails fast, quoting the end of broker.log in the error."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", unstarted_kafka_broker.port))
        squatter.listen()
        with pytest.raises(KafkaBrokerError, match=r"Last lines of .*broker\.log") as failure:
            unstarted_kafka_broker.start(timeout=60)

    assert "Address already in use" in str(failure.value)
    assert not unstarted_kafka_broker.is_running
