"""MEGC 2018 metrics, exactly as MER-auGCN Eq. 7–10, per-AU F1, and their bootstrap intervals.

All functions take label arrays pooled over every test fold (the MEGC 2018 convention:
predictions of all folds are concatenated, then one score is computed), plus the explicit
list of class ``labels``. ``C = len(labels)``, so a class that is missing from the ground
truth still counts in the averages: its recall term is 0/0, which we define as 0 (as
scikit-learn's ``zero_division=0``), and its F1 term is 0 unless it is also never predicted,
in which case ``2TP / (2TP + FP + FN)`` is 0/0 and is likewise taken as 0.

Intervals (:func:`clustered_bootstrap`, :func:`paired_bootstrap`, :func:`bootstrap_terms`)
resample TEST SUBJECTS, not clips: the clips of one subject are not independent, so a clip
bootstrap would be too narrow. See :func:`bootstrap_terms` for the method.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

Labels = Sequence[int]


def _as_int(y: object) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    return arr


def confusion(y_true: object, y_pred: object, labels: Labels) -> np.ndarray:
    """(C, C) counts; rows = ground truth, columns = prediction, in ``labels`` order.

    Samples whose true or predicted label is not in ``labels`` raise ``ValueError``:
    a silently ignored sample would change N.
    """
    t, p = _as_int(y_true), _as_int(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} samples but y_pred has {p.size}")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({v.item() for v in np.concatenate([t, p]) if v.item() not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not in labels={list(labels)}")
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[v.item()] for v in t], [index[v.item()] for v in p]), 1)
    return matrix


def _counts(y_true: object, y_pred: object, labels: Labels) -> tuple[np.ndarray, ...]:
    m = confusion(y_true, y_pred, labels)
    tp = np.diag(m).astype(float)
    fp = m.sum(axis=0) - tp
    fn = m.sum(axis=1) - tp
    n_c = m.sum(axis=1).astype(float)
    return tp, fp, fn, n_c


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def war(y_true: object, y_pred: object, labels: Labels) -> float:
    """Weighted average recall, Eq. 7: sum_c TP_c / N (= accuracy)."""
    tp, _, _, n_c = _counts(y_true, y_pred, labels)
    n = n_c.sum()
    return float(tp.sum() / n) if n else 0.0


def uar(y_true: object, y_pred: object, labels: Labels) -> float:
    """Unweighted average recall, Eq. 8: (1/C) sum_c TP_c / N_c."""
    tp, _, _, n_c = _counts(y_true, y_pred, labels)
    return float(_safe_div(tp, n_c).mean())


def per_class_f1(y_true: object, y_pred: object, labels: Labels) -> np.ndarray:
    """(C,) the terms 2TP_c / (2TP_c + FP_c + FN_c) of Eq. 9–10."""
    tp, fp, fn, _ = _counts(y_true, y_pred, labels)
    return _safe_div(2 * tp, 2 * tp + fp + fn)


def f1(y_true: object, y_pred: object, labels: Labels) -> float:
    """Macro F1, Eq. 9: (1/C) sum_c 2TP_c / (2TP_c + FP_c + FN_c)."""
    return float(per_class_f1(y_true, y_pred, labels).mean())


def wf1(y_true: object, y_pred: object, labels: Labels) -> float:
    """Weighted F1, Eq. 10: sum_c (N_c / N) 2TP_c / (2TP_c + FP_c + FN_c)."""
    _, _, _, n_c = _counts(y_true, y_pred, labels)
    n = n_c.sum()
    return float((n_c / n * per_class_f1(y_true, y_pred, labels)).sum()) if n else 0.0


def au_f1(y_true: object, y_pred: object) -> np.ndarray:
    """Per-AU F1 = 2TP / (2TP + FP + FN) for multi-label 0/1 arrays (M, K) -> (K,).

    An AU with no positives and no predicted positives scores 0 (0/0), as in Table VII,
    where methods that never fire on an AU get 0.00.
    """
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"au_f1 needs two (M, K) arrays, got {t.shape} and {p.shape}")
    tp = (t & p).sum(axis=0).astype(float)
    fp = (~t & p).sum(axis=0).astype(float)
    fn = (t & ~p).sum(axis=0).astype(float)
    return _safe_div(2 * tp, 2 * tp + fp + fn)


def classification_scores(y_true: object, y_pred: object, labels: Labels) -> dict[str, float]:
    """All four MEGC metrics at once: ``{"war", "uar", "f1", "wf1"}``."""
    return {
        "war": war(y_true, y_pred, labels),
        "uar": uar(y_true, y_pred, labels),
        "f1": f1(y_true, y_pred, labels),
        "wf1": wf1(y_true, y_pred, labels),
    }


# --- subject-clustered bootstrap intervals ----------------------------------------------------

#: metrics of the classification tables (1-D labels)
def uf1_uar_by_group(y_true: object, y_pred: object, groups: object, labels: Labels,
                     *, whole: str = "composite") -> dict[str, dict[str, float]]:
    """MEGC 2019's scores: ``{whole: {"uf1", "uar"}, <group>: {...}, ...}`` (groups in order of
    first appearance), each from the predictions pooled over all folds (the LOSO subjects).

    UF1 is the unweighted (macro) F1, Eq. 9: the mean over ``labels`` of 2TP/(2TP+FP+FN) with
    TP/FP/FN counted over every clip of the group; UAR the mean per-class recall TP/N (Eq. 8).
    A class absent from a group's truth and predictions scores 0 in that group.
    """
    t, p, g = _as_int(y_true), _as_int(y_pred), np.asarray(groups, dtype=object)
    if not len(t) == len(p) == len(g):
        raise ValueError(f"y_true, y_pred and groups differ in length: {len(t)}, {len(p)}, {len(g)}")
    out = {whole: {"uf1": f1(t, p, labels), "uar": uar(t, p, labels)}}
    for name in dict.fromkeys(g.tolist()):
        mask = g == name
        out[str(name)] = {"uf1": f1(t[mask], p[mask], labels), "uar": uar(t[mask], p[mask], labels)}
    return out


CLASS_METRICS: tuple[str, ...] = ("war", "uar", "f1", "wf1")
#: metrics of Table VII (multi-label 0/1 arrays): ``("au_f1", j)`` = F1 of AU column ``j``,
#: ``"au_f1_mean"`` = the mean of the per-AU F1 (Table VII's "Avg.")
AU_METRICS: tuple[str, ...] = ("au_f1", "au_f1_mean")

#: ``"war"``, ``"uar"``, ``"f1"``, ``"wf1"``, ``"au_f1_mean"``, or ``("au_f1", j)``
MetricSpec = str | tuple[str, int]


@dataclass(frozen=True)
class BootstrapConfig:
    """How every interval of a report is computed (profile field ``bootstrap``).

    ``n_resamples`` draws of the test subjects, a two-sided ``confidence`` interval, ``seed``
    of the resampling (the same draws for every cell of a table, so intervals are
    reproducible), ``method`` as :func:`scipy.stats.bootstrap` (``"percentile"``, ``"basic"``
    or ``"BCa"``).
    """

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    method: Literal["percentile", "basic", "BCa"] = "percentile"

    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`clustered_bootstrap` / :func:`bootstrap_terms`."""
        return asdict(self)


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval: the statistic on the data (``estimate``), the interval
    ``[low, high]`` and the bootstrap standard error ``se`` (std of the bootstrap distribution)."""

    estimate: float
    low: float
    high: float
    se: float

    @property
    def excludes_zero(self) -> bool:
        """The interval lies strictly on one side of 0 (a difference is "significant")."""
        return bool(self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class Term:
    """One summand of a bootstrap statistic: ``coefficient`` x (mean over strata of the mean
    over replicates of the metric on the resampled subjects).

    ``counts[k]``: stratum ``k``'s per-subject sufficient statistics of each replicate (seed),
    shape ``(S_k, R, *shape)`` (:func:`subject_counts` per replicate, stacked on axis 1). Every
    term of a statistic has the same subjects, in the same order, in each stratum.
    """

    coefficient: float
    counts: tuple[np.ndarray, ...]


def _spec(metric: MetricSpec) -> tuple[str, int | None]:
    name, column = (metric, None) if isinstance(metric, str) else (metric[0], int(metric[1]))
    if name not in CLASS_METRICS + AU_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {CLASS_METRICS + AU_METRICS}")
    if (name == "au_f1") != (column is not None):
        raise ValueError(f"{metric!r}: the per-AU F1 is ('au_f1', column); other metrics take no column")
    return name, column


def subject_counts(y_true: object, y_pred: object, groups: object, *, labels: Labels | None = None,
                   subjects: Sequence[Any] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-subject sufficient statistics of every metric: ``(subjects, counts)``.

    1-D class labels: ``counts`` is ``(S, C, C)``, each subject's confusion matrix (rows truth,
    columns prediction, in ``labels`` order); 2-D 0/1 AU arrays ``(n, K)``: ``(S, 3, K)``, each
    subject's TP / FP / FN per AU. Every metric of this module is a function of the SUM of
    these over any multiset of subjects (:func:`score_counts`), which is what makes a resample
    cheap. ``subjects`` fixes the rows (default: the sorted unique ``groups``); a clip whose
    subject is not listed raises ``ValueError``; a listed subject without clips has zero counts.
    """
    g = np.asarray(groups)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if g.ndim != 1 or len(g) != len(t) or t.shape != p.shape:
        raise ValueError(f"groups {g.shape}, y_true {t.shape} and y_pred {p.shape} do not match")
    subj = np.unique(g) if subjects is None else np.asarray(subjects)
    index = {s: i for i, s in enumerate(subj.tolist())}
    missing = sorted({str(s) for s in g.tolist() if s not in index})
    if missing:
        raise ValueError(f"clips of subjects {missing} but subjects={subj.tolist()}")
    rows = np.array([index[s] for s in g.tolist()], dtype=np.int64)
    if t.ndim == 1:
        if labels is None:
            raise ValueError("class metrics need labels (C = len(labels) counts absent classes too)")
        lab = {label: i for i, label in enumerate(labels)}
        confusion(t, p, labels)  # validates the labels
        out = np.zeros((len(subj), len(labels), len(labels)), dtype=np.int64)
        np.add.at(out, (rows, [lab[v.item()] for v in t], [lab[v.item()] for v in p]), 1)
        return subj, out
    if t.ndim == 2:
        tb, pb = t.astype(bool), p.astype(bool)
        per_clip = np.stack([tb & pb, ~tb & pb, tb & ~pb], axis=1).astype(np.int64)  # (n, 3, K)
        out = np.zeros((len(subj), *per_clip.shape[1:]), dtype=np.int64)
        np.add.at(out, rows, per_clip)
        return subj, out
    raise ValueError(f"labels must be 1-D classes or 2-D AU arrays, got shape {t.shape}")


