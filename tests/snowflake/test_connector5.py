"""The sink and ``apply_schema`` with snowflake-connector-python 5.x, which users of the extra get.

fakesnow 0.12 cannot be imported next to connector 5.x, so this test runs the sink in another
Python: ``ATS_SNOWFLAKE5_PYTHON`` names an interpreter whose environment has connector 5.x and
the project's own dependencies (for example ``uv venv /tmp/sf5 && uv pip install --python
/tmp/sf5/bin/python 'snowflake-connector-python>=5' pyarrow orjson numpy pandas pydantic simpy
typer rich``). The fakesnow server (this Python) runs with ``--compat5``, which adds the login and
PUT response fields connector 5.x requires and fakesnow 0.12 omits. Without the variable the
test is skipped: the test environment pins connector <5 for fakesnow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from ats_sim_testing import skip_or_fail

pytestmark = pytest.mark.snowflake

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, logging, os, sys
import snowflake.connector
import ats_sim
from sinks import TerminalSinkError, open_sink
from sinks.snowflake import apply_schema
from sinks.snowflake_session import connector_major_version

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
url, bad_url = sys.argv[1], sys.argv[2]
out = {"version": snowflake.connector.__version__, "major": connector_major_version()}
out["applied"] = len(apply_schema(url, roles=False))
with open_sink(url + "&retry_max_attempts=2", batch_records=500, retry_backoff_s=0.5, max_retries=8) as sink:
    for b in ats_sim.run("weekday", until="30m", seed=2, telemetry_interval_s=10).batches():
        sink.write_batch(b)
out["records"] = sink.stats.records
out["flushes"] = sink.stats.flushes
out["retries"] = sink.stats.retries
out["describe"] = sink.describe()
try:
    open_sink(bad_url)
except TerminalSinkError as exc:
    out["refused"] = str(exc)
print(json.dumps(out))
"""


def test_sink_and_schema_apply_work_with_connector_5(
    password: str, fakesnow_plus: Any, url_for: Any, sql: Any, tmp_path: Path
) -> None:
    """Connector 5.x (another Python): apply the schema, load a run whose first COPY commits and
    then loses its answer with the server (restarted by this test: the retry inserts none of
    it again), get Snowflake's refusal of a wrong password as one line; read back here with the
    4.x connector."""
    python = os.environ.get("ATS_SNOWFLAKE5_PYTHON")
    if not python:
        skip_or_fail(
            "set ATS_SNOWFLAKE5_PYTHON to a Python with snowflake-connector-python 5.x (make test does)"
        )
    server = fakesnow_plus(
        [
            {
                "when": "login",
                "user": "wrong_user",
                "code": "390100",
                "message": "Incorrect username or password was specified.",
            },
            {
                "when": "query",
                "sql": r"^COPY INTO ATS_RAW_JSON",
                "action": "exit_after",
                "times": 1,
            },
        ],
        compat5=True,
    )

    def restart_when_dead() -> None:
        server.wait_exit(timeout_s=280)
        server.start()

    watcher = threading.Thread(target=restart_when_dead, daemon=True)
    watcher.start()
    url = url_for(server.port, "ATS5")
    script = tmp_path / "with_connector5.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SNOWFLAKE_PASSWORD": password}
    done = subprocess.run(
        [python, str(script), url, url.replace("ats_writer@", "wrong_user@")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    watcher.join(timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert server.starts == 2
    assert re.search(r"retried flush inserted 0 of \d+ records", done.stderr), done.stderr[-2000:]
    assert password not in done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["major"] >= 5
    assert out["flushes"] > 1 and out["retries"] >= 1
    assert "incorrect username or password" in out["refused"] and "\n" not in out["refused"]
    ids = sql(server.port, "ATS5", "SELECT RECORD_CONTENT:record_id::STRING FROM ATS_RAW_JSON")
    assert len(ids) == len(set(ids)) == out["records"] > 0
    [(kind,)] = sql(
        server.port,
        "ATS5",
        "SELECT COUNT(DISTINCT RECORD_METADATA:topic::STRING) FROM ATS_RAW_JSON",
    )
    assert kind >= 2
