"""The sink contract, for every sink: what is written and flushed reads back unchanged.

Each case in ``sink_contract.CASES`` is opened from its URL, given the batches of a short real
run plus hand-made tricky records, flushed mid-way and closed; reading the sink back must give
exactly the canonical JSON lines of every record written (as a multiset per record type).
"""

from __future__ import annotations

from collections import Counter

import pytest
from sink_contract import CASES, SinkCase, canonical

from ats_sim.records import Batch
from sinks import open_sink


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_written_records_read_back_unchanged(
    case: SinkCase, run_batches: list[Batch], tricky_batches: list[Batch], tmp_path, request
) -> None:
    """write_batch -> flush -> more writes -> close, then the sink holds exactly those records."""
    url = case.url(tmp_path, request)
    batches = run_batches + tricky_batches
    half = len(batches) // 2
    with open_sink(url, batch_records=1_000) as sink:
        for b in batches[:half]:
            sink.write_batch(b)
        sink.flush()
        assert sink.stats.records == sum(b.num_rows for b in batches[:half])
        for b in batches[half:]:
            sink.write_batch(b)
    assert sink.stats.records == sum(b.num_rows for b in batches)
    assert sink.stats.bytes > 0
    got = case.read_back(url, sink)
    want = canonical(batches)
    for name, lines in want.items():
        assert len(got.get(name, [])) == len(lines), name
        assert Counter(got.get(name, [])) == Counter(lines), name


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_a_closed_sink_refuses_writes(
    case: SinkCase, tricky_batches: list[Batch], tmp_path, request
) -> None:
    """Writing after close() is an error, not a silent drop; closing twice is harmless."""
    from sinks import TerminalSinkError

    sink = open_sink(case.url(tmp_path, request))
    sink.close()
    sink.close()
    with pytest.raises(TerminalSinkError):
        sink.write_batch(tricky_batches[0])
