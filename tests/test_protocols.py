import numpy as np
import pandas as pd
import pytest

from merkit import protocols


def _toy_df(sets=(("casme2", 5), ("samm", 4))):
    rows = []
    for ds, n_subj in sets:
        for s in range(n_subj):
            for c in range(3):
                rows.append({"dataset": ds, "subject": f"{ds}/{s:03d}", "clip": f"{s}_{c}",
                             "aus": (12,) if c == 0 else (4, 14) if c == 1 else (25,),
                             "objective_class": 1 + c})
    return pd.DataFrame(rows)


def _assert_no_leak(df, folds):
    for fold in folds:
        train = set(df.subject.iloc[fold.train])
        test = set(df.subject.iloc[fold.test])
        assert not train & test, fold.name


def test_hde_two_folds_by_dataset():
    df = _toy_df()
    folds = protocols.hde_folds(df)
    assert [f.name for f in folds] == ["casme2->samm", "samm->casme2"]
    assert protocols.hde_fold_names(df) == ("casme2->samm", "samm->casme2")
    assert set(df.dataset.iloc[folds[0].train]) == {"casme2"}
    assert set(df.dataset.iloc[folds[0].test]) == {"samm"}
    assert len(folds[0].train) + len(folds[0].test) == len(df)
    _assert_no_leak(df, folds)


def test_cde_is_loso():
    df = _toy_df()
    folds = protocols.cde_folds(df)
    assert len(folds) == df.subject.nunique() == 9
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested) == list(range(len(df)))  # every clip tested exactly once
    for f in folds:
        assert df.subject.iloc[f.test].nunique() == 1
    _assert_no_leak(df, folds)


def test_group_kfold_partitions_subjects():
    df = _toy_df()
    folds = protocols.group_kfold(df, 3, seed=1)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested) == list(range(len(df)))
    _assert_no_leak(df, folds)
    with pytest.raises(ValueError):
        protocols.group_kfold(df, 1)


def test_leak_is_detected():
    df = _toy_df()
    bad = protocols.Fold("bad", np.array([0, 1]), np.array([2]))  # same subject in both
    with pytest.raises(ValueError, match="subjects on both sides"):
        protocols.check_no_leak(df, [bad])
    with pytest.raises(ValueError, match="both train and test"):
        protocols.Fold("dup", np.array([0, 1]), np.array([1]))


def test_au_task_mask_and_targets():
    df = _toy_df()
    mask = protocols.au_task_mask(df)
    assert mask.tolist() == [a != (25,) for a in df.aus]
    y = protocols.au_targets(df, (4, 12, 14))
    assert y.shape == (len(df), 3)
    assert y[0].tolist() == [0, 1, 0] and y[1].tolist() == [1, 0, 1]
    # a clip with no AU code at all (SMIC): all 0 by default, or the "unknown" value asked for
    blank = df.assign(aus=[()] + list(df.aus[1:]))
    assert protocols.au_targets(blank, (4, 12))[0].tolist() == [0, 0]
    marked = protocols.au_targets(blank, (4, 12), uncoded=-1)
    assert marked[0].tolist() == [-1, -1] and (marked[1:] == protocols.au_targets(df, (4, 12))[1:]).all()


def test_hde_needs_both_datasets():
    df = _toy_df()
    with pytest.raises(ValueError, match="missing"):
        protocols.hde_folds(df[df.dataset == "casme2"])
    with pytest.raises(ValueError, match=r"missing \['samm'\]"):
        protocols.hde_folds(df[df.dataset == "casme2"], datasets=("casme2", "samm"))


def test_hde_is_generic_over_the_datasets_present():
    df = _toy_df((("samm", 3), ("smic", 2), ("casme2", 4)))
    folds = protocols.hde_folds(df, datasets=("casme2", "samm", "smic"))
    assert [f.name for f in folds] == list(protocols.hde_fold_names(df)) == [
        "casme2+samm->smic", "casme2+smic->samm", "samm+smic->casme2"]
    for fold in folds:
        test = fold.name.split("->")[1]
        assert set(df.dataset.iloc[fold.test]) == {test}
        assert set(df.dataset.iloc[fold.train]) == set(df.dataset) - {test}
        assert len(fold.train) + len(fold.test) == len(df)
    _assert_no_leak(df, folds)


def test_folds_follow_the_protocol_config():
    df = _toy_df()
    assert [f.name for f in protocols.folds(df, "hde")] == ["casme2->samm", "samm->casme2"]
    assert len(protocols.folds(df, "cde")) == df.subject.nunique()
    grouped = protocols.folds(df, "cde", protocols.ProtocolConfig(cde="group", cde_folds=3))
    assert [f.name for f in grouped] == ["group1of3", "group2of3", "group3of3"]
    many = protocols.folds(df, "cde", protocols.ProtocolConfig(cde="group", cde_folds=50))
    assert len(many) == df.subject.nunique()
    with pytest.raises(ValueError, match="unknown protocol"):
        protocols.folds(df, "loso")
    with pytest.raises(ValueError):
        protocols.ProtocolConfig(cde="kfold")
