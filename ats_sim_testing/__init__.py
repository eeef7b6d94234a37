"""Test helpers for ats-sim that start real services.

`ats_sim_testing.kafka_broker` starts a real single-node Apache Kafka broker (KRaft) from
Maven Central jars, for the test suite and for local runs (`python -m ats_sim_testing.kafka_broker`).
Nothing here is imported by the simulator itself.
"""
