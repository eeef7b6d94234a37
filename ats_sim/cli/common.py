"""What every command shares: the stderr console and the one-line error handling.

Every command runs through :func:`guarded`, which turns an :class:`~ats_sim.errors.AtsSimError`
into one line on stderr and its exit status (2), so a person never sees a traceback for a
mistake they can fix.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from ats_sim.errors import AtsSimError

__all__ = ["err_console", "guarded"]

#: Progress and summaries go to stderr; a pipe or file gets a wide page so nothing is cut short.
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)

F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    """Run a command; print an ats-sim error as one line and exit with its status."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AtsSimError as exc:
            err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
