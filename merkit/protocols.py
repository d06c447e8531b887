"""Evaluation protocols of MEGC 2018 and the AU detection task, as index folds.

A :class:`Fold` holds positional indices into the clip DataFrame. Every constructor checks
that no subject is on both sides (subjects are unique across datasets, e.g.
``"casme2/sub01"``), so a fold can never leak an identity.

* HDE (holdout-database evaluation): one fold per data set in ``df["dataset"]``, trained on
  the others and tested on it (MEGC 2018: ``casme2->samm`` and ``samm->casme2``).
* CDE (composite-database evaluation): leave-one-subject-out over the composite
  (47 folds on MEGC 2018: 26 CASME II + 21 SAMM subjects).
* ``group_kfold``: subject-grouped k folds, the quick profile's stand-in for LOSO where
  a report says so.
* AU task (Table VII): the HDE folds over the clips that carry the Table VII AUs.

:class:`ProtocolConfig` says how CDE folds are drawn; :func:`folds` builds a protocol's folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from merkit.facs import TABLE_VII_AUS


@dataclass(frozen=True)
class ProtocolConfig:
    """How CDE folds are drawn: ``cde="loso"`` (leave one subject out, the MEGC protocol) or
    ``"group"`` (``cde_folds`` subject-grouped folds, shuffled with ``seed``, to bound CPU
    time; reports say so)."""

    cde: Literal["loso", "group"] = "loso"
    cde_folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.cde not in ("loso", "group"):
            raise ValueError(f"cde must be 'loso' or 'group', not {self.cde!r}")
        if self.cde_folds < 2:
            raise ValueError(f"cde_folds must be at least 2, not {self.cde_folds}")


@dataclass(frozen=True)
class Fold:
    """One train/test split. ``train`` and ``test`` are positional indices (sorted int arrays)."""

    name: str
    train: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        if len(np.intersect1d(self.train, self.test)):
            raise ValueError(f"fold {self.name}: a clip is in both train and test")

    def check_subjects(self, df: pd.DataFrame) -> None:
        """Raise if any subject appears on both sides of this fold."""
        train_subjects = set(df["subject"].iloc[self.train])
        shared = train_subjects & set(df["subject"].iloc[self.test])
        if shared:
            raise ValueError(f"fold {self.name}: subjects on both sides: {sorted(shared)}")


def _fold(df: pd.DataFrame, name: str, train_mask: np.ndarray, test_mask: np.ndarray) -> Fold:
    fold = Fold(name, np.flatnonzero(train_mask), np.flatnonzero(test_mask))
    fold.check_subjects(df)
    return fold


def _hde_plan(df: pd.DataFrame, datasets: Sequence[str] | None) -> list[tuple[str, str]]:
    """``(fold name, test data set)`` per HDE fold, in fold order."""
    present = sorted(set(df["dataset"]))
    if datasets is not None:
        missing = sorted(set(datasets) - set(present))
        if missing:
            raise ValueError(f"HDE needs every data set of {list(datasets)}; missing {missing}")
    if len(present) < 2:
        raise ValueError(
            f"HDE trains on some data sets and tests on another: df['dataset'] holds only "
            f"{present}, a second data set is missing"
        )
    plan = [("+".join(d for d in present if d != test) + "->" + test, test) for test in present]
    return sorted(plan)


def hde_fold_names(df: pd.DataFrame, datasets: Sequence[str] | None = None) -> tuple[str, ...]:
    """The names of :func:`hde_folds`, in order (``("casme2->samm", "samm->casme2")``)."""
    return tuple(name for name, _ in _hde_plan(df, datasets))


def hde_folds(df: pd.DataFrame, datasets: Sequence[str] | None = None) -> list[Fold]:
    """Holdout-database folds: for each data set in ``df["dataset"]``, train on the others and
    test on it.

    A fold is named ``"<train sets joined by +>-><test set>"`` (data sets sorted by name) and
    folds are sorted by name: ``casme2->samm``, ``samm->casme2`` for MEGC 2018;
    ``casme2+samm->smic``, ``casme2+smic->samm``, ``samm+smic->casme2`` with a third set.
    ``datasets``: the data sets that must be present (an absent one raises, naming it).
    """
    names = df["dataset"].to_numpy()
    return [_fold(df, name, names != test, names == test) for name, test in _hde_plan(df, datasets)]


def cde_folds(df: pd.DataFrame) -> list[Fold]:
    """Leave-one-subject-out over the composite data set (one fold per subject)."""
    subjects = df["subject"].to_numpy()
    return [_fold(df, str(s), subjects != s, subjects == s) for s in sorted(set(subjects))]


def group_kfold(df: pd.DataFrame, k: int, seed: int = 0) -> list[Fold]:
    """``k`` subject-grouped folds (subjects shuffled with ``seed``, dealt round-robin).

    Used by the quick profile instead of LOSO to bound run time; reports state it.
    """
    subjects = sorted(set(df["subject"]))
    if not 2 <= k <= len(subjects):
        raise ValueError(f"group_kfold needs 2 <= k <= {len(subjects)} subjects, got k={k}")
    order = np.random.default_rng(seed).permutation(len(subjects))
    groups = [set(np.asarray(subjects)[order[i::k]]) for i in range(k)]
    subj = df["subject"].to_numpy()
    folds = []
    for i, group in enumerate(groups):
        test = np.isin(subj, list(group))
        folds.append(_fold(df, f"group{i + 1}of{k}", ~test, test))
    return folds


def au_task_mask(df: pd.DataFrame, aus: Iterable[int] = TABLE_VII_AUS) -> np.ndarray:
    """Clips that carry at least one of ``aus`` (the Table VII sample set; any class)."""
    wanted = set(aus)
    return np.array([bool(wanted & set(a)) for a in df["aus"]], dtype=bool)


def au_targets(df: pd.DataFrame, aus: Iterable[int], *, uncoded: int | None = None) -> np.ndarray:
    """(N, K) 0/1 matrix of which of ``aus`` each clip carries.

    ``uncoded``: the value of every entry of a clip with no AU code at all (SMIC is not FACS
    coded), e.g. ``-1`` for "unknown", which :class:`merkit.losses.JointObjective` leaves out
    of the AU loss; ``None`` (default): such a clip is all 0 (no AU present)."""
    order = list(aus)
    out = np.array([[int(au in set(a)) for au in order] for a in df["aus"]], dtype=np.int64).reshape(
        len(df), len(order))
    if uncoded is not None:
        out[np.array([len(a) == 0 for a in df["aus"]], dtype=bool)] = uncoded
    return out


def folds(df: pd.DataFrame, protocol: Literal["hde", "cde"],
          config: ProtocolConfig | None = None) -> list[Fold]:
    """The folds of ``protocol``: ``"hde"`` (:func:`hde_folds`) or ``"cde"`` (LOSO, or
    ``config.cde_folds`` subject-grouped folds, at most one per subject, with ``config.cde ==
    "group"``)."""
    config = config or ProtocolConfig()
    if protocol == "hde":
        out = hde_folds(df)
    elif protocol == "cde":
        if config.cde == "loso":
            out = cde_folds(df)
        else:
            out = group_kfold(df, min(config.cde_folds, df["subject"].nunique()), seed=config.seed)
    else:
        raise ValueError(f"unknown protocol {protocol!r}; use 'hde' or 'cde'")
    check_no_leak(df, out)  # never a subject on both sides of a fold
    return out


def check_no_leak(df: pd.DataFrame, folds: Iterable[Fold]) -> None:
    """Raise if any fold shares a subject between train and test."""
    for fold in folds:
        fold.check_subjects(df)
