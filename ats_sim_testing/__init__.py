"""Test helpers for ats-sim that start real services.

`ats_sim_testing.kafka_broker` starts a real single-node Apache Kafka broker (KRaft) from
Maven Central jars, for the test suite and for local runs (`python -m ats_sim_testing.kafka_broker`).
Nothing here is imported by the simulator itself.
"""

import importlib
import os
from typing import Any

__all__ = ["IN_CI", "require", "skip_or_fail"]

#: CI runs with CI=true; there nothing may skip.
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip a test on a user's machine; under ``CI=true`` fail instead, naming the reason."""
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this check may not be skipped)")
    pytest.skip(reason)


def require(module: str, why: str) -> Any:
    """Import ``module`` for a test; without it, skip on a user's machine (saying ``why`` it is
    needed) or, under ``CI=true``, fail."""
    import pytest

    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{module} is not installed ({why})"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: this check may not be skipped)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
