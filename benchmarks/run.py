"""The benchmark harness: ``python -m benchmarks.run [--quick] [--only core,sinks,...]``.

Runs every benchmark module's ``rows()`` in this one process run and prints one table: name,
value, unit, ratio (where the row compares two things measured side by side), target, and
whether the target is met. A module whose optional parts are missing says so in the table.
Record results in BENCHMARKS.md together with the command that produced them.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time

from rich.console import Console
from rich.table import Table

MODULES = ["core", "sinks", "replay", "kafka", "snowflake", "dashboard", "notebooks"]


def print_rows(rows: list[tuple[object, ...]], title: str = "ats-sim benchmarks") -> None:
    """Print rows of (name, value, unit, ratio, target, met) as a table."""
    table = Table(title=title)
    for col in ("benchmark", "value", "unit", "ratio", "target", "met"):
        table.add_column(col, justify="right" if col in ("value", "ratio") else "left")
    for name, value, unit, ratio, target, met in rows:
        v = (
            f"{value:,.0f}"
            if isinstance(value, float | int) and abs(value) >= 100
            else f"{value:.3g}"
        )
        table.add_row(
            str(name),
            v,
            str(unit),
            "" if ratio is None else f"{ratio:.2f}",
            str(target),
            "" if met is None else ("yes" if met else "NO"),
        )
    Console(width=160).print(table)


def main() -> None:
    quick = "--quick" in sys.argv
    only = None
    for arg in sys.argv[1:]:
        if arg.startswith("--only="):
            only = arg.split("=", 1)[1].split(",")
    print(
        f"python {platform.python_version()} on {platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )
    all_rows: list[tuple[object, ...]] = []
    for name in MODULES:
        if only and name not in only:
            continue
        try:
            mod = importlib.import_module(f"benchmarks.{name}_bench")
        except ModuleNotFoundError as exc:
            all_rows.append((f"{name}: not run ({exc.name} missing)", 0.0, "", None, "", None))
            continue
        try:
            all_rows.extend(
                mod.rows(quick=quick) if "quick" in mod.rows.__code__.co_varnames else mod.rows()
            )
        except Exception as exc:  # a benchmark that cannot run says why, the others still run
            all_rows.append((f"{name}: failed: {exc}", 0.0, "", None, "", None))
    print_rows(all_rows)


if __name__ == "__main__":
    main()
