"""The engine's byte-built string columns are exactly what Arrow's generic kernels give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from ats_sim.columns import constant, telemetry_ids

NAMES = st.lists(st.text("AB-0123456789xyzé", min_size=0, max_size=6), min_size=1, max_size=8)


def generic(run_id: str, names: list[str], train: np.ndarray, ts: np.ndarray) -> pa.Array:
    joined = pc.binary_join_element_wise(
        run_id,
        "T",
        pa.array(names, pa.string()).take(pa.array(train, pa.int64())),
        pa.array(ts, pa.int64()).cast(pa.string()),
        "-",
    )
    return joined


def check(run_id: str, names: list[str], train: np.ndarray, ts: np.ndarray) -> None:
    out = telemetry_ids(run_id, names, train, ts)
    out.validate(full=True)
    assert out.type == pa.string()
    assert out.equals(generic(run_id, names, train, ts))


@settings(max_examples=150, deadline=None)
@given(run_id=st.text("abc-s0123456789", min_size=1, max_size=24), data=st.data())
def test_telemetry_ids_of_equal_width_trains_and_timestamps(run_id, data) -> None:
    """The byte-matrix path: train ids of one width, ascending timestamps of one digit count."""
    width = data.draw(st.integers(1, 6))
    names = data.draw(
        st.lists(st.text("AB-0123456789", min_size=width, max_size=width), min_size=1)
    )
    n = data.draw(st.integers(1, 60))
    train = np.array(data.draw(st.lists(st.integers(0, len(names) - 1), min_size=n, max_size=n)))
    digits = data.draw(st.integers(1, 15))
    low, high = 10 ** (digits - 1), 10**digits - 1
    ts = np.sort(np.array(data.draw(st.lists(st.integers(low, high), min_size=n, max_size=n))))
    check(run_id, names, train, ts)


@settings(max_examples=150, deadline=None)
@given(run_id=st.text("abc-s0123456789", min_size=1, max_size=24), names=NAMES, data=st.data())
def test_telemetry_ids_of_any_trains_and_timestamps(run_id, names, data) -> None:
    """Anything else (ids of mixed widths, unsorted or negative times) takes the generic path."""
    n = data.draw(st.integers(0, 60))
    train = np.array(data.draw(st.lists(st.integers(0, len(names) - 1), min_size=n, max_size=n)))
    stamps = data.draw(st.lists(st.integers(-(10**13), 10**14), min_size=n, max_size=n))
    check(run_id, names, train.astype(np.int64), np.array(stamps, dtype=np.int64))


def test_telemetry_ids_of_a_real_window_shape() -> None:
    """Equal-width train ids and 13-digit epoch milliseconds: the byte-matrix path."""
    names = [f"R-{i:02d}" for i in range(1, 31)]
    rng = np.random.default_rng(3)
    ts = np.sort(1_773_120_600_000 + 1000 * rng.integers(0, 300, 5000))
    train = rng.integers(0, 30, 5000)
    check("weekday-s7-363863f2", names, train, ts)


@given(value=st.text(max_size=12), n=st.integers(0, 50))
def test_a_constant_column_repeats_its_value(value: str, n: int) -> None:
    col = constant(value, n)
    col.validate(full=True)
    assert col.to_pylist() == [value] * n
