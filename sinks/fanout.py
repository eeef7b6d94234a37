"""Several sinks fed from one run."""

from __future__ import annotations

from ats_sim.records import Batch
from sinks.base import Sink, SinkStats

__all__ = ["FanOut"]


class FanOut(Sink):
    """Hands every batch to each of several sinks.

    Delivery: each member keeps its own guarantee; a failure of one member stops the run (it is
    raised), after which the others are still flushed and closed by :meth:`close`.
    """

    scheme = "fanout"
    delivery = "each member sink's own guarantee"

    def __init__(self, members: list[Sink]) -> None:
        super().__init__(batch_records=1, batch_seconds=0.0)
        self.members = members

    def write_batch(self, batch: Batch) -> None:
        for m in self.members:
            m.write_batch(batch)

    def flush(self) -> None:
        for m in self.members:
            m.flush()

    def _write(self, batches: list[Batch]) -> int:  # pragma: no cover - write_batch is overridden
        raise NotImplementedError

    def close(self) -> None:
        errors: list[BaseException] = []
        for m in self.members:
            try:
                m.close()
            except BaseException as exc:  # close every member, then raise the first failure
                errors.append(exc)
        self._closed = True
        if errors:
            raise errors[0]

    @property
    def member_stats(self) -> list[tuple[str, SinkStats]]:
        """Each member's description and counters."""
        return [(m.describe(), m.stats) for m in self.members]

    def describe(self) -> str:
        return " + ".join(m.describe() for m in self.members)
