"""Test helpers for ats-sim that start real services.

`ats_sim_testing.kafka_broker` starts a real single-node Apache Kafka broker (KRaft) from
Maven Central jars, for the test suite and for local runs (`python -m ats_sim_testing.kafka_broker`).
Nothing here is imported by the simulator itself.
"""

import os

__all__ = ["IN_CI", "skip_or_fail"]

#: CI runs with CI=true; there nothing may skip.
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip a test on a user's machine; under ``CI=true`` fail instead, naming the reason."""
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this check may not be skipped)")
    pytest.skip(reason)
