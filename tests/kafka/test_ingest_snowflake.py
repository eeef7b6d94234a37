"""Kafka -> Snowflake ingest: a real broker, fakesnow over HTTP, the real connector, the real CLI.

`ats-sim ingest kafka://... --to snowflake://...` must store every message exactly once:
valid records in ATS_RAW_JSON with the real Kafka metadata, the rest in ATS_DEAD_LETTER with
their error; Kafka offsets committed only after the Snowflake commit; nothing stored twice when
an ingester is killed and restarted, when the server restarts, or when a COMMIT's answer is lost.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlglot
from confluent_kafka import Consumer, TopicPartition
from kafka_helpers import POISON, REPO, cli, cli_env, produce_run, produce_with_poison, read_topics

import ats_sim
from ats_sim.api import RunResult
from ats_sim.records import json_lines
from sinks import open_sinks
from sinks.base import TerminalSinkError
from sinks.duckdb import apply_schema as apply_duckdb_schema
from sinks.duckdb import reading
from sinks.ingest import Ingester, open_ingester
from sinks.ingest_snowflake import SnowflakeWarehouse
from sinks.kafka import topics_for
from sinks.schema import statements
from sinks.snowflake import apply_schema
from tests.snowflake_fixtures import snowflake_fixtures

_sf = snowflake_fixtures()  # only the root conftest may name plugins
fakesnow_port = _sf.fakesnow_port
fakesnow_plus = _sf.fakesnow_plus
password = _sf.password
url_for = _sf.url_for
sql = _sf.sql
database = _sf.database

pytestmark = [pytest.mark.kafka, pytest.mark.snowflake]

#: Connector 4.x timeouts short enough that a dead server is noticed in seconds.
FAST_FAIL = {"network_timeout": 2, "login_timeout": 2}


@pytest.fixture(scope="module")
def run() -> RunResult:
    """Weekday 05:30-06:30, 10 s telemetry: about 5,400 records of all three types."""
    return ats_sim.run("weekday", until="60m", seed=8, telemetry_interval_s=10)


def ingest(bootstrap: str, topics: list[str], url: str, group: str, **kw: Any) -> Ingester:
    """Run an in-process ingester into ``url`` until the topics have been quiet for 2 s."""
    kw.setdefault("batch_records", 1_000)
    kw.setdefault("batch_seconds", 0.5)
    ingester = Ingester(
        bootstrap,
        topics,
        SnowflakeWarehouse.from_url(url),
        group_id=group,
        idle_exit_s=2.0,
        **kw,
    )
    ingester.run()
    return ingester


def stored_ids(sql: Any, port: int, db: str) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every ATS_RAW_JSON row, from its RECORD_METADATA VARIANT."""
    rows = sql(
        port,
        db,
        'SELECT RECORD_METADATA:"topic"::STRING, RECORD_METADATA:"partition"::NUMBER, '
        'RECORD_METADATA:"offset"::NUMBER FROM ATS_RAW_JSON',
    )
    return [(t, int(p), int(o)) for t, p, o in rows]


def assert_each_message_once(
    sql: Any, port: int, db: str, bootstrap: str, topics: list[str]
) -> int:
    """Every message of ``topics`` is in ATS_RAW_JSON once; returns how many there are."""
    produced = {(m.topic, m.partition, m.offset) for m in read_topics(bootstrap, topics)}
    ids = stored_ids(sql, port, db)
    assert len(ids) == len(set(ids)), "a message was stored twice"
    assert set(ids) == produced, f"{len(produced - set(ids))} messages are missing"
    return len(ids)


