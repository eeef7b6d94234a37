"""The engine's byte-built string columns are exactly what Arrow's generic kernels give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from ats_sim.columns import Codebook, constant, take_strings, telemetry_ids

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


def _books(width: int | None) -> st.SearchStrategy[list[list[list[str]]]]:
    """Books, each a list of the batches of strings added to it; ``width``: all one width."""
    text = st.text("AB-0123456789é", min_size=width or 0, max_size=5 if width is None else width)
    return st.lists(
        st.lists(st.lists(text, min_size=1, max_size=6), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    )


@settings(max_examples=300, deadline=None)
@given(books=st.one_of(st.integers(1, 5).flatmap(_books), _books(None)), data=st.data())
def test_codes_become_the_strings_they_name_as_the_books_grow(books, data) -> None:
    """Books whose lists grow between uses (as trips are added): each column is Arrow's
    ``take`` of the books' strings one after the other, whatever the strings' widths."""
    lists: list[list[str]] = [[] for _ in books]
    codebooks = [Codebook(x) for x in lists]
    for step in range(max(len(b) for b in books)):
        for x, growth in zip(lists, books, strict=True):
            if step < len(growth):
                x.extend(growth[step])
        everything = [s for x in lists for s in x]
        codes = np.array(
            data.draw(st.lists(st.integers(0, len(everything) - 1), max_size=40)), np.int64
        )
        out = take_strings(codebooks, codes)
        out.validate(full=True)
        assert out.type == pa.string()
        assert out.equals(pa.array(everything, pa.string()).take(pa.array(codes, pa.int64())))


def test_strings_of_one_width_are_gathered_from_their_bytes() -> None:
    """The fast path is the one taken for ids of one width (the engine's trains and trips)."""
    book = Codebook(["R-01", "R-02"])
    assert book._encoded() == (4, b"R-01R-02")
    book.strings.append("R-3")
    assert book._encoded() is None
    assert take_strings([book], np.array([2, 0])).to_pylist() == ["R-3", "R-01"]
