"""Every notebook executes in the smoke profile and leaves its data-first results behind."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from merkit import metrics, paths, run

NOTEBOOKS = run.discover()


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01-au-knowledge-graph.ipynb"


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_in_smoke_profile(notebook, isolated_env):
    result = run.execute_notebook(notebook, profile="smoke", data="synthetic")
    assert result.status == "ok", result.error
    html = (paths.reports_dir() / f"{notebook.stem}.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html  # every report says when it is built on synthetic data
    tables = sorted(t for t in paths.tables_dir().glob(f"{notebook.stem}*.json")
                    if not t.name.endswith(("-headline.json", "-predictions.json")))
    assert tables, "a notebook writes its results as data before rendering"
    meta = json.loads(tables[0].read_text())
    assert meta["profile"]["name"] == "smoke" and meta["synthetic"] is True
    assert meta["git"] and meta["values"]
    predictions = paths.tables_dir() / f"{notebook.stem}-predictions.csv"
    if predictions.exists():
        assert "tables/" + predictions.name in html  # the report links its predictions
        _rescore(pd.read_csv(predictions), pd.read_csv(paths.tables_dir() / f"{notebook.stem}.csv"))


CLASS_SCORES = {"war": metrics.war, "uar": metrics.uar, "f1": metrics.f1, "wf1": metrics.wf1}


def _rescore(preds: pd.DataFrame, table: pd.DataFrame) -> None:
    """Every class-metric cell of ``table`` whose runs are in ``preds`` (not the literature,
    the fold averages or the mean of methods) equals the mean over seeds of that metric
    recomputed from the per-clip predictions, pooled over the cell's folds."""
    assert preds["clip"].notna().all() and preds["seed"].notna().all()
    if "true_class" not in preds:  # the AU task: one 0/1 column per AU
        assert any(c.startswith("true_au") for c in preds) and any(c.startswith("p_au") for c in preds)
        return
    checked = 0
    # the classes scored: the probability columns' (1..5 objective classes, 1..3 MEGC 2019)
    labels = sorted(int(c.removeprefix("p_class_")) for c in preds if c.startswith("p_class_"))
    for row in table[table["metric"].isin(list(CLASS_SCORES)) & (table["fold"] != "avg")].itertuples():
        sel = preds[preds["method"] == row.method]
        if "condition" in table and isinstance(row.condition, str):
            sel = sel[sel["condition"] == row.condition]
        if "set" in table:  # notebook 11: the standard set and the shuffled-aus control
            sel = sel[sel["set"] == row.set]
        if "dataset" in table and row.dataset != "composite":  # a per-data-set cell (notebook 12)
            sel = sel[sel["dataset"] == row.dataset]
        sel = sel[sel["fold"] == row.fold] if (sel["fold"] == row.fold).any() else sel[sel["protocol"] == "cde"]
        if sel.empty or pd.isna(row.ours):
            continue
        per_seed = [CLASS_SCORES[row.metric](g["true_class"], g["predicted_class"], labels)
                    for _, g in sel.groupby("seed")]
        assert np.mean(per_seed) == pytest.approx(row.ours, abs=1e-9), (row.method, row.fold, row.metric)
        checked += 1
    assert checked, "no table cell was re-scored from the predictions"


def test_index_lists_reports_and_failures(isolated_env):
    ok = run.NotebookResult("01-a", "ok", 1.0, "smoke", "embedded synthetic data set", "", "t")
    bad = run.NotebookResult("02-b", "failed", 2.0, "smoke", "embedded synthetic data set", "Boom", "t")
    index = run.write_index([ok, bad]).read_text()
    assert "01-a.html" in index and "02-b.html" in index and "Boom" in index
    assert "Synthetic data" in index


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_is_thin_and_clean(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell is tagged parameters"
    assert "PROFILE" in code[0].source and "DATA" in code[0].source
    for cell in code:
        assert not cell.get("outputs"), f"{notebook.name}: committed outputs (strip them)"
        assert cell.get("execution_count") is None, f"{notebook.name}: execution counts committed"
        lines = cell.source.splitlines()
        assert not any(line.lstrip().startswith(("def ", "class ")) for line in lines), (
            f"{notebook.name}: functions and classes belong in the merkit package"
        )
    assert notebook.stem[:2].isdigit() and " " not in notebook.name