def rewind(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit offset 0 for the group: what a crash before the offset commit leaves behind."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    meta = consumer.list_topics(timeout=10)
    consumer.commit(
        offsets=[TopicPartition(t, p, 0) for t in topics for p in meta.topics[t].partitions],
        asynchronous=False,
    )
    consumer.close()


# -- the happy path, through the command line ------------------------------------------------------


def test_replay_through_kafka_into_snowflake_stores_exactly_the_records(
    run: RunResult,
    bootstrap: str,
    prefix: str,
    tmp_path: Path,
    password: str,
    fakesnow_port: int,
    database: str,
    url_for: Any,
    sql: Any,
) -> None:
    """`ats-sim ingest --to snowflake://?connection=NAME`: one ATS_RAW_JSON row per message,
    RECORD_CONTENT the very bytes the file sink wrote for the same replay, RECORD_METADATA from
    the real message; the dynamic tables and views answer from it. Read again from offset 0,
    nothing is added."""
    files = tmp_path / "files"
    with open_sinks(
        [
            f"file://{files}?format=jsonl",
            f"kafka://{bootstrap}/{prefix}telemetry?create_topics=true&partitions=3",
        ]
    ) as sinks:
        for b in run.batches():
            sinks.write_batch(b)
    topics = sorted(set(topics_for(prefix + "telemetry").values()))
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    # The command names the account the other way: a connection in SNOWFLAKE_HOME (the password
    # fixture's empty folder), the password still from SNOWFLAKE_PASSWORD.
    (tmp_path / "snowflake-home" / "connections.toml").write_text(
        f'[ingest_test]\naccount = "fakeaccount"\nuser = "ats_writer"\ndatabase = "{database}"\n'
        f'schema = "PUBLIC"\nwarehouse = "TEST_WH"\nhost = "127.0.0.1"\nport = {fakesnow_port}\n'
        'protocol = "http"\n',
        encoding="utf-8",
    )

    res = cli(
        "ingest",
        f"kafka://{bootstrap}/{','.join(topics)}?group.id={prefix}",
        "--to",
        "snowflake://?connection=ingest_test",
        "--batch-records",
        "1000",
        "--batch-seconds",
        "0.5",
        "--exit-when-idle",
        "2",
    )
    assert res.returncode == 0, res.stderr
    said = " ".join(res.stderr.split())  # rich folds lines wider than 200 columns
    assert f"into snowflake://ats_writer@fakeaccount/{database}/PUBLIC" in said
    assert "connection 'ingest_test'" in said
    assert "0 dead letters" in said and password not in res.stderr + res.stdout

    file_lines = Counter(
        line
        for path in files.rglob("part-*.jsonl")
        for line in path.read_bytes().splitlines()
        if line
    )
    total = sum(file_lines.values())
    assert total == sum(b.num_rows for b in run.batches())
    rows = sql(
        fakesnow_port,
        database,
        'SELECT RECORD_METADATA, RECORD_CONTENT, RECORD_CONTENT:"record_id"::STRING '
        "FROM ATS_RAW_JSON",
    )
    # fakesnow keeps a VARIANT's text as loaded, so the bytes can be compared; real Snowflake
    # returns the same JSON value re-serialised (hence the value comparison as well).
    assert Counter(content.encode() for _, content, _ in rows) == file_lines
    by_id = {orjson.loads(line)["record_id"]: orjson.loads(line) for line in file_lines}
    assert all(orjson.loads(content) == by_id[rid] for _, content, rid in rows)

    messages = {(m.topic, m.partition, m.offset): m for m in read_topics(bootstrap, topics)}
    assert len(messages) == len(rows) == total
    for meta_text, content, _ in rows:
        meta = json.loads(meta_text)
        assert list(meta) == ["topic", "partition", "offset", "CreateTime", "key", "headers"]
        m = messages.pop((meta["topic"], meta["partition"], meta["offset"]))
        assert content.encode() == m.value
        assert meta["CreateTime"] == m.timestamp_ms and meta["key"] == m.key.decode()
        assert meta["headers"] == {k: v.decode() for k, v in m.headers}
    assert not messages
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_DEAD_LETTER") == [(0,)]

    # fakesnow fills dynamic tables when they are created: re-applying the schema refreshes them.
    apply_schema(url, roles=False)
    telemetry = sum(b.num_rows for b in run.batches() if b.type.name == "telemetry")
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_TRANSFORMED") == [(telemetry,)]
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_HEADWAYS")[0][0] > 0

    # A crash after the Snowflake commit but before the offset commit, simulated: all re-read,
    # all skipped.
    rewind(bootstrap, prefix, topics)
    again = ingest(bootstrap, topics, url, prefix)
    assert again.stats.messages == again.stats.duplicates == total
    assert sum(again.stats.records.values()) == 0
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_RAW_JSON") == [(total,)]


def test_poison_messages_go_to_the_dead_letter_table_and_ingest_goes_on(
    run: RunResult,
    bootstrap: str,
    prefix: str,
    password: str,
    fakesnow_port: int,
    database: str,
    url_for: Any,
    sql: Any,
) -> None:
    """Bad messages land in ATS_DEAD_LETTER with their error, key, headers and exact bytes; the
    good ones around them are stored; a re-read stores no dead letter twice."""
    batches = [b for b in run.batches() if b.type.name == "station_event"][:6]
    topic = prefix + "station_events"
    good = [line for b in batches for line in json_lines(b)]
    bad_date = orjson.loads(good[0])
    bad_date["timestamp"] = "2026-02-30T08:00:00.000Z"  # a date that does not exist
    wrong_type = orjson.loads(good[1])
    wrong_type["boarded"] = "twelve"
    poison = [
        *POISON,
        (b"k7", orjson.dumps(bad_date), "not a valid date-time"),
        (b"k8", orjson.dumps(wrong_type), "not a valid int"),
    ]
    sent = produce_with_poison(bootstrap, topic, good, poison)

    url = url_for(fakesnow_port, database, **FAST_FAIL)
    apply_schema(url, roles=False)
    ingester = ingest(bootstrap, [topic], url, prefix, batch_records=50)

    expected = [(offset, k, v, e) for offset, (k, v, e) in enumerate(sent) if e]
    assert ingester.stats.messages == len(sent)
    assert ingester.stats.dead_letters == len(expected) == len(POISON) + 2
    assert ingester.stats.records == Counter(station_event=len(good))
    dead = sql(
        fakesnow_port,
        database,
        "SELECT KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_KEY, KAFKA_HEADERS, "
        "KAFKA_TIMESTAMP, RAW_VALUE, ERROR, INGESTED_AT FROM ATS_DEAD_LETTER ORDER BY KAFKA_OFFSET",
    )
    assert len(dead) == len(expected)
    for row, (offset, key, value, error) in zip(dead, expected, strict=True):
        assert row[:4] == (topic, 0, offset, None if key is None else key.decode())
        assert json.loads(row[4]) == {"origin": "test"}
        assert row[5] > 1_600_000_000_000  # the message's CreateTime, epoch ms
        assert (None if row[6] is None else bytes(row[6])) == value
        assert error in row[7]
        assert row[8] is not None
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_RAW_JSON") == [(len(good),)]

    rewind(bootstrap, prefix, [topic])
    again = ingest(bootstrap, [topic], url, prefix, batch_records=50)
    assert again.stats.duplicates == len(sent) and again.stats.dead_letters == 0
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_DEAD_LETTER") == [
        (len(expected),)
    ]


