"""``ats-sim ingest`` (Kafka -> warehouse) and ``ats-sim kafka broker`` (a local test broker).

``ingest`` runs a consumer-group member until Ctrl-C (or SIGTERM), or until the topics have been
quiet for ``--exit-when-idle`` seconds; either way it stores and commits what it holds before it
exits. The warehouse is DuckDB (``duckdb:///path``) or Snowflake (``snowflake://...``, the
Snowflake sink's URL; see :mod:`sinks.ingest_snowflake`). ``kafka broker`` runs the single-node Apache Kafka broker the tests use, in the
foreground, and prints its bootstrap address (the same as ``make kafka``).
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import TYPE_CHECKING

import typer

from ats_sim.cli.common import err_console, guarded

if TYPE_CHECKING:
    from sinks.ingest import IngestStats

__all__ = ["register"]

kafka_app = typer.Typer(
    help="Kafka helpers: a local broker for trying live mode.", no_args_is_help=True
)


@kafka_app.command("broker")
def broker_cmd(
    data_dir: str = typer.Option("data/kafka", "--data-dir", help="Config, data and broker.log."),
    port: int = typer.Option(9092, "--port", help="Client port (0: any free port)."),
    temp: bool = typer.Option(False, "--temp", help="Use a temporary data dir, deleted on exit."),
) -> None:
    """Run a single-node Apache Kafka broker (KRaft) on 127.0.0.1 until Ctrl-C (needs Java 17+, Maven once)."""
    from ats_sim_testing.kafka_broker import main

    argv = ["--data-dir", data_dir, "--port", str(port)] + (["--temp"] if temp else [])
    raise typer.Exit(main(argv))


def _summary(stats: IngestStats) -> str:
    records = (
        ", ".join(f"{name} {n:,}" for name, n in sorted(stats.records.items())) or "no records"
    )
    return (
        f"{stats.messages:,} messages in {stats.batches:,} batches: {records}; "
        f"{stats.dead_letters:,} dead letters; {stats.duplicates:,} already stored, skipped"
    )


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and the ``kafka`` group."""

    @app.command("ingest")
    @guarded
    def ingest_cmd(
        source: str = typer.Argument(
            ...,
            help="kafka://host:port/topic[,topic2]?group.id=...; no topic: the three default topics.",
        ),
        to: str = typer.Option(
            ...,
            "--to",
            help="Warehouse URL: duckdb:///data/ats.duckdb, "
            "snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH or snowflake://?connection=NAME.",
        ),
        group: str | None = typer.Option(
            None, "--group", help="Consumer group (default ats-sim-ingest)."
        ),
        batch_records: int | None = typer.Option(
            None,
            "--batch-records",
            help="Store a batch at this many messages (default 5,000 for DuckDB, 50,000 for Snowflake)...",
        ),
        batch_seconds: float | None = typer.Option(
            None,
            "--batch-seconds",
            help="...or when its first message waited this long (default 1 s for DuckDB, 10 s for Snowflake).",
        ),
        exit_when_idle: float | None = typer.Option(
            None, "--exit-when-idle", help="Exit after this many seconds without a new message."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    ) -> None:
        """Consume Kafka topics into DuckDB or Snowflake: raw table, dead letters, each message once."""
        from sinks.ingest import open_ingester

        last = [0.0]

        def progress(stats: IngestStats) -> None:
            now = time.monotonic()
            if not quiet and now - last[0] >= 5:
                last[0] = now
                err_console.print(f"ingested {_summary(stats)}", markup=False)

        ingester = open_ingester(
            source,
            to,
            group_id=group,
            batch_records=batch_records,
            batch_seconds=batch_seconds,
            idle_exit_s=exit_when_idle,
            on_batch=progress,
        )
        interrupted: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            interrupted.append(signum)
            ingester.stop()

        old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not quiet:
                err_console.print(
                    f"ingesting {', '.join(ingester.topics)} as group "
                    f"{ingester.conf['group.id']!r} into {ingester.warehouse.describe()}",
                    markup=False,
                )
            stats = ingester.run()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        err_console.print(f"done: {_summary(stats)}", markup=False)
        if signal.SIGINT in interrupted:
            raise typer.Exit(130)

    app.add_typer(kafka_app, name="kafka")
