"""The Snowflake sink against fakesnow over HTTP: the connector layout, retries, nothing twice, no leaks.

Every test writes through the real snowflake-connector-python to a fakesnow server process and
reads back through a second connection.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import ats_sim
from ats_sim.records import Batch, json_lines
from sinks import TerminalSinkError, TransientSinkError, open_sink
from sinks.snowflake import apply_schema
from sinks.snowflake_session import quiet_connector_logs

pytestmark = pytest.mark.snowflake

#: Connector 4.x timeouts short enough that a dead server is noticed in seconds (by default it
#: keeps retrying for the statement timeout, 120 s). Only the sink's URLs use them.
FAST_FAIL = {"network_timeout": 2, "login_timeout": 2}


@pytest.fixture(scope="module")
def small_run() -> list[Batch]:
    """The first hour of the weekday scenario at 10 s telemetry: every record type."""
    batches = list(ats_sim.run("weekday", until="1h", seed=7, telemetry_interval_s=10).batches())
    assert {b.type.name for b in batches} == {"telemetry", "station_event", "alert"}
    return batches


def raw_rows(sql: Any, port: int, database: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = sql(port, database, "SELECT RECORD_METADATA, RECORD_CONTENT FROM ATS_RAW_JSON")
    return [(json.loads(m), json.loads(c)) for m, c in rows]


def test_records_land_in_the_connector_layout_as_variant(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any, small_run: list[Batch]
) -> None:
    """RECORD_CONTENT is the canonical JSON; RECORD_METADATA has topic, partition, offset,
    CreateTime, key, headers; both are VARIANT (paths work), not JSON text."""
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    before = int(time.time() * 1000)
    with open_sink(url, batch_records=2_000) as sink:
        for b in small_run:
            sink.write_batch(b)
    after = int(time.time() * 1000)
    expected = {
        orjson.loads(line)["record_id"]: orjson.loads(line)
        for b in small_run
        for line in json_lines(b)
    }
    rows = raw_rows(sql, fakesnow_port, database)
    assert len(rows) == len(expected) == sink.stats.records
    assert sink.stats.flushes > 1
    for meta, content in rows:
        assert content == expected[content["record_id"]]
        assert set(meta) >= {"topic", "partition", "offset", "CreateTime", "headers"}
        assert (
            meta["topic"]
            == {
                "telemetry": "ats_telemetry",
                "station_event": "ats_station_events",
                "alert": "ats_alerts",
            }[content["record_type"]]
        )
        assert meta["partition"] == 0 and before <= meta["CreateTime"] <= after
        assert meta["key"] == (content.get("train_id") or content.get("station_id"))
        assert meta["headers"] == {"record_type": content["record_type"], "schema_version": "1"}
    # VARIANT, not a string holding JSON: paths reach into both columns, numbers stay numbers.
    [(topics, max_offset, ids)] = sql(
        fakesnow_port,
        database,
        "SELECT COUNT(DISTINCT RECORD_METADATA:topic::STRING), MAX(RECORD_METADATA:offset::NUMBER), "
        "COUNT(DISTINCT RECORD_CONTENT:record_id::STRING) FROM ATS_RAW_JSON",
    )
    assert topics == 3 and ids == len(expected)
    assert max_offset == max(Counter(c["record_type"] for _, c in rows).values()) - 1


def test_offsets_run_per_topic_without_gaps_across_flushes(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any, small_run: list[Batch]
) -> None:
    """Each topic's offsets are 0..n-1 in write order, however the records were split into flushes."""
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    with open_sink(url, batch_records=1_000) as sink:
        for b in small_run:
            sink.write_batch(b)
    by_topic: dict[str, list[tuple[int, str]]] = {}
    for meta, content in raw_rows(sql, fakesnow_port, database):
        by_topic.setdefault(meta["topic"], []).append((meta["offset"], content["record_id"]))
    written = {}
    for b in small_run:
        written.setdefault(b.type.topic, []).extend(
            orjson.loads(x)["record_id"] for x in json_lines(b)
        )
    for topic, pairs in by_topic.items():
        pairs.sort()
        assert [o for o, _ in pairs] == list(range(len(pairs)))
        assert [r for _, r in pairs] == written[topic]


