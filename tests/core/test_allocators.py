"""The first run in a process tunes its allocators (see ``ats_sim/_malloc.py``), unless told not to."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("env", "expect"),
    [
        ({}, "tuned"),
        ({"ATS_SIM_MALLOC_TUNING": "0"}, "untouched"),
        ({"ARROW_DEFAULT_MEMORY_POOL": "system"}, "untouched"),
    ],
)
def test_the_first_run_tunes_the_allocators_unless_told_not_to(
    env: dict[str, str], expect: str
) -> None:
    code = (
        "import json, pyarrow as pa, ats_sim\n"
        "before = pa.default_memory_pool().backend_name\n"
        "ats_sim.run('weekday', until='10m')\n"
        "print(json.dumps([before, pa.default_memory_pool().backend_name]))\n"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ATS_SIM_MALLOC_TUNING", "ARROW_DEFAULT_MEMORY_POOL")
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    if expect == "untouched" or before != "mimalloc":
        assert after == before
    else:
        assert after in ("jemalloc", "system")
