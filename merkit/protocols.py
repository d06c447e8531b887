"""Evaluation protocols of MEGC 2018 and the AU detection task, as index folds.

A :class:`Fold` holds positional indices into the clip DataFrame. Every constructor checks
that no subject is on both sides (subjects are unique across datasets, e.g.
``"casme2/sub01"``), so a fold can never leak an identity.

* HDE (holdout-database evaluation): two folds, train on one dataset, test on the other.
* CDE (composite-database evaluation): leave-one-subject-out over the composite
  (47 folds on MEGC 2018: 26 CASME II + 21 SAMM subjects).
* ``group_kfold``: subject-grouped k folds, the quick profile's stand-in for LOSO where
  a report says so.
* AU task (Table VII): the HDE folds over the clips that carry the Table VII AUs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from merkit.facs import TABLE_VII_AUS

HDE_FOLDS: tuple[str, ...] = ("casme2->samm", "samm->casme2")


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


def hde_folds(df: pd.DataFrame) -> list[Fold]:
    """The two MEGC 2018 HDE folds: ``casme2->samm`` and ``samm->casme2``."""
    datasets = df["dataset"].to_numpy()
    missing = {"casme2", "samm"} - set(datasets)
    if missing:
        raise ValueError(f"HDE needs both datasets; missing {sorted(missing)}")
    c, s = datasets == "casme2", datasets == "samm"
    return [_fold(df, "casme2->samm", c, s), _fold(df, "samm->casme2", s, c)]


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


def au_targets(df: pd.DataFrame, aus: Iterable[int]) -> np.ndarray:
    """(N, K) 0/1 matrix of which of ``aus`` each clip carries."""
    order = list(aus)
    return np.array([[int(au in set(a)) for au in order] for a in df["aus"]], dtype=np.int64).reshape(
        len(df), len(order)
    )


def check_no_leak(df: pd.DataFrame, folds: Iterable[Fold]) -> None:
    """Raise if any fold shares a subject between train and test."""
    for fold in folds:
        fold.check_subjects(df)