def score_counts(counts: np.ndarray, metric: MetricSpec) -> np.ndarray:
    """``metric`` from summed counts ``(..., C, C)`` or ``(..., 3, K)``; vectorised over ``...``.

    Exactly the definitions of :func:`classification_scores` / :func:`au_f1` (same 0/0 = 0
    convention): on the counts of a set of clips it equals the metric on those clips.
    """
    name, column = _spec(metric)
    c = np.asarray(counts, dtype=float)
    if name in CLASS_METRICS:
        tp = np.diagonal(c, axis1=-2, axis2=-1)
        n_c = c.sum(axis=-1)  # true per class
        n = n_c.sum(axis=-1)
        if name == "war":
            return _safe_div(tp.sum(axis=-1), n)
        if name == "uar":
            return _safe_div(tp, n_c).mean(axis=-1)
        f1_c = _safe_div(2 * tp, n_c + c.sum(axis=-2))  # 2TP + FP + FN = true + predicted
        if name == "f1":
            return f1_c.mean(axis=-1)
        return (_safe_div(n_c, np.broadcast_to(n[..., None], n_c.shape)) * f1_c).sum(axis=-1)
    tp, fp, fn = c[..., 0, :], c[..., 1, :], c[..., 2, :]
    f1_k = _safe_div(2 * tp, 2 * tp + fp + fn)
    return f1_k[..., column] if name == "au_f1" else f1_k.mean(axis=-1)