# -- crashes and restarts --------------------------------------------------------------------------


def start_ingester(source: str, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ats_sim.cli", "ingest", source, "--to", url, "-q", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )


@pytest.mark.slow
def test_ingester_killed_with_sigkill_mid_run_and_restarted_stores_each_record_once(
    run: RunResult,
    bootstrap: str,
    prefix: str,
    password: str,
    fakesnow_port: int,
    database: str,
    url_for: Any,
    sql: Any,
) -> None:
    """SIGKILL while batches are being loaded, restart: every message in ATS_RAW_JSON exactly once."""
    topics = produce_run(bootstrap, prefix, run.batches())
    total = sum(b.num_rows for b in run.batches())
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    # A static member: the restarted ingester takes the killed one's partitions at once.
    source = f"kafka://{bootstrap}/{','.join(topics)}?group.id={prefix}&group.instance.id=ingest-1"

    def stored() -> int:
        return int(sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_RAW_JSON")[0][0])

    first = start_ingester(source, url, "--batch-records", "300", "--batch-seconds", "0.2")
    try:
        deadline = time.monotonic() + 120
        while stored() < 900 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
    at_kill = stored()
    assert 0 < at_kill < total, f"the kill should come mid-ingest, {at_kill} of {total} were stored"

    second = start_ingester(source, url, "--batch-records", "1000", "--exit-when-idle", "2")
    _out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "done: " in err and "0 dead letters" in err
    assert assert_each_message_once(sql, fakesnow_port, database, bootstrap, topics) == total


@pytest.mark.slow
def test_snowflake_restarted_mid_ingest_loses_nothing_and_stores_nothing_twice(
    run: RunResult,
    bootstrap: str,
    prefix: str,
    password: str,
    fakesnow_plus: Any,
    url_for: Any,
    sql: Any,
) -> None:
    """The server is killed after the second batch and back two seconds later: the ingester
    retries the batch on a new session; every message is stored once."""
    topics = produce_run(bootstrap, prefix, run.batches())
    server = fakesnow_plus()
    apply_schema(url_for(server.port, "ATS"), roles=False)
    restarter = threading.Timer(2.0, server.start)

    def kill_after_second_batch(stats: Any) -> None:
        if stats.batches == 2:
            server.kill()
            restarter.start()

    ingester = ingest(
        bootstrap,
        topics,
        url_for(server.port, "ATS", **FAST_FAIL),
        prefix,
        on_batch=kill_after_second_batch,
    )
    restarter.join()
    assert server.starts == 2 and ingester.stats.batches > 2
    total = assert_each_message_once(sql, server.port, "ATS", bootstrap, topics)
    assert total == sum(b.num_rows for b in run.batches()) == ingester.stats.messages


@pytest.mark.slow
def test_a_batch_committed_whose_answer_was_lost_is_not_stored_twice(
    run: RunResult,
    bootstrap: str,
    prefix: str,
    password: str,
    fakesnow_plus: Any,
    url_for: Any,
    sql: Any,
) -> None:
    """The worst case: the server commits a batch, then dies before answering. The ingester
    cannot know; it stores the batch again on the restarted server, which skips all of it."""
    topics = produce_run(bootstrap, prefix, run.batches()[:4])
    server = fakesnow_plus(
        [{"when": "query", "sql": r"^COMMIT", "action": "exit_after", "times": 1}]
    )
    apply_schema(url_for(server.port, "ATS"), roles=False)

    def restart_when_dead() -> None:
        server.wait_exit(timeout_s=120)
        server.start()

    watcher = threading.Thread(target=restart_when_dead)
    watcher.start()
    ingester = ingest(  # batches of exactly 200: 864 messages are waiting, 5 s is long
        bootstrap,
        topics,
        url_for(server.port, "ATS", **FAST_FAIL),
        prefix,
        batch_records=200,
        batch_seconds=5.0,
    )
    watcher.join()
    assert server.starts == 2
    total = assert_each_message_once(sql, server.port, "ATS", bootstrap, topics)
    # The first batch (200 messages) was stored by the attempt that lost its answer: its retry
    # found every message stored and inserted none.
    assert ingester.stats.messages == total
    assert ingester.stats.duplicates == 200
    assert sum(ingester.stats.records.values()) == total - 200


# -- errors ----------------------------------------------------------------------------------------


def one_line(res: subprocess.CompletedProcess[str], secret: str) -> str:
    """The error line of a failed command: exit status 2, no traceback, no secret, one line
    however long (the command line prints errors without folding them)."""
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and secret not in res.stderr + res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_cli_ingest_with_a_refused_login_prints_one_line_and_exits_2(
    password: str, fakesnow_plus: Any, url_for: Any
) -> None:
    """Wrong credentials: one line naming the user and the fix, before Kafka is even contacted."""
    server = fakesnow_plus(
        [
            {
                "when": "login",
                "user": "ats_writer",
                "code": "390100",
                "message": "Incorrect username or password was specified.",
            }
        ],
        persistent=False,
    )
    res = cli("ingest", "kafka://127.0.0.1:9/t", "--to", url_for(server.port, "ATS"))
    line = one_line(res, password)
    assert line.startswith("error: Snowflake refused the login of ats_writer"), line
    assert "SNOWFLAKE_PASSWORD" in line


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("snowflake://u@acct/DB/S?password=TopSecret-99", "must not contain password"),
        ("snowflake://u@acct/DB/S?warehouse=W&batch_records=10", "use --batch-records"),
        ("file:///tmp/x?format=jsonl", "writes to a duckdb:// or snowflake:// warehouse"),
    ],
)
def test_cli_ingest_with_a_bad_warehouse_url_prints_one_line_and_exits_2(
    password: str, to: str, expected: str
) -> None:
    """A secret in the URL (not repeated), a sink-only option, a scheme ingest cannot write to."""
    res = cli("ingest", "kafka://127.0.0.1:9/t", "--to", to)
    line = one_line(res, "TopSecret-99")
    assert expected in line and password not in line


