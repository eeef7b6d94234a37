"""The exceptions ats-sim raises.

Every error a person can cause (a bad scenario file, URL, option or credential) is an
:class:`AtsSimError` whose text is one sentence naming what is wrong, where, and how to fix it.
The command line prints that sentence and exits with status 2; it never shows a traceback for
these. Sink errors add the terminal/transient split that decides whether a write is retried.
"""

from __future__ import annotations

__all__ = ["AtsSimError", "ConfigError", "ScenarioError"]


class AtsSimError(Exception):
    """Root of every error ats-sim raises on purpose; its text is meant for people."""

    #: Exit status the command line uses for this error.
    exit_code: int = 2


class ConfigError(AtsSimError):
    """Invalid configuration given at the edge: an option, a URL, a missing credential."""


class ScenarioError(ConfigError):
    """A scenario (file, name or object) that does not validate."""