def _draw_weights(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` subjects was drawn: ``(..., m)`` indices -> ``(..., n)`` counts."""
    flat = idx.reshape(-1, idx.shape[-1])
    offsets = (np.arange(len(flat)) * n)[:, None]
    w = np.bincount((flat + offsets).ravel(), minlength=len(flat) * n).reshape(len(flat), n)
    return w.reshape(*idx.shape[:-1], n).astype(float)


def _statistic(terms: Sequence[Term], metrics: Sequence[MetricSpec],
               weights: Sequence[np.ndarray]) -> np.ndarray:
    """(n_metrics, ...) the statistic for subject weights ``(..., S_k)`` per stratum."""
    total: np.ndarray | float = 0.0
    for term in terms:
        per_stratum = []
        for w, counts in zip(weights, term.counts, strict=True):
            summed = np.tensordot(w, counts, axes=([-1], [0]))  # (..., R, *shape)
            per_stratum.append(np.stack([score_counts(summed, m).mean(axis=-1) for m in metrics]))
        # each term's value is computed on its own, so a term minus an identical term is exactly 0
        total = total + term.coefficient * np.mean(per_stratum, axis=0)
    return np.asarray(total)


def bootstrap_terms(
    terms: Sequence[Term],
    metrics: Sequence[MetricSpec],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> list[Interval]:
    """Subject-clustered (stratified) bootstrap of ``sum_j c_j * mean_k mean_r metric_jkr``.

    The method. A resample draws, in every stratum ``k`` independently, ``S_k`` of its test
    subjects with replacement (a subject drawn twice counts twice); the metric is recomputed on
    the pooled predictions of the drawn subjects, i.e. on the sum of their counts
    (:func:`subject_counts`, exact and vectorised: one resample costs a weighted sum of
    ``(S_k, C, C)`` count matrices). With several replicates (seeds) the statistic of one
    resample is the MEAN over seeds of the metric on that resample (the same drawn subjects for
    every seed), so the interval covers the data's sampling noise around the seed-averaged
    score (the spread over seeds is reported apart, as ``std``). With several strata (the two
    HDE folds: disjoint test subjects) it is the mean over strata, each resampled within its
    own subjects; with several terms (a paired difference ``+1 A, -1 B``, an average of
    methods), every term sees the same drawn subjects. The resampling itself is
    :func:`scipy.stats.bootstrap` on the subject index of each stratum (``paired=False``
    across strata, ``vectorized=True``); ``method="percentile"`` takes the ``(1 - confidence)
    / 2`` and ``(1 + confidence) / 2`` quantiles of the bootstrap distribution; ``se`` is its
    standard deviation (``ddof=1``). A stratum of one subject is always redrawn as itself; a
    degenerate bootstrap distribution (all resamples equal) gives the zero-width interval
    ``[estimate, estimate]`` with ``se = 0`` for every method. Returns one :class:`Interval`
    per metric, the same resamples for every metric (``seed``).
    """
    if not terms:
        raise ValueError("bootstrap_terms needs at least one term")
    sizes = [len(c) for c in terms[0].counts]
    for term in terms:
        if [len(c) for c in term.counts] != sizes:
            raise ValueError(f"terms have different subjects per stratum: {[len(c) for c in term.counts]} vs {sizes}")
    if not sizes or min(sizes) == 0:
        raise ValueError("every stratum needs at least one test subject")
    for m in metrics:
        _spec(m)
    terms = [Term(float(t.coefficient), tuple(np.asarray(c, dtype=float) for c in t.counts)) for t in terms]
    active = [k for k, s in enumerate(sizes) if s >= 2]
    estimate = _statistic(terms, metrics, [np.ones(s) for s in sizes])
    if not active:  # every stratum has one subject: every resample is the data itself
        return [Interval(float(e), float(e), float(e), 0.0) for e in estimate]

    def statistic(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        lead = np.broadcast_shapes(*(i.shape[:-1] for i in idx))
        drawn = dict(zip(active, idx, strict=True))
        weights = [np.broadcast_to(_draw_weights(drawn[k], s), (*lead, s)) if k in drawn
                   else np.ones((*lead, s)) for k, s in enumerate(sizes)]
        return _statistic(terms, metrics, weights)

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # a degenerate distribution: handled below
        res = stats.bootstrap([np.arange(sizes[k]) for k in active], statistic, n_resamples=n_resamples,
                              vectorized=True, paired=False, axis=-1, confidence_level=confidence,
                              method=method, rng=np.random.default_rng(seed))
    dist = np.atleast_2d(res.bootstrap_distribution)
    low = np.atleast_1d(res.confidence_interval.low).astype(float)
    high = np.atleast_1d(res.confidence_interval.high).astype(float)
    se = np.atleast_1d(res.standard_error).astype(float)
    out = []
    for i, e in enumerate(estimate):
        if np.ptp(dist[i]) == 0:  # degenerate: every resample gives the same value
            out.append(Interval(float(e), float(dist[i, 0]), float(dist[i, 0]), 0.0))
        else:
            out.append(Interval(float(e), float(low[i]), float(high[i]), float(se[i])))
    return out


def _replicates(y: object) -> list[np.ndarray]:
    """A list/tuple of arrays = one per replicate (seed); an array = one replicate."""
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def _term_counts(y_true: object, y_pred: object, groups: object, labels: Labels | None,
                 subjects: np.ndarray) -> np.ndarray:
    preds = _replicates(y_pred)
    truths = _replicates(y_true)
    if len(truths) == 1:
        truths = truths * len(preds)
    if len(truths) != len(preds):
        raise ValueError(f"{len(truths)} y_true replicates for {len(preds)} y_pred replicates")
    return np.stack([subject_counts(t, p, groups, labels=labels, subjects=subjects)[1]
                     for t, p in zip(truths, preds, strict=True)], axis=1)  # (S, R, *shape)


def _metric_spec(metric: str, au: int | None) -> MetricSpec:
    return (metric, au) if au is not None else metric


def clustered_bootstrap(
    y_true: object,
    y_pred: object,
    groups: object,
    metric: str,
    *,
    labels: Labels | None = None,
    au: int | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> Interval:
    """Interval of ``metric`` resampling the test SUBJECTS (``groups``, one per clip).

    ``metric``: ``"war"``, ``"uar"``, ``"f1"``, ``"wf1"`` (with ``labels``) on 1-D labels,
    ``"au_f1"`` (with ``au``, the AU column) or ``"au_f1_mean"`` on ``(n, K)`` 0/1 arrays.
    Several seeds: ``y_pred`` a list of arrays (one per seed, the same clips as ``y_true``);
    the statistic is then the mean over seeds of the metric on each resample. The method:
    :func:`bootstrap_terms`.
    """
    subjects = np.unique(np.asarray(groups))
    counts = _term_counts(y_true, y_pred, groups, labels, subjects)
    return bootstrap_terms([Term(1.0, (counts,))], [_metric_spec(metric, au)], n_resamples=n_resamples,
                           confidence=confidence, seed=seed, method=method)[0]


def paired_bootstrap(
    y_true: object,
    pred_a: object,
    pred_b: object,
    groups: object,
    metric: str,
    *,
    labels: Labels | None = None,
    au: int | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> Interval:
    """Interval of ``metric(A) - metric(B)`` on the SAME resampled subjects.

    A and B predicted the same test clips (``y_true``, ``groups``); each of ``pred_a`` /
    ``pred_b`` may be a list of seeds (each side's metric is then its mean over its seeds).
    Pairing removes the between-subject variance both models share, so the interval is much
    narrower than the two marginal intervals suggest. A model against itself gives exactly
    ``[0, 0]``.
    """
    subjects = np.unique(np.asarray(groups))
    a = _term_counts(y_true, pred_a, groups, labels, subjects)
    b = _term_counts(y_true, pred_b, groups, labels, subjects)
    return bootstrap_terms([Term(1.0, (a,)), Term(-1.0, (b,))], [_metric_spec(metric, au)],
                           n_resamples=n_resamples, confidence=confidence, seed=seed, method=method)[0]


def minimum_detectable_effect(se: float | np.ndarray, *, alpha: float = 0.05,
                              power: float = 0.80) -> float | np.ndarray:
    """MDE = (z_{1 - alpha/2} + z_{power}) x SE: the true difference a two-sided test at level
    ``alpha`` detects with probability ``power``, when the estimated difference is about normal
    with standard error ``se`` (here: the bootstrap SE of a paired difference). At
    alpha = 0.05 and 80 % power the factor is 1.960 + 0.842 = 2.80."""
    factor = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return factor * np.asarray(se, dtype=float) if np.ndim(se) else factor * float(se)
