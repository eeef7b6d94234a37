"""The examples people copy run: README.md's Python blocks and the docstring examples.

* Every fenced ``python`` block of README.md runs, top to bottom in one namespace per block;
  ``>>>`` examples in README.md run as doctests (``# doctest: +SKIP`` marks the slow ones).
* Every ``>>>`` example in the docstrings of ``ats_sim``, ``sinks`` and ``dashboard`` modules
  runs as a doctest (as ``pytest --doctest-modules`` would), except in :data:`NOT_DOCTESTED`.
"""

from __future__ import annotations

import doctest
import importlib
import io
import os
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: Modules whose import has effects (the Streamlit page runs when imported).
NOT_DOCTESTED = {"dashboard.app", "ats_sim.cli.__main__"}
#: Packages of the optional extras: a module needing a missing one is skipped (not under CI).
OPTIONAL_DRIVERS = {
    "duckdb",
    "confluent_kafka",
    "snowflake",
    "streamlit",
    "plotly",
    "polars",
    "fakesnow",
}
IN_CI = os.environ.get("CI", "").strip().lower() == "true"
_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The fenced ``python`` code blocks of a Markdown text."""
    return _FENCE.findall(text)


def test_python_fences_are_found() -> None:
    """The block finder sees fenced Python and ignores other languages."""
    text = "x\n```python\na = 1\n```\n```sh\nls\n```\n```python\nb = 2\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = 2\n"]


@pytest.mark.parametrize("index", range(len(python_blocks(README.read_text(encoding="utf-8")))))
def test_readme_python_block_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README.md's Python block number ``index`` runs without error (in a scratch directory)."""
    block = python_blocks(README.read_text(encoding="utf-8"))[index]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def test_readme_has_python_examples() -> None:
    """The README shows the library in Python (so the test above is not empty)."""
    text = README.read_text(encoding="utf-8")
    assert python_blocks(text) or ">>>" in text


def test_readme_doctests_pass() -> None:
    """``>>>`` examples in README.md, if any, give the output shown."""
    failures, _ = doctest.testfile(
        str(README), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False, report=True
    )
    assert failures == 0


def _modules() -> list[str]:
    # The command modules import ats_sim.cli.main, which registers them: enter through main,
    # as the ats-sim console script does.
    importlib.import_module("ats_sim.cli.main")
    names = []
    for package in ("ats_sim", "sinks", "dashboard"):
        pkg = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]
    return sorted(n for n in names if n not in NOT_DOCTESTED)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_pass(module_name: str) -> None:
    """The module's ``>>>`` examples give the output shown."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # an optional driver (an extra) is not installed
        if IN_CI or (exc.name or "").split(".")[0] not in OPTIONAL_DRIVERS:
            raise
        pytest.skip(f"{module_name} needs {exc.name}, which is not installed")
    tests = [t for t in doctest.DocTestFinder().find(module, module_name) if t.examples]
    if not tests:
        return
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in tests:
        runner.run(t, out=out.write)
    assert runner.failures == 0, out.getvalue()
