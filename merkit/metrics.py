"""MEGC 2018 metrics, exactly as MER-auGCN Eq. 7–10, and per-AU F1.

All functions take label arrays pooled over every test fold (the MEGC 2018 convention:
predictions of all folds are concatenated, then one score is computed), plus the explicit
list of class ``labels``. ``C = len(labels)``, so a class that is missing from the ground
truth still counts in the averages: its recall term is 0/0, which we define as 0 (as
scikit-learn's ``zero_division=0``), and its F1 term is 0 unless it is also never predicted,
in which case ``2TP / (2TP + FP + FN)`` is 0/0 and is likewise taken as 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
