"""The sink contract, and what every sink shares: buffering, retries, counters.

A sink receives :class:`~ats_sim.records.Batch` objects through :meth:`Sink.write_batch` and
makes them durable on :meth:`Sink.flush`. Concrete sinks implement only :meth:`Sink._write`
(write these batches, return the bytes written) and, where needed, :meth:`Sink._close`.
Buffering by record count and age, bounded retries of transient errors and the counters the
command line shows live here, once.

Errors are split as in dlt: a :class:`TerminalSinkError` (bad configuration, bad credentials,
a missing driver) is never retried; a :class:`TransientSinkError` (a broker or warehouse that
is briefly unreachable) is retried with backoff a bounded number of times, then raised. A batch
is never dropped: the simulation cannot rewind, so the buffer is kept until it is written or
the run fails loudly.
"""

from __future__ import annotations

import abc
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

from ats_sim.errors import AtsSimError
from ats_sim.records import Batch
from sinks.url import SinkURL

__all__ = [
    "MissingDriverError",
    "Sink",
    "SinkError",
    "SinkStats",
    "TerminalSinkError",
    "TransientSinkError",
]

log = logging.getLogger(__name__)


class SinkError(AtsSimError):
    """A sink could not do what was asked."""


class TerminalSinkError(SinkError):
    """Retrying will not help: fix the configuration, the credentials or the data."""


class TransientSinkError(SinkError):
    """The destination is briefly unavailable; the same write may succeed later."""


class MissingDriverError(TerminalSinkError):
    """The optional package a sink needs is not installed."""

    def __init__(self, scheme: str, package: str, extra: str) -> None:
        super().__init__(
            f"the {scheme}:// sink needs the {package!r} package, which is not installed: "
            f"pip install 'ats-sim[{extra}]'"
        )


@dataclass
class SinkStats:
    """What a sink has made durable so far."""

    records: int = 0
    bytes: int = 0
    batches: int = 0
    flushes: int = 0
    retries: int = 0
    by_type: Counter[str] = field(default_factory=Counter)


class Sink(abc.ABC):
    """Base class of every sink: buffer, retry, count.

    Args:
        batch_records: flush once this many records are buffered.
        batch_seconds: flush once the oldest buffered record has waited this long.
        max_retries: how often a transient failure of one flush is retried before it is raised.
        retry_backoff_s: first wait between retries; doubles each time.
    """

    #: URL scheme the sink is registered under.
    scheme: ClassVar[str] = ""
    #: The delivery guarantee, in one sentence, shown by ``ats-sim run``.
    delivery: ClassVar[str] = ""

    def __init__(
        self,
        *,
        batch_records: int = 100_000,
        batch_seconds: float = 1.0,
        max_retries: int = 5,
        retry_backoff_s: float = 0.2,
    ) -> None:
        self.batch_records = batch_records
        self.batch_seconds = batch_seconds
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.stats = SinkStats()
        self._buffer: list[Batch] = []
        self._buffered = 0
        self._oldest: float | None = None
        self._closed = False
        #: The error of the last flush that gave up, until a flush succeeds.
        self._gave_up: TransientSinkError | None = None
        self._closing = False

    @classmethod
    def from_url(cls, url: SinkURL, **options: Any) -> Self:
        """Open the sink a parsed URL describes; ``options`` override its query parameters."""
        raise NotImplementedError(f"{cls.__name__} cannot be opened from a URL")

    # -- the contract -------------------------------------------------------------------------
    def write_batch(self, batch: Batch) -> None:
        """Accept a batch; it is durable once :meth:`flush` (or :meth:`close`) returns."""
        if self._closed:
            raise TerminalSinkError(f"{self!r} is closed")
        if batch.num_rows == 0:
            return
        self._buffer.append(batch)
        self._buffered += batch.num_rows
        if self._oldest is None:
            self._oldest = time.monotonic()
        if self._buffered >= self.batch_records or (
            time.monotonic() - self._oldest >= self.batch_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write everything buffered and make it durable; retries transient failures."""
        if not self._buffer:
            return
        retries = 0 if self._closing and self._gave_up is not None else self.max_retries
        batches = self._buffer
        attempt = 0
        while True:
            try:
                written = self._write(batches)
                break
            except TransientSinkError as exc:
                attempt += 1
                if attempt > retries:
                    if self._gave_up is not None:  # the last try of close(): the first error
                        raise self._gave_up from exc
                    self._gave_up = TransientSinkError(
                        f"{self.scheme} sink: gave up after {retries} retries: {exc}"
                    )
                    raise self._gave_up from exc
                self.stats.retries += 1
                wait = self.retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "%s sink: transient failure (%s); retry %d in %.1fs",
                    self.scheme,
                    exc,
                    attempt,
                    wait,
                )
                time.sleep(wait)
        for b in batches:
            self.stats.records += b.num_rows
            self.stats.by_type[b.type.name] += b.num_rows
        self.stats.batches += len(batches)
        self.stats.bytes += written
        self.stats.flushes += 1
        self._buffer = []
        self._buffered = 0
        self._oldest = None
        self._gave_up = None

    def close(self) -> None:
        """Flush, then release every resource. Safe to call twice.

        After a flush that gave up, closing tries the write once more without a new round of
        retries (the caller has the error already and should not wait for it twice); if that
        fails too, the first error is raised again.
        """
        if self._closed:
            return
        try:
            self._closing = True
            self.flush()
        finally:
            self._closed = True
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- for subclasses -----------------------------------------------------------------------
    @abc.abstractmethod
    def _write(self, batches: list[Batch]) -> int:
        """Write ``batches`` durably and return the number of bytes written.

        Raise :class:`TransientSinkError` for failures worth retrying: the same list is passed
        again, so a retried write must not duplicate what an earlier attempt already made
        durable (write atomically, or deduplicate on ``record_id``).
        """

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    def describe(self) -> str:
        """A short, secret-free description for progress output."""
        return self.scheme
