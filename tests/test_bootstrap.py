"""Subject-clustered bootstrap intervals: exact small cases, the vectorised fast path, the engine."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from merkit import experiments, metrics
from merkit.experiments import RunResult
from merkit.metrics import BootstrapConfig, Interval
from merkit.report.session import beside
from merkit.reproduce import tables

LABELS = [1, 2, 3, 4, 5]


def _three_subjects():
    """3 subjects, a few clips each, different per-subject accuracy (hand-made)."""
    y_true = np.array([1, 2, 3, 1, 1, 2, 4, 5, 3, 2, 1])
    y_pred = np.array([1, 2, 1, 1, 3, 2, 4, 1, 3, 5, 1])
    groups = np.array(["a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"])
    return y_true, y_pred, groups


def _exact_distribution(y_true, y_pred, groups, metric):
    """The ideal bootstrap: all 27 equally likely ordered draws of 3 subjects, scored directly."""
    subjects = sorted(set(groups))
    values = []
    for draw in itertools.product(subjects, repeat=len(subjects)):
        rows = np.concatenate([np.flatnonzero(groups == s) for s in draw])  # a subject drawn twice counts twice
        values.append(metrics.classification_scores(y_true[rows], y_pred[rows], LABELS)[metric])
    return np.sort(values)


@pytest.mark.parametrize("metric", metrics.CLASS_METRICS)
def test_bootstrap_matches_the_exhaustive_enumeration_of_27_resamples(metric):
    y_true, y_pred, groups = _three_subjects()
    exact = _exact_distribution(y_true, y_pred, groups, metric)
    k = 3  # quantile levels (k + 0.5) / 27: halfway between two atoms of the exact distribution
    q = (k + 0.5) / 27
    confidence = 1 - 2 * q
    iv = metrics.clustered_bootstrap(y_true, y_pred, groups, metric, labels=LABELS, n_resamples=20000,
                                     confidence=confidence, seed=1)
    assert iv.estimate == pytest.approx(metrics.classification_scores(y_true, y_pred, LABELS)[metric])
    assert iv.se == pytest.approx(exact.std(), rel=0.03)
    assert iv.low == pytest.approx(exact[k])  # the (k + 1)-th smallest of the 27
    assert iv.high == pytest.approx(exact[-k - 1])


def test_fast_path_equals_the_metric_on_the_resampled_clips():
    rng = np.random.default_rng(0)
    n, n_subjects = 120, 9
    groups = rng.integers(0, n_subjects, n)
    y_true = rng.integers(1, 6, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(1, 6, n))
    au_true, au_pred = rng.integers(0, 2, (n, 7)), rng.integers(0, 2, (n, 7))
    subjects, counts = metrics.subject_counts(y_true, y_pred, groups, labels=LABELS)
    _, au_counts = metrics.subject_counts(au_true, au_pred, groups)
    assert counts.shape == (n_subjects, 5, 5) and au_counts.shape == (n_subjects, 3, 7)
    for _ in range(5):
        draw = rng.integers(0, n_subjects, n_subjects)
        weights = np.bincount(draw, minlength=n_subjects)
        rows = np.concatenate([np.flatnonzero(groups == subjects[i]) for i in draw])
        direct = metrics.classification_scores(y_true[rows], y_pred[rows], LABELS)
        summed = np.tensordot(weights, counts, axes=1)
        assert np.array_equal(summed, metrics.confusion(y_true[rows], y_pred[rows], LABELS))
        for m in metrics.CLASS_METRICS:
            assert metrics.score_counts(summed, m) == pytest.approx(direct[m], abs=1e-12)
        au_summed = np.tensordot(weights, au_counts, axes=1)
        per_au = metrics.au_f1(au_true[rows], au_pred[rows])
        for j in range(7):
            assert metrics.score_counts(au_summed, ("au_f1", j)) == pytest.approx(per_au[j], abs=1e-12)
        assert metrics.score_counts(au_summed, "au_f1_mean") == pytest.approx(per_au.mean(), abs=1e-12)
    # vectorised over a batch of resamples
    batch = np.tensordot(rng.integers(0, 3, (4, n_subjects)), counts, axes=1)
    assert metrics.score_counts(batch, "uar").shape == (4,)


def test_identical_subjects_give_a_zero_width_interval():
    y_true = np.tile([1, 2, 3], 4)
    y_pred = np.tile([1, 3, 3], 4)
    groups = np.repeat(["s1", "s2", "s3", "s4"], 3)
    for method in ("percentile", "BCa"):
        iv = metrics.clustered_bootstrap(y_true, y_pred, groups, "uar", labels=LABELS, n_resamples=200,
                                         method=method)
        assert iv.low == iv.high == iv.estimate == pytest.approx(metrics.uar(y_true, y_pred, LABELS))
        assert iv.se == 0
    one = metrics.clustered_bootstrap(y_true, y_pred, np.zeros(12), "war", labels=LABELS)  # one subject
    assert one.low == one.high == one.estimate and one.se == 0


def test_intervals_are_deterministic_per_seed():
    y_true, y_pred, groups = _three_subjects()
    a = metrics.clustered_bootstrap(y_true, y_pred, groups, "f1", labels=LABELS, seed=3)
    b = metrics.clustered_bootstrap(y_true, y_pred, groups, "f1", labels=LABELS, seed=3)
    c = metrics.clustered_bootstrap(y_true, y_pred, groups, "f1", labels=LABELS, seed=4)
    assert a == b and isinstance(a, Interval)
    assert (a.low, a.high, a.se) != (c.low, c.high, c.se)


def test_paired_interval_of_a_model_against_itself_is_exactly_zero():
    rng = np.random.default_rng(2)
    n = 60
    groups = rng.integers(0, 10, n)
    y_true = rng.integers(1, 6, n)
    seeds = [np.where(rng.random(n) < 0.5, y_true, rng.integers(1, 6, n)) for _ in range(3)]
    for metric in metrics.CLASS_METRICS:
        iv = metrics.paired_bootstrap(y_true, seeds, seeds, groups, metric, labels=LABELS)
        assert (iv.estimate, iv.low, iv.high, iv.se) == (0.0, 0.0, 0.0, 0.0)
        assert not iv.excludes_zero
    better = metrics.paired_bootstrap(y_true, [y_true] * 3, seeds, groups, "war", labels=LABELS)
    assert better.excludes_zero and better.low > 0
    assert better.estimate == pytest.approx(1 - np.mean([metrics.war(y_true, s, LABELS) for s in seeds]))


def test_several_seeds_average_the_metric_on_the_same_resample():
    y_true, y_pred, groups = _three_subjects()
    other = np.where(np.arange(len(y_true)) % 2 == 0, y_true, y_pred[::-1])
    both = metrics.clustered_bootstrap(y_true, [y_pred, other], groups, "war", labels=LABELS, n_resamples=20000)
    # exact: the mean of the two seeds' metric on every one of the 27 draws (same subjects for both)
    subjects = sorted(set(groups))
    values = []
    for draw in itertools.product(subjects, repeat=3):
        rows = np.concatenate([np.flatnonzero(groups == s) for s in draw])
        values.append(np.mean([metrics.war(y_true[rows], p[rows], LABELS) for p in (y_pred, other)]))
    assert both.estimate == pytest.approx((metrics.war(y_true, y_pred, LABELS) + metrics.war(y_true, other, LABELS)) / 2)
    assert both.se == pytest.approx(np.std(values), rel=0.03)


def test_minimum_detectable_effect_is_2_8_standard_errors():
    assert metrics.minimum_detectable_effect(1.0) == pytest.approx(1.959964 + 0.841621, abs=1e-5)
    assert metrics.minimum_detectable_effect(0.01) == pytest.approx(0.028016, abs=1e-5)


def test_bad_specs_are_errors():
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.score_counts(np.zeros((5, 5)), "acc")
    with pytest.raises(ValueError, match="column"):
        metrics.score_counts(np.zeros((3, 7)), "au_f1")
    with pytest.raises(ValueError, match="labels"):
        metrics.subject_counts([1, 2], [1, 2], ["a", "b"])


# --- the engine -------------------------------------------------------------------------------


def _runs(method, folds, seeds, *, quality, rng):
    """RunResults of one row: ``folds`` = {name: test positions}; a right answer with prob. ``quality``."""
    out = []
    for fold, test in folds.items():
        for seed in seeds:
            y_true = 1 + np.asarray(test) % 5
            right = rng.random(len(test)) < quality
            y_pred = np.where(right, y_true, 1 + rng.integers(0, 5, len(test)))
            info = {"method": method, "fold": fold, "seed": seed, "protocol": "hde", "condition": "unocc"}
            out.append(RunResult("k", info, np.asarray(test), y_true, y_pred, np.zeros((len(test), 5))))
    return out


@pytest.fixture
def clip_table():
    groups = np.repeat([f"casme2/s{i}" for i in range(8)] + [f"samm/s{i}" for i in range(8)], 5)  # 80 clips
    folds = {"samm->casme2": np.arange(40), "casme2->samm": np.arange(40, 80)}
    return groups, folds


def test_summarize_and_score_add_intervals_per_cell(clip_table):
    groups, folds = clip_table
    rng = np.random.default_rng(0)
    runs = _runs("m", folds, (0, 1), quality=0.6, rng=rng)
    cfg = BootstrapConfig(n_resamples=300)
    table = experiments.summarize(runs, LABELS, by=("method",), fold_level=True, groups=groups, bootstrap=cfg)
    assert {"ci_low", "ci_high", "se"} <= set(table.columns)
    assert (table["ci_low"] <= table["ci_high"]).all() and (table["se"] > 0).all()
    for r in table.itertuples():  # the interval's estimate is the cell's mean over seeds
        found = experiments.intervals([x for x in runs if x.info["fold"] == r.fold], LABELS, groups, [r.metric],
                                      bootstrap=cfg)
        assert found[r.metric].estimate == pytest.approx(r.mean)
        assert (found[r.metric].low, found[r.metric].high) == (r.ci_low, r.ci_high)
    scored = tables.score(runs, "augcn.table6", metrics=("war", "uar"), pooled_over_folds=False, with_average=True,
                          groups=groups, bootstrap=cfg)
    assert scored[["ci_low", "ci_high"]].notna().all().all()
    avg = scored[(scored.fold == "avg") & (scored.metric == "uar")].iloc[0]
    per_fold = scored[(scored.fold != "avg") & (scored.metric == "uar")]
    assert avg.ours == pytest.approx(per_fold.ours.mean())
    assert avg.se < per_fold.se.max()  # the mean of two independent folds is less noisy than either
    plain = tables.score(runs, "augcn.table6", metrics=("war",), pooled_over_folds=True)
    assert plain[["ci_low", "ci_high"]].isna().all().all()  # no subjects given: no interval


def test_paired_differences_on_the_same_folds(clip_table):
    groups, folds = clip_table
    rng = np.random.default_rng(1)
    ref = _runs("mer_augcn", folds, (0,), quality=0.5, rng=rng)
    good = _runs("good", folds, (0,), quality=0.95, rng=rng)
    results = {"good": good, "mer_augcn": ref, "same": ref}
    cfg = BootstrapConfig(n_resamples=300)
    diffs = tables.paired_differences(results, "mer_augcn", groups, metrics=("war", "uar"), per_fold=True,
                                      bootstrap=cfg)
    assert set(diffs["method"]) == {"good", "same"} and len(diffs) == 2 * 2 * 2
    same = diffs[diffs.method == "same"]
    assert (same[["diff", "diff_low", "diff_high", "diff_se", "mde"]] == 0).all().all() and not same.significant.any()
    better = diffs[diffs.method == "good"]
    assert better.significant.all() and (better.diff_low > 0).all()
    assert np.allclose(better.mde, 2.8016 * better.diff_se, rtol=1e-4)
    table = tables.score(good + ref, "augcn.table3", metrics=("war", "uar"), pooled_over_folds=False,
                         groups=groups, bootstrap=cfg)
    table = tables.with_differences(table, diffs)
    assert table[table.method == "mer_augcn"]["diff"].isna().all()
    assert not table[table.method == "mer_augcn"]["significant"].any()
    view = tables.difference_view(table, "method", ["fold", "metric"])
    assert list(view.index) == ["good"] and all(str(v).endswith("*") for v in view.to_numpy().ravel())
    notes = tables.difference_notes(table, "MER-auGCN", cfg)
    assert "* = the 95 % interval of the difference to MER-auGCN excludes 0" in notes
    assert "minimum detectable effect (WAR)" in notes and "2.80" in notes
    moved = [RunResult(r.key, r.info, r.test[:-1], r.y_true[:-1], r.y_pred[:-1], r.scores[:-1]) for r in good]
    with pytest.raises(ValueError, match="do not share their test clips"):
        experiments.intervals([(1.0, moved), (-1.0, ref)], LABELS, groups, ["war"], per_fold=True)


def test_au_intervals_per_column(clip_table):
    groups, folds = clip_table
    rng = np.random.default_rng(4)
    runs = []
    for fold, test in folds.items():
        t = rng.integers(0, 2, (len(test), 7))
        p = np.where(rng.random(t.shape) < 0.8, t, 1 - t)
        runs.append(RunResult("k", {"fold": fold, "seed": 0}, test, t, p, p.astype(float)))
    which = [("au_f1", j) for j in range(7)] + ["au_f1_mean"]
    found = experiments.intervals(runs, None, groups, which, per_fold=True, bootstrap=BootstrapConfig(n_resamples=200))
    direct = np.mean([metrics.au_f1(r.y_true, r.y_pred) for r in runs], axis=0)
    for j in range(7):
        assert found["au_f1", j].estimate == pytest.approx(direct[j])
        assert found["au_f1", j].low <= direct[j] + 0.05 and found["au_f1", j].high >= direct[j] - 0.05
    assert found["au_f1_mean"].estimate == pytest.approx(direct.mean())


def test_occlusion_sized_tables_are_cheap():
    """13 conditions x 6 methods x 2 folds x 2 metrics, 1000 resamples each: seconds, not minutes."""
    import time

    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(47), 4)
    y_true = rng.integers(1, 6, len(groups))
    preds = [np.where(rng.random(len(groups)) < 0.5, y_true, rng.integers(1, 6, len(groups))) for _ in range(6)]
    start = time.perf_counter()
    for _ in range(13 * 2):
        for p in preds:
            counts = np.stack([metrics.subject_counts(y_true, p, groups, labels=LABELS)[1]], axis=1)
            metrics.bootstrap_terms([metrics.Term(1.0, (counts,))], ["war", "uar"], n_resamples=1000)
    assert time.perf_counter() - start < 30


def test_beside_shows_the_interval_and_the_spread():
    table = pd.DataFrame([
        {"label": "A", "metric": "uar", "ours": 0.708, "std": 0.0, "n_seeds": 1, "ci_low": 0.652, "ci_high": 0.761,
         "published": 0.7},
        {"label": "B", "metric": "uar", "ours": 0.5, "std": 0.012, "n_seeds": 3, "ci_low": 0.45, "ci_high": 0.55,
         "published": None},
        {"label": "C", "metric": "uar", "ours": None, "std": None, "n_seeds": 0, "ci_low": None, "ci_high": None,
         "published": 0.6},
    ])
    wide = beside(table, "label", "metric")
    assert wide.loc["A", ("UAR", "ours")] == "0.708 [0.652, 0.761]"
    assert wide.loc["B", ("UAR", "ours")] == "0.500 ± 0.012 [0.450, 0.550]"
    assert wide.loc["C", ("UAR", "ours")] == "" and wide.loc["C", ("UAR", "published")] == "0.600"
