"""The notebooks run top to bottom (tiny training budget via DDC_TF_NOTEBOOK_STEPS)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("01_quickstart.ipynb", "02_guided_backprop.ipynb", "03_paper_figures.ipynb")
#: Mini-batches each notebook trains for in the tests (the committed outputs use more).
TEST_STEPS = "20"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path, monkeypatch):
    path = NOTEBOOKS / name
    assert path.is_file(), f"missing notebook {path}"
    notebook = nbformat.read(path, as_version=4)
    assert any("DDC_TF_NOTEBOOK_STEPS" in cell.source for cell in notebook.cells), "STEPS must be overridable"
    monkeypatch.setenv("DDC_TF_NOTEBOOK_STEPS", TEST_STEPS)
    monkeypatch.setenv("DDC_TF_NOTEBOOK_RUNS", "3")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    images = [
        output for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if "image/png" in output.get("data", {})
    ]
    assert images, f"{name} displayed no figure"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_outputs_and_is_small(name):
    path = NOTEBOOKS / name
    assert path.stat().st_size < 1_000_000, f"{name} is {path.stat().st_size} bytes; keep it under 1 MB"
    notebook = nbformat.read(path, as_version=4)
    pictures = sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert pictures >= 1, f"{name} was committed without its figures (run notebooks/make_notebooks.py --execute)"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not any(o.get("output_type") == "error" for o in cell.outputs), f"{name}: committed with an error"
