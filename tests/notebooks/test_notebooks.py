"""Every notebook runs top to bottom on a fresh kernel, and the repository holds them stripped.

The kernel is the ``python3`` kernel of this environment (ipykernel); its working directory is
the notebook's folder, as when a user opens it in Jupyter. A cell that raises fails the test
with the cell's traceback (nbclient's ``CellExecutionError``).

``03_warehouse`` reads ``<repository root>/data/ats.duckdb``, the root being the folder above
the kernel's working directory that holds ats-sim's ``pyproject.toml``. Its tests run a copy of
the notebook in ``<tmp>/notebooks`` under a ``<tmp>/pyproject.toml`` of that name
(:func:`checkout_copy`), so that the repository's own ``data/`` is never read nor written.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbclient import NotebookClient

#: Longest a single cell may take before the test fails, seconds.
CELL_TIMEOUT_S = 300


def _build_module(notebooks_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_build", notebooks_dir / "_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(path: Path) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel; raises on the first failing cell."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    # Importing streamlit (the dashboard tests do) sets MPLBACKEND=Agg in this process; a kernel
    # inheriting it would draw no inline figures.
    backend = os.environ.pop("MPLBACKEND", None)
    try:
        client.execute()
    finally:
        if backend is not None:
            os.environ["MPLBACKEND"] = backend
    return nb


def checkout_copy(notebooks_dir: Path, root: Path, name: str = "03_warehouse.ipynb") -> Path:
    """``root`` made to look like an ats-sim checkout (its pyproject.toml), holding a copy of
    notebook ``name`` in ``root/notebooks``; the copy's path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "ats-sim"\n', encoding="utf-8")
    (root / "notebooks").mkdir()
    return Path(shutil.copy(notebooks_dir / name, root / "notebooks" / name))


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text, in order."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out and "text/plain" in out.data:
                parts.append(out.data["text/plain"])
    return "\n".join(parts)


def images_in(nb: nbformat.NotebookNode) -> int:
    """How many PNG figures the notebook displayed."""
    return sum(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )


def test_the_repository_holds_the_generated_notebooks_without_outputs(notebooks_dir: Path) -> None:
    """Each .ipynb is byte for byte what notebooks/_build.py writes: no outputs, no counts."""
    build = _build_module(notebooks_dir)
    assert set(build.NOTEBOOKS) == {p.name for p in notebooks_dir.glob("*.ipynb")}
    for name in build.NOTEBOOKS:
        on_disk = (notebooks_dir / name).read_text(encoding="utf-8")
        assert on_disk == build.render(name), f"{name} is stale: run python notebooks/_build.py"
        nb = nbformat.reads(on_disk, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name} holds outputs"


@pytest.mark.slow
def test_quickstart_runs_and_plots(notebooks_dir: Path) -> None:
    """01: a weekday faster than real time, load and power, alerts, a train on the map."""
    nb = execute(notebooks_dir / "01_quickstart.ipynb")
    text = text_of(nb)
    speedup = re.search(r"simulated hours in [\d.]+ s: ([\d,]+) times faster than real time", text)
    assert speedup and int(speedup.group(1).replace(",", "")) > 100
    assert "alerts raised" in text or "raised" in text
    assert images_in(nb) >= 4  # load and power, alerts, the map, the train graph


@pytest.mark.slow
def test_scenarios_notebook_compares_four_days_and_sweeps(notebooks_dir: Path) -> None:
    """02: the four built-in days side by side, and a 12-variant sweep, in worker processes."""
    nb = execute(notebooks_dir / "02_scenarios.ipynb")
    text = text_of(nb)
    for name in ("weekday", "disruption", "heatwave", "event-surge"):
        assert f"Scenario('{name}'" in text
    assert (
        "rejected: scenario 'weekday' (changed in code): field 'operations.periods[0].headway_s'"
        in text
    )
    ratio = re.search(r"the heatwave draws ([\d.]+) times the energy", text)
    assert ratio and float(ratio.group(1)) > 1.0
    assert images_in(nb) == 2


@pytest.mark.slow
@pytest.mark.kafka
def test_warehouse_notebook_creates_the_file_at_the_roots_data_and_reads_kafka_ingested_data(
    notebooks_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kafka_bootstrap: str | None,
) -> None:
    """03 in a checkout without ``data/ats.duckdb`` (a fresh clone) creates it at the root's
    ``data/``, not under ``notebooks/``; with a broker, Kafka data is ingested and queried."""
    notebook = checkout_copy(notebooks_dir, tmp_path)
    monkeypatch.delenv("ATS_SIM_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap or "127.0.0.1:1")
    nb = execute(notebook)
    text = text_of(nb)
    db = tmp_path / "data" / "ats.duckdb"
    assert db.is_file() and not (tmp_path / "notebooks" / "data").exists()
    assert f"{db} does not exist yet: writing three hours of a weekday into it" in text
    assert f"reading DuckDB {db}" in text
    assert "weekday-s7-" in text and "ALERT_TYPE" in text and "LINE_ID" in text
    if kafka_bootstrap is None:
        assert "No Kafka broker reachable" in text and "skipped: no Kafka broker" in text
        return
    produced = re.search(r"produced ([\d,]+) messages", text)
    ingested = re.search(r"ingested ([\d,]+) messages", text)
    assert produced and ingested and produced.group(1) == ingested.group(1)
    assert "skipped" not in text


def _write_run(path: Path, scenario: str) -> None:
    import ats_sim
    from sinks import open_sink

    with open_sink(f"duckdb://{path}") as sink:
        ats_sim.run(scenario, until="2h", emit=sink.write_batch)


@pytest.mark.slow
def test_warehouse_notebook_reads_the_roots_data_file_the_readme_writes(
    notebooks_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """03 without ATS_SIM_WAREHOUSE_URL, started in ``<root>/notebooks`` as Jupyter starts it,
    reads ``<root>/data/ats.duckdb`` (where ``make run`` writes) and writes nothing; with no
    reachable broker it says how to start one and skips the Kafka cells."""
    notebook = checkout_copy(notebooks_dir, tmp_path)
    db = tmp_path / "data" / "ats.duckdb"
    _write_run(db, "disruption")
    before = db.stat().st_mtime_ns
    monkeypatch.delenv("ATS_SIM_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    nb = execute(notebook)
    text = text_of(nb)
    assert "does not exist yet" not in text
    assert f"reading DuckDB {db}" in text
    assert "disruption-s7-" in text  # the queries read the run written above
    assert db.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notebooks", "pyproject.toml"]
    assert sorted(p.name for p in (tmp_path / "notebooks").iterdir()) == ["03_warehouse.ipynb"]
    assert "No Kafka broker reachable at 127.0.0.1:1" in text and "make kafka" in text
    assert text.count("skipped: no Kafka broker") == 2


@pytest.mark.slow
def test_warehouse_notebook_reads_the_warehouse_the_environment_names(
    notebooks_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ATS_SIM_WAREHOUSE_URL wins over the root's file, which is then neither read nor made."""
    notebook = checkout_copy(notebooks_dir, tmp_path / "checkout")
    elsewhere = tmp_path / "elsewhere.duckdb"
    _write_run(elsewhere, "heatwave")
    monkeypatch.setenv("ATS_SIM_WAREHOUSE_URL", f"duckdb://{elsewhere}")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    text = text_of(execute(notebook))
    assert f"reading DuckDB {elsewhere}" in text and "heatwave-s7-" in text
    assert not (tmp_path / "checkout" / "data").exists()
