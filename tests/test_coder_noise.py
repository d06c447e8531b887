"""Coder-noisy AU codes in the synthetic sheets, the truth kept apart, the shuffled-aus control.

Rates and bookkeeping are checked on :func:`merkit.data.synthetic.plan` (full scale, no
rendering); the loaders, the ground truth file and the variant's byte-identical frames on a
pair of smoke sets (standard and ``shuffled-aus``), generated once for the module.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import shutil
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from merkit.data import synthetic
from merkit.data.source import DataConfig, DataSource, resolve
from merkit.facs import TABLE_VII_AUS, parse_aus
from merkit.io import read_json

SHUFFLED = synthetic.SyntheticConfig(variant="shuffled-aus")
CODED = ["coded_spec", "coded_aus", "coder_errors", "coded_from", "aus_cell"]


#: the FACS-coded stand-ins (the SMIC-like set has no AU codes, so no coder and nothing to shuffle)
FACS = ("casme2", "samm")


def _coded(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the FACS-coded data sets."""
    return table[table["dataset"].isin(FACS)].reset_index(drop=True)


def _key(row) -> str:
    return f"{row.subject}/{row.clip}"


def _rates(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Observed ``(errors, opportunities)`` per kind: missed per AU of a multi-AU clip, extra per
    clip, side per kept AU that can be sided."""
    kinds: Counter[str] = Counter()
    multi = sided = 0
    for row in table.itertuples():
        kinds.update(kind for kind, _ in row.coder_errors)
        missed = {au for kind, au in row.coder_errors if kind == "missed"}
        if len(row.au_spec) > 1:
            multi += len(row.au_spec)
        sided += sum(1 for au, side, _ in row.au_spec
                     if (au in synthetic._SIDED_AUS or side) and au not in missed)
    return {"missed": (kinds["missed"], multi), "extra": (kinds["extra"], len(table)),
            "side": (kinds["side"], sided)}


@pytest.fixture(scope="module")
def full_plan() -> pd.DataFrame:
    return _coded(synthetic.plan("full", seed=0))


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """The standard and the shuffled-aus smoke sets, generated side by side (two processes); the
    variant's folder has no standard sibling, so its frames are rendered, not linked."""
    root = tmp_path_factory.mktemp("coder")
    jobs = ((root / "smoke", synthetic.SyntheticConfig()), (root / "alone" / "smoke-shuffled-aus", SHUFFLED))
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = [pool.submit(synthetic.generate, out, seed=0, scale="smoke", config=config)
                for out, config in jobs]
        standard, shuffled = (Path(job.result()) for job in done)
    return standard, shuffled


# --------------------------------------------------------------------------- the plan


@pytest.mark.parametrize("rates", [(0.06, 0.06, 0.10), (0.3, 0.3, 0.4)])
def test_coder_noise_rates_are_applied(rates):
    config = synthetic.SyntheticConfig(coder_miss=rates[0], coder_extra=rates[1], coder_side=rates[2])
    observed = _rates(_coded(synthetic.plan("full", seed=0, config=config)))
    for (kind, (errors, n)), rate in zip(observed.items(), rates, strict=True):
        # within 3.5 binomial standard errors (the last-AU guard and clips without a confusable
        # partner lower the missed / extra rates a little)
        tolerance = 3.5 * math.sqrt(rate * (1 - rate) / n)
        assert abs(errors / n - rate) < tolerance, (kind, errors, n, rate)


def test_sheet_differs_from_the_truth_exactly_where_the_coder_erred(full_plan):
    assert full_plan["coder_errors"].map(len).sum() > 30
    for row in full_plan.itertuples():
        shown = {au for au, _, _ in row.au_spec}
        coded = {au for au, _, _ in row.coded_spec}
        assert (row.coded_spec != row.au_spec) == bool(row.coder_errors), row.clip
        kinds = {kind for kind, _ in row.coder_errors}
        assert (row.coded_aus != row.aus) == bool(kinds & {"missed", "extra"}), row.clip
        assert row.coded_aus == tuple(sorted(coded)) and row.coded_aus  # at least one code
        assert row.coded_from == _key(row)
        for kind, au in row.coder_errors:
            if kind == "missed":
                assert au in shown and au not in coded and len(row.au_spec) > 1
            elif kind == "extra":
                assert au not in shown and au in coded
                assert au not in synthetic.EXCLUDED_AUS[row.dataset]
                assert any({au, a} in map(set, synthetic.CONFUSED_AUS) for a in shown)
            else:
                assert kind == "side" and dict((a, s) for a, s, _ in row.coded_spec)[au] != \
                    dict((a, s) for a, s, _ in row.au_spec)[au]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "12 or 14" cell
            assert parse_aus(row.aus_cell) == row.coded_aus, row.aus_cell


def test_coder_noise_changes_no_other_draw(full_plan):
    clean = _coded(synthetic.plan("full", seed=0, config=synthetic.SyntheticConfig(
        coder_miss=0.0, coder_extra=0.0, coder_side=0.0)))
    assert not clean["coder_errors"].map(len).any()
    assert (clean["coded_spec"] == clean["au_spec"]).all()
    others = [c for c in full_plan.columns if c not in CODED]
    assert full_plan[others].equals(clean[others])
    # the cells of the clips the coder got right are written as without noise
    right = full_plan["coder_errors"].map(len) == 0
    assert full_plan.loc[right, "aus_cell"].tolist() == clean.loc[right, "aus_cell"].tolist()
    # the class is the generator's, from the true AUs (plan() asserts it on them)
    assert full_plan["objective_class"].equals(clean["objective_class"])


def test_shuffled_variant_permutes_the_coded_cells(full_plan):
    everything = synthetic.plan("full", seed=0, config=SHUFFLED)
    smic = everything[everything["dataset"] == "smic"]
    assert (smic["coded_from"] == [_key(r) for r in smic.itertuples()]).all()  # nothing to shuffle
    shuffled = _coded(everything)
    others = [c for c in full_plan.columns if c not in CODED]
    assert shuffled[others].equals(full_plan[others])  # truth, timing, classes unchanged
    standard = {_key(r): r for r in full_plan.itertuples()}
    for dataset, part in shuffled.groupby("dataset"):
        mine = full_plan[full_plan["dataset"] == dataset]
        assert sorted(map(str, part["aus_cell"])) == sorted(map(str, mine["aus_cell"]))
        assert sorted(part["coded_from"]) == sorted(_key(r) for r in mine.itertuples())
        assert (part["coded_from"] != [_key(r) for r in part.itertuples()]).mean() > 0.9
    for row in shuffled.itertuples():
        source = standard[row.coded_from]
        assert row.coded_from.startswith(row.dataset + "/")
        assert (row.coded_spec, row.coded_aus, row.coder_errors, row.aus_cell) == (
            source.coded_spec, source.coded_aus, source.coder_errors, source.aus_cell)
    assert everything.equals(synthetic.plan("full", seed=0, config=SHUFFLED))  # deterministic


def test_config_is_checked():
    for bad in (dict(coder_miss=-0.1), dict(coder_extra=1.5), dict(coder_side=2.0),
                dict(variant="shuffled")):
        with pytest.raises(ValueError):
            synthetic.SyntheticConfig(**bad)
    assert synthetic.SyntheticConfig().key() != SHUFFLED.key()  # the variant is fingerprinted
    assert synthetic.default_dir("smoke", "shuffled-aus").name == "smoke-shuffled-aus"
    assert synthetic.default_dir("full").name == "full"


# --------------------------------------------------------------------------- the written sets


def test_ground_truth_keeps_the_truth_and_the_loaders_read_the_codes(pair):
    from merkit.data import megc2018

    standard, _ = pair
    truth = _coded(synthetic.load_ground_truth(standard))
    planned = _coded(synthetic.plan("smoke", seed=0))
    assert truth["aus"].tolist() == planned["aus"].tolist()
    assert truth["coded_aus"].tolist() == planned["coded_aus"].tolist()
    assert truth["coder_errors"].tolist() == planned["coder_errors"].tolist()
    assert truth["coder_errors"].map(len).any()  # the smoke set has some coder errors
    loaded = megc2018.load(standard / "CASME2", standard / "SAMM", classes=tuple(range(1, 8)))
    assert loaded["aus"].tolist() == truth["coded_aus"].tolist()
    differ = loaded["aus"] != truth["aus"]
    assert differ.any() and (differ <= (truth["coder_errors"].map(len) > 0)).all()


def test_shuffled_set_has_the_same_frames_and_permuted_codes(pair):
    from merkit.data import megc2018

    standard, shuffled = pair
    a, b = read_json(standard / synthetic.MARKER), read_json(shuffled / synthetic.MARKER)
    frames = {rel for rel in a["files"] if rel.endswith(".jpg")}
    assert frames and frames == {rel for rel in b["files"] if rel.endswith(".jpg")}
    assert all(a["files"][rel] == b["files"][rel] for rel in frames)  # byte-identical
    assert a["files"][synthetic.LANDMARKS] == b["files"][synthetic.LANDMARKS]
    assert a["fingerprint"] != b["fingerprint"]  # the sheets differ
    ta, tb = _coded(synthetic.load_ground_truth(standard)), _coded(synthetic.load_ground_truth(shuffled))
    truth_columns = ["dataset", "subject", "clip", "onset", "apex", "offset", "aus", "au_spec",
                     "objective_class"]
    assert ta[truth_columns].equals(tb[truth_columns])
    by_key = {_key(r): r for r in ta.itertuples()}
    assert sorted(tb["coded_from"]) == sorted(by_key)
    assert (tb["coded_from"] != [_key(r) for r in tb.itertuples()]).any()
    for row in tb.itertuples():
        assert row.coded_aus == by_key[row.coded_from].coded_aus
    la = megc2018.load(standard / "CASME2", standard / "SAMM", classes=tuple(range(1, 8)))
    lb = megc2018.load(shuffled / "CASME2", shuffled / "SAMM", classes=tuple(range(1, 8)))
    assert lb["aus"].tolist() == tb["coded_aus"].tolist()
    for dataset in FACS:
        assert Counter(la.loc[la["dataset"] == dataset, "aus"]) == \
            Counter(lb.loc[lb["dataset"] == dataset, "aus"])
    assert la["objective_class"].equals(lb["objective_class"])


def test_a_variant_links_the_standard_frames_and_equals_a_rendered_one(pair, tmp_path):
    """Beside a complete standard set the variant is built from its frames (hard links, no
    rendering) and is byte for byte the variant rendered on its own (``pair``'s, whose folder
    has no standard sibling); a standard set with a corrupted frame is not used."""
    standard, rendered = pair
    assert not synthetic.standard_sibling(rendered, "smoke", "shuffled-aus").exists()  # rendered
    root = tmp_path / "ok"
    shutil.copytree(standard, root / "smoke")
    frame = next(rel for rel in read_json(standard / synthetic.MARKER)["files"] if rel.endswith(".jpg"))
    out = root / "smoke-shuffled-aus"
    assert synthetic.standard_sibling(out, "smoke", "shuffled-aus") == root / "smoke"
    synthetic.generate(out, seed=0, scale="smoke", config=SHUFFLED)
    assert (out / frame).stat().st_ino == (root / "smoke" / frame).stat().st_ino  # linked
    assert read_json(out / synthetic.MARKER) == read_json(rendered / synthetic.MARKER)
    for rel in (synthetic.GROUND_TRUTH, synthetic.LANDMARKS, frame):
        assert (out / rel).read_bytes() == (rendered / rel).read_bytes(), rel
    # same size, other bytes: only the hash (verify) sees it, and the frames are then rendered
    bad = tmp_path / "bad"
    shutil.copytree(standard, bad / "smoke")
    data = bytearray((bad / "smoke" / frame).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "smoke" / frame).write_bytes(bytes(data))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert synthetic._standard_frames(bad / "smoke-shuffled-aus", 0, "smoke", SHUFFLED, scratch) is None
    assert synthetic._standard_frames(out.with_name("smoke-shuffled-aus"), 0, "smoke", SHUFFLED,
                                      scratch) is not None  # the intact one is used
    assert synthetic.standard_sibling(tmp_path / "smoke", "smoke", "standard") is None


def test_data_source_plumbs_the_variant(pair, monkeypatch, tmp_path):
    monkeypatch.setenv("MERKIT_DATA", str(tmp_path))
    for name in ("CASME2_ROOT", "SAMM_ROOT"):
        monkeypatch.delenv(name, raising=False)
    config = DataConfig(source="synthetic", synthetic_scale="smoke", synthetic_variant="shuffled-aus")
    source = resolve(config, generate=False)
    out = tmp_path / "synthetic" / "smoke-shuffled-aus"
    assert source.roots == {"casme2": out / "CASME2", "samm": out / "SAMM"}
    assert source.variant == "shuffled-aus" and "variant=shuffled-aus" in source.label
    plain = resolve(dataclasses.replace(config, synthetic_variant="standard"), generate=False)
    assert plain.root("casme2") == tmp_path / "synthetic" / "smoke" / "CASME2"
    with pytest.raises(ValueError, match="synthetic_variant"):
        DataConfig(synthetic_variant="permuted")
    _, shuffled = pair
    on_disk = DataSource("synthetic", {"casme2": shuffled / "CASME2", "samm": shuffled / "SAMM"},
                         scale="smoke", variant="shuffled-aus")
    assert on_disk.ground_truth()["coded_from"].tolist() == \
        synthetic.load_ground_truth(shuffled)["coded_from"].tolist()


def test_au_predictions_are_scored_against_the_sheet_and_the_truth(pair):
    from merkit import protocols
    from merkit.experiments import RunResult
    from merkit.reproduce import augcn
    from merkit.reproduce.tables import Workspace

    standard, _ = pair
    source = DataSource("synthetic", {"casme2": standard / "CASME2", "samm": standard / "SAMM"},
                        scale="smoke")
    df = source.load(None)
    ws = Workspace(source, df[protocols.au_task_mask(df, TABLE_VII_AUS)].reset_index(drop=True))
    truth = augcn.true_au_targets(ws)
    sheet = protocols.au_targets(ws.df, TABLE_VII_AUS)
    assert (truth != sheet).any()
    runs = [RunResult("k", {"fold": f.name}, f.test, sheet[f.test], truth[f.test], truth[f.test].astype(float))
            for f in protocols.hde_folds(ws.df)]  # a perfect predictor of the TRUE AUs
    table = augcn.au_truth_table(ws, runs)
    assert set(table["fold"]) == {*protocols.hde_fold_names(ws.df), "avg"}
    assert len(table) == 3 * (len(TABLE_VII_AUS) + 1)
    per_au = table[table["au"].notna()]
    positives = {run.info["fold"]: truth[run.test].sum(axis=0) for run in runs}
    for row in per_au[per_au["fold"] != "avg"].itertuples():
        j = TABLE_VII_AUS.index(int(row.au))
        assert row.vs_truth == (1.0 if positives[row.fold][j] else 0.0)
        if row.n_disagree == 0:
            assert row.vs_sheet == row.vs_truth
    assert (per_au["n_disagree"] > 0).any() and (per_au["vs_sheet"] < per_au["vs_truth"]).any()
    with pytest.raises(ValueError, match="sheet AUs"):  # runs scored on other targets are refused
        augcn.au_truth_table(ws, [dataclasses.replace(r, y_true=truth[r.test]) for r in runs])
