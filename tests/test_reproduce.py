import numpy as np
import pandas as pd
import pytest

from merkit.preprocess.occlusion import interpolate_landmarks
from merkit.reproduce import rrrn as occlusion_tables
from merkit.reproduce.runners import IGNORE, FlowData, class_targets


def _flowdata():
    # clips 0..2; clip 0 has 3 samples (original second), clip 1 has 1, clip 2 has 2
    clip = np.array([0, 0, 0, 1, 2, 2])
    is_original = np.array([False, True, False, True, True, False])
    x = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    return FlowData(x, clip, is_original, np.array([1, 5, 7]), np.zeros((3, 0)))


def test_test_samples_are_originals_in_requested_order():
    data = _flowdata()
    assert data.test_samples((2, 0)).tolist() == [4, 1]
    with pytest.raises(KeyError):
        FlowData(data.x, data.clip, np.zeros(6, bool), data.labels, data.aus).test_samples((0,))


def test_train_samples_with_and_without_augmentation():
    data = _flowdata()
    assert data.train_samples((0, 2), augment=True).tolist() == [0, 1, 2, 4, 5]
    assert data.train_samples((0, 2), augment=False).tolist() == [1, 4]


def test_class_targets_zero_based_and_ignore_outside_i_to_v():
    assert class_targets(np.array([1, 5, 6, 7])).tolist() == [0, 4, IGNORE, IGNORE]


def test_interpolate_landmarks_linear_between_known_frames_and_held_outside():
    a = np.zeros((68, 2))
    b = np.full((68, 2), 10.0)
    out = interpolate_landmarks({10: a, 20: b}, [8, 10, 15, 18, 20, 25])
    assert np.allclose(out[0], 0) and np.allclose(out[1], 0)
    assert np.allclose(out[2], 5.0) and np.allclose(out[3], 8.0)
    assert np.allclose(out[4], 10) and np.allclose(out[5], 10)
    with pytest.raises(ValueError):
        interpolate_landmarks({}, [1])


def test_occlusion_view_follows_the_papers_layout():
    rows = []
    for cond in ("unocc", "mask", "block-0.05", "avg"):
        for method in ("rrrn", "mean_of_methods", "lbp_top", "vgg16"):
            rows.append({"method": method, "condition": cond, "fold": "loso", "metric": "f1", "ours": 0.5})
    table = pd.DataFrame(rows[::-1])
    view = occlusion_tables.view(table, "loso", "f1")
    # conditions keep the table's (run) order, the "avg" row last; methods in the paper's order
    assert list(dict.fromkeys(view["condition"])) == ["block-0.05", "mask", "unocc", "avg"]
    first = view[view["condition"] == view["condition"].iloc[0]]
    assert first["method"].tolist() == ["lbp_top", "vgg16", "rrrn", "mean_of_methods"]
