"""Every notebook runs top to bottom; the .ipynb files are stripped of outputs and in sync with their .py pairs.

The notebooks are kept as jupytext pairs: ``notebooks/NAME.py`` (percent format, what review reads)
and ``notebooks/NAME.ipynb`` (what Jupyter opens), outputs stripped.  After editing the .py file,
``jupytext --sync notebooks/*.py`` (or ``--to ipynb``) regenerates the notebook.
"""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.py"))
CELL_TIMEOUT = 120  # seconds per cell; each notebook runs in well under a minute here


def test_there_are_notebooks():
    assert [p.stem for p in PAIRS] == ["01_quickstart", "02_gradient_flows", "03_lq_riccati", "04_your_own_formula",
                                       "05_second_order", "06_grid_flows", "07_regularity"]


@pytest.mark.parametrize("py", PAIRS, ids=[p.stem for p in PAIRS])
def test_notebook_is_stripped_and_in_sync(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run jupytext --to ipynb {py}"
    nb = nbformat.read(ipynb, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{ipynb.name}: outputs not stripped"
    paired = jupytext.read(py)
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in paired.cells], \
        f"{ipynb.name} and {py.name} differ: run jupytext --sync {py}"


@pytest.mark.parametrize("py", PAIRS, ids=[p.stem for p in PAIRS])
def test_notebook_executes(py):
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # a failing cell raises CellExecutionError, which fails the test
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_a_broken_cell_fails(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")])
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="ZeroDivisionError"):
        client.execute()