def test_a_schema_without_the_dead_letter_table_says_to_apply_the_schema(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any
) -> None:
    """ATS_RAW_JSON alone (a schema applied before ATS_DEAD_LETTER existed): one line, the fix."""
    sql(
        fakesnow_port,
        database,
        "CREATE TABLE ATS_RAW_JSON (RECORD_METADATA VARIANT, RECORD_CONTENT VARIANT)",
    )
    with pytest.raises(TerminalSinkError) as err:
        open_ingester("kafka://127.0.0.1:9/t", url_for(fakesnow_port, database))
    text = str(err.value)
    assert "\n" not in text and password not in text
    assert "table ATS_DEAD_LETTER does not exist" in text and "ats-sim schema apply" in text


# -- the schema ------------------------------------------------------------------------------------


def test_the_dead_letter_table_is_the_same_in_snowflake_and_duckdb(tmp_path: Path) -> None:
    """sql/snowflake and sql/duckdb define ATS_DEAD_LETTER with the same columns, order,
    nullability and corresponding types."""
    same_type = {
        "VARCHAR": "VARCHAR",
        "INT": "INTEGER",
        "BIGINT": "BIGINT",
        "VARIANT": "JSON",
        "BINARY": "BLOB",
        "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    }
    stmt = next(s for s in statements("snowflake") if "TABLE IF NOT EXISTS ATS_DEAD_LETTER" in s)
    tree = sqlglot.parse_one(stmt, read="snowflake")
    snowflake = [
        (
            col.name,
            same_type[col.args["kind"].sql("snowflake")],
            not any(c.kind.key == "notnullcolumnconstraint" for c in col.constraints),
        )
        for col in tree.this.expressions
    ]
    apply_duckdb_schema(tmp_path / "s.duckdb")
    with reading(tmp_path / "s.duckdb") as con:
        duck = con.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_name = 'ATS_DEAD_LETTER' ORDER BY ordinal_position"
        ).fetchall()
    assert snowflake == [tuple(r) for r in duck]
    assert len(snowflake) == 9
