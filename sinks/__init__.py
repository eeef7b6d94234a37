"""Sink plugins: where simulated records go, chosen by URL.

>>> from sinks import open_sink
>>> sink = open_sink("memory://")
>>> sink.scheme
'memory'

Each scheme maps to a module that is imported only when a URL uses it, so that importing
``sinks`` (or ``ats_sim``) never imports a driver such as confluent-kafka or the Snowflake
connector. A scheme whose driver is missing says which extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from sinks.base import (
    MissingDriverError,
    Sink,
    SinkError,
    SinkStats,
    TerminalSinkError,
    TransientSinkError,
)
from sinks.fanout import FanOut
from sinks.url import SinkURL, parse_sink_url

__all__ = [
    "FanOut",
    "MissingDriverError",
    "Sink",
    "SinkError",
    "SinkStats",
    "SinkURL",
    "TerminalSinkError",
    "TransientSinkError",
    "open_sink",
    "open_sinks",
    "parse_sink_url",
    "registered_schemes",
]

#: scheme -> (module, class, the driver package it needs, the extra that installs it)
_REGISTRY: dict[str, tuple[str, str, str | None, str | None]] = {
    "memory": ("sinks.memory", "MemorySink", None, None),
    "file": ("sinks.files", "FileSink", None, None),
    "duckdb": ("sinks.duckdb", "DuckDBSink", "duckdb", "duckdb"),
    "kafka": ("sinks.kafka", "KafkaSink", "confluent_kafka", "kafka"),
    "snowflake": ("sinks.snowflake", "SnowflakeSink", "snowflake.connector", "snowflake"),
}


def registered_schemes() -> list[str]:
    """The URL schemes a sink exists for."""
    return list(_REGISTRY)


def _sink_class(scheme: str) -> type[Sink]:
    module, cls, driver, extra = _REGISTRY[scheme]
    if driver is not None:
        try:
            importlib.import_module(driver)
        except ImportError:
            raise MissingDriverError(
                scheme, driver.split(".")[0].replace("_", "-"), extra or scheme
            ) from None
    mod = importlib.import_module(module)
    sink_cls: type[Sink] = getattr(mod, cls)
    return sink_cls


def open_sink(url: str | SinkURL, **options: Any) -> Sink:
    """Open the sink that ``url`` names; ``options`` override the URL's query parameters.

    Raises :class:`~ats_sim.errors.ConfigError` for a malformed URL or unknown scheme, and
    :class:`MissingDriverError` when the scheme's driver is not installed.
    """
    parsed = url if isinstance(url, SinkURL) else parse_sink_url(url, known=registered_schemes())
    sink_cls = _sink_class(parsed.scheme)
    return sink_cls.from_url(parsed, **options)


def open_sinks(urls: list[str], **options: Any) -> Sink:
    """One sink for one URL, a :class:`FanOut` over several."""
    if len(urls) == 1:
        return open_sink(urls[0], **options)
    opened: list[Sink] = []
    try:
        for u in urls:
            opened.append(open_sink(u, **options))
    except BaseException:
        for s in opened:
            s.close()
        raise
    return FanOut(opened)