def test_server_killed_mid_run_is_retried_then_fails_with_one_clear_line(
    password: str, fakesnow_plus: Any, url_for: Any, sql: Any, small_run: list[Batch]
) -> None:
    """A dead server: each flush attempt fails, is retried max_retries times, then one line.
    The batch stays buffered; once the server is back, flush() writes it, and nothing twice."""
    server = fakesnow_plus()
    url = url_for(server.port, "ATS", **FAST_FAIL)
    apply_schema(url_for(server.port, "ATS"), roles=False)
    half = len(small_run) // 2
    sink = open_sink(url, max_retries=2, retry_backoff_s=0.05)
    for b in small_run[:half]:
        sink.write_batch(b)
    sink.flush()
    server.kill()
    for b in small_run[half:]:
        sink.write_batch(b)
    with pytest.raises(TransientSinkError) as err:
        sink.flush()
    text = str(err.value)
    assert "\n" not in text and password not in text
    assert (
        "gave up after 2 retries" in text
        and "Snowflake unreachable" in text
        and "127.0.0.1" in text
    )
    assert sink.stats.retries == 2

    server.start()  # same port, same database files
    sink.close()  # flushes what is still buffered
    rows = raw_rows(sql, server.port, "ATS")
    ids = [c["record_id"] for _, c in rows]
    assert len(ids) == len(set(ids)) == sum(b.num_rows for b in small_run) == sink.stats.records


def test_server_back_during_retries_loses_nothing_and_writes_nothing_twice(
    password: str, fakesnow_plus: Any, url_for: Any, sql: Any, small_run: list[Batch]
) -> None:
    """Killed, then restarted while the sink is still retrying: the flush succeeds."""
    server = fakesnow_plus()
    url = url_for(server.port, "ATS", **FAST_FAIL)
    apply_schema(url_for(server.port, "ATS"), roles=False)
    with open_sink(url, max_retries=8, retry_backoff_s=0.25) as sink:
        sink.write_batch(small_run[0])
        sink.flush()
        server.kill()
        restarter = threading.Timer(2.0, server.start)
        restarter.start()
        for b in small_run[1:]:
            sink.write_batch(b)
        sink.flush()
        restarter.join()
    assert sink.stats.retries >= 1
    ids = [c["record_id"] for _, c in raw_rows(sql, server.port, "ATS")]
    assert len(ids) == len(set(ids)) == sum(b.num_rows for b in small_run)


