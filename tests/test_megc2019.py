"""The MEGC 2019 composite (#16 item 2 and the metrics of item 3): the emotion mapping of each
data set, clips outside the three classes accounted for, the composition checked against the
published one cell by cell, subjects unique across data sets (LOSO without leaks), and UF1 /
UAR pooled per composite and per data set, cross-checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import make_casme2_tree, make_samm_tree, make_smic_tree
from sklearn.metrics import f1_score, recall_score

from merkit import metrics, protocols
from merkit.data import DataWarning, megc2019

CASME = [  # (clip, emotion) of subject 1 and 2
    dict(subject=1, clip="EP01_01", onset=1, apex=2, offset=3, aus="4", emotion="disgust", objective_class=3),
    dict(subject=1, clip="EP01_02", onset=1, apex=2, offset=3, aus="14", emotion="repression", objective_class=7),
    dict(subject=2, clip="EP02_01", onset=1, apex=2, offset=3, aus="12", emotion="happiness", objective_class=1),
    dict(subject=2, clip="EP02_02", onset=1, apex=2, offset=3, aus="1+2", emotion="surprise", objective_class=2),
    dict(subject=2, clip="EP02_03", onset=1, apex=2, offset=3, aus="4", emotion="others", objective_class=3),
    dict(subject=2, clip="EP02_04", onset=1, apex=2, offset=3, aus="4", emotion="fear", objective_class=3),
]
SAMM = [
    dict(subject=6, clip="006_1_1", onset=10, apex=11, offset=12, aus="4", emotion="Anger", objective_class=3),
    dict(subject=6, clip="006_1_2", onset=10, apex=11, offset=12, aus="14", emotion="Contempt", objective_class=7),
    dict(subject=6, clip="006_1_3", onset=10, apex=11, offset=12, aus="12", emotion="Happiness", objective_class=1),
    dict(subject=7, clip="007_1_1", onset=10, apex=11, offset=12, aus="1+2", emotion="Surprise", objective_class=2),
    dict(subject=7, clip="007_1_2", onset=10, apex=11, offset=12, aus="4", emotion="Sadness", objective_class=3),
    dict(subject=7, clip="007_1_3", onset=10, apex=11, offset=12, aus="7", emotion="Other", objective_class=6),
]
SMIC = [
    dict(subject=1, emotion="negative", number=1, onset=1, offset=4),
    dict(subject=1, emotion="positive", number=2, onset=1, offset=4),
    dict(subject=3, emotion="surprise", number=1, onset=1, offset=4),
]


@pytest.fixture()
def roots(tmp_path):
    return (make_casme2_tree(tmp_path / "CASME2", CASME), make_samm_tree(tmp_path / "SAMM", SAMM),
            make_smic_tree(tmp_path / "SMIC", SMIC))


def test_the_emotion_mapping_and_what_is_left_out(roots):
    with pytest.warns(DataWarning, match="differs from the published composition"):
        df = megc2019.load(*roots)
    got = {(d, c): e for d, c, e in zip(df["dataset"], df["clip"], df["emotion_class"], strict=True)}
    assert got == {
        ("casme2", "EP01_01"): "negative", ("casme2", "EP01_02"): "negative",
        ("casme2", "EP02_01"): "positive", ("casme2", "EP02_02"): "surprise",
        ("samm", "006_1_1"): "negative", ("samm", "006_1_2"): "negative", ("samm", "007_1_2"): "negative",
        ("samm", "006_1_3"): "positive", ("samm", "007_1_1"): "surprise",
        ("smic", "s1_ne_01"): "negative", ("smic", "s1_po_02"): "positive", ("smic", "s3_sur_01"): "surprise",
    }
    assert df.attrs["excluded_by_emotion"] == {"smic": {}, "casme2": {"fear": 1, "others": 1}, "samm": {"other": 1}}
    assert megc2019.labels(df).tolist() == [["negative", "positive", "surprise"].index(c) for c in df["emotion_class"]]
    assert list(df["dataset"].unique()) == ["casme2", "samm", "smic"]  # sorted rows
    # subjects are unique across data sets: LOSO folds hold out one person each, no leaks
    folds = protocols.cde_folds(df)
    assert len(folds) == df["subject"].nunique() == 6
    subjects = df["subject"].to_numpy()
    for fold in folds:
        assert len(set(subjects[fold.test])) == 1 and not set(subjects[fold.test]) & set(subjects[fold.train])


def test_a_composition_unlike_the_published_one_is_reported_cell_by_cell(roots):
    with pytest.warns(DataWarning) as caught:
        df = megc2019.load(*roots)
    text = str(caught[0].message)
    assert "smic negative clips: published 70, found 1: smic/s1/s1_ne_01" in text
    assert "casme2 subjects: published 24, found 2" in text
    report = {(r["dataset"], r["cell"]): r for r in df.attrs["count_mismatches"]}
    assert report[("samm", "negative")]["clips"] == ["samm/006/006_1_1", "samm/006/006_1_2", "samm/007/007_1_2"]
    assert len(report) == 12  # 3 classes + subjects, for each of the 3 data sets
    with pytest.raises(megc2019.CompositionError, match="casme2 positive clips: published 32, found 1"):
        megc2019.load(*roots, counts="error")
    # measured against its own composition, the set has no mismatch
    own = {name: ({c: int(((df["dataset"] == name) & (df["emotion_class"] == c)).sum())
                   for c in megc2019.EMOTION_CLASSES}, int(df.loc[df["dataset"] == name, "subject"].nunique()))
           for name in megc2019.DATASETS}
    assert megc2019.composition_report(df, own) == []


def test_the_published_composition_adds_up():
    per_class = {c: sum(counts[c] for counts, _ in megc2019.PUBLISHED.values()) for c in megc2019.EMOTION_CLASSES}
    assert per_class == {"negative": 250, "positive": 109, "surprise": 83}
    assert sum(per_class.values()) == 442 and sum(s for _, s in megc2019.PUBLISHED.values()) == 68


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uf1_and_uar_pooled_per_composite_and_data_set_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = 300
    y_true = rng.integers(0, 3, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, 3, n))  # better than chance
    groups = rng.choice(["smic", "casme2", "samm"], n)
    groups[:5] = "samm"
    y_true[groups == "samm"] = np.where(y_true[groups == "samm"] == 2, 0, y_true[groups == "samm"])  # no class 2 there
    scores = metrics.uf1_uar_by_group(y_true, y_pred, groups, (0, 1, 2))
    assert list(scores) == ["composite", "samm", *dict.fromkeys(g for g in groups[5:] if g != "samm")]
    for name, got in scores.items():
        mask = np.ones(n, bool) if name == "composite" else groups == name
        want_f1 = f1_score(y_true[mask], y_pred[mask], labels=[0, 1, 2], average="macro", zero_division=0)
        want_uar = recall_score(y_true[mask], y_pred[mask], labels=[0, 1, 2], average="macro", zero_division=0)
        assert got["uf1"] == pytest.approx(want_f1, abs=1e-12) and got["uar"] == pytest.approx(want_uar, abs=1e-12)
    with pytest.raises(ValueError, match="differ in length"):
        metrics.uf1_uar_by_group(y_true, y_pred, groups[:-1], (0, 1, 2))


def test_pooled_is_not_the_mean_of_per_subject_scores():
    """The stated definition: TP/FP/FN pooled over all LOSO folds, then F1 per class (the
    per-fold average would differ here)."""
    y_true = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 0, 2])
    subject = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])
    pooled = metrics.uf1_uar_by_group(y_true, y_pred, np.full(8, "x"), (0, 1, 2))["composite"]["uf1"]
    per_fold = np.mean([f1_score(y_true[subject == s], y_pred[subject == s], labels=[0, 1, 2], average="macro",
                                 zero_division=0) for s in "abc"])
    assert pooled == pytest.approx(f1_score(y_true, y_pred, average="macro")) and abs(pooled - per_fold) > 0.05