def test_a_load_committed_whose_answer_was_lost_is_not_loaded_twice(
    password: str,
    fakesnow_plus: Any,
    url_for: Any,
    sql: Any,
    small_run: list[Batch],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worst case: the COPY commits, then the server dies before answering. The retry,
    on a restarted server, loads through a temporary table and inserts only the records whose
    record_id is not there yet: none."""
    server = fakesnow_plus(
        [{"when": "query", "sql": r"^COPY INTO ATS_RAW_JSON", "action": "exit_after", "times": 1}]
    )
    url = url_for(server.port, "ATS", **FAST_FAIL)
    apply_schema(url_for(server.port, "ATS"), roles=False)

    def restart_when_dead() -> None:
        server.wait_exit(timeout_s=60)
        server.start()

    watcher = threading.Thread(target=restart_when_dead)
    watcher.start()
    caplog.set_level(logging.INFO, logger="sinks.snowflake")
    with open_sink(url, max_retries=8, retry_backoff_s=0.25) as sink:
        for b in small_run:
            sink.write_batch(b)
        sink.flush()
    watcher.join()
    assert server.starts == 2 and sink.stats.retries >= 1
    total = sum(b.num_rows for b in small_run)
    ids = [c["record_id"] for _, c in raw_rows(sql, server.port, "ATS")]
    assert len(ids) == len(set(ids)) == total
    assert f"retried flush inserted 0 of {total} records" in caplog.text


def test_a_flush_that_grew_after_a_lost_answer_inserts_only_what_is_missing(
    password: str,
    fakesnow_plus: Any,
    url_for: Any,
    sql: Any,
    small_run: list[Batch],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flush fails after its COPY committed (the answer lost with the server) and the sink
    gives up; the run writes more; the next flush holds the old records and the new ones. Only
    the new ones are inserted."""
    server = fakesnow_plus(
        [{"when": "query", "sql": r"^COPY INTO ATS_RAW_JSON", "action": "exit_after", "times": 1}]
    )
    url = url_for(server.port, "ATS", **FAST_FAIL)
    apply_schema(url_for(server.port, "ATS"), roles=False)
    first, second = small_run[0], small_run[1]
    caplog.set_level(logging.INFO, logger="sinks.snowflake")
    sink = open_sink(url, max_retries=0)
    sink.write_batch(first)
    with pytest.raises(TransientSinkError):
        sink.flush()
    assert server.wait_exit() == 17  # the rule fired: COPY ran, then the server died unanswered
    server.start()
    sink.write_batch(second)
    sink.close()
    ids = [c["record_id"] for _, c in raw_rows(sql, server.port, "ATS")]
    assert len(ids) == len(set(ids)) == first.num_rows + second.num_rows
    total = first.num_rows + second.num_rows
    assert f"retried flush inserted {second.num_rows} of {total} records" in caplog.text


# -- secrets ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def everything_logged() -> Iterator[io.StringIO]:
    """Every log record of every logger, at DEBUG, formatted with tracebacks, into a buffer."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@pytest.mark.parametrize("connector_level", ["default", "DEBUG"])
def test_secrets_never_reach_logs_progress_output_or_errors(
    password: str,
    fakesnow_plus: Any,
    url_for: Any,
    small_run: list[Batch],
    capfd: pytest.CaptureFixture[str],
    connector_level: str,
) -> None:
    """A distinctive password, logging at DEBUG (ours; and in the second case the connector's
    too): connect, write, a refused login, a dead server. The password appears nowhere."""
    server = fakesnow_plus(
        [
            {
                "when": "login",
                "user": "wrong_user",
                "code": "390100",
                "message": "Incorrect username or password was specified.",
            }
        ]
    )
    url = url_for(server.port, "ATS", **FAST_FAIL)
    connector = logging.getLogger("snowflake.connector")
    saved = connector.level
    connector.setLevel(logging.NOTSET if connector_level == "default" else logging.DEBUG)
    texts: list[str] = []
    try:
        with everything_logged() as logged:
            apply_schema(url_for(server.port, "ATS"), roles=False)
            sink = open_sink(url, max_retries=1, retry_backoff_s=0.01)
            texts += [sink.describe(), repr(sink), repr(getattr(sink, "target", None))]
            sink.write_batch(small_run[0])
            sink.flush()
            with pytest.raises(TerminalSinkError) as refused:
                open_sink(url.replace("ats_writer@", "wrong_user@"))
            server.kill()
            sink.write_batch(small_run[1])
            with pytest.raises(TransientSinkError) as down:
                sink.flush()
            for err in (refused.value, down.value):
                texts += [str(err), repr(err), repr(err.__cause__), repr(err.__context__)]
            server.start()
            sink.close()
    finally:
        connector.setLevel(saved)
    out, errs = capfd.readouterr()
    texts += [logged.getvalue(), out, errs]
    assert len(logged.getvalue()) > 0
    for text in texts:
        assert password not in text


def test_connector_loggers_are_quieted_unless_the_application_chose_a_level() -> None:
    """The connector logs every HTTP request at DEBUG: left unset, it is kept at WARNING."""
    logger = logging.getLogger("snowflake.connector")
    saved = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        quiet_connector_logs()
        assert logger.level == logging.WARNING
        logger.setLevel(logging.DEBUG)
        quiet_connector_logs()
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(saved)
