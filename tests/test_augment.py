"""The papers' apex positions (MER-auGCN / RRRN Sec. IV-B2) and the 70 pairs per clip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from merkit.preprocess.augment import AugmentConfig, apex_positions, augment_pairs


def test_apex_positions_hand_computed():
    # onset 0, apex 10, offset 20: 0 + 10 x [.6 .7 .8 .9] and 10 + 10 x [.1 .2 .3 .4 .5]
    assert apex_positions(0, 10, 20) == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    # CASME II-like numbers: onset 46, apex 59, offset 86 -> 46 + 13 f and 59 + 27 f
    # 53.8 55.1 56.4 57.7 | 59 | 61.7 64.4 67.1 69.8 72.5 -> rounded half up
    assert apex_positions(46, 59, 86) == [54, 55, 56, 58, 59, 62, 64, 67, 70, 73]


def test_rounding_is_half_up_in_exact_arithmetic():
    # onset 0, apex 5, offset 10: 3.0 3.5 4.0 4.5 | 5 | 5.5 6.0 6.5 7.0 7.5
    assert apex_positions(0, 5, 10) == [3, 4, 4, 5, 5, 6, 6, 7, 7, 8]
    # onset 0, apex 45, offset 90: 27 31.5 36 40.5 | 45 | 49.5 54 58.5 63 67.5
    assert apex_positions(0, 45, 90) == [27, 32, 36, 41, 45, 50, 54, 59, 63, 68]
    # the traps avoided: binary 45 x 0.7 = 31.499999999999996, and Python's round(40.5) == 40
    assert math.floor(45 * 0.7 + 0.5) == 31 and round(40.5) == 40


def test_short_clips_keep_duplicates_unless_unique():
    pos = apex_positions(0, 1, 2)  # 0.6..0.9 -> 1; 1.1 1.2 1.3 1.4 -> 1; 1.5 -> 2
    assert pos == [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
    assert apex_positions(0, 1, 2, unique=True) == [1, 2]
    assert apex_positions(7, 7, 7) == [7] * 10  # apex == onset == offset: all the apex


def test_positions_stay_inside_the_clip_and_in_order():
    rng = np.random.default_rng(0)
    for _ in range(500):
        onset = int(rng.integers(0, 1000))
        apex = onset + int(rng.integers(0, 80))
        offset = apex + int(rng.integers(0, 80))
        pos = apex_positions(onset, apex, offset)
        assert len(pos) == 10 and pos[4] == apex
        assert all(onset <= p <= offset for p in pos)
        assert pos == sorted(pos)


def test_apex_outside_raises():
    with pytest.raises(ValueError, match="apex=30"):
        apex_positions(10, 30, 20)


def test_seventy_pairs_with_one_original():
    cfg = AugmentConfig()
    pairs = augment_pairs(0, 10, 20, cfg)
    assert len(pairs) == 70 == cfg.pairs_per_clip
    assert [(p, a) for p, a, o in pairs if o] == [(10, 0.0)]
    assert sorted({a for _, a, _ in pairs}) == [-15, -10, -5, 0, 5, 10, 15]
    # test clips: the original pair only
    assert augment_pairs(0, 10, 20, cfg, augment=False) == [(10, 0.0, True)]
    assert augment_pairs(0, 10, 20, AugmentConfig(enabled=False)) == [(10, 0.0, True)]


def test_original_is_marked_once_even_with_duplicates_or_without_zero_angle():
    pairs = augment_pairs(0, 1, 2, AugmentConfig())
    assert sum(o for *_, o in pairs) == 1 and len(pairs) == 70
    no_zero = augment_pairs(0, 10, 20, AugmentConfig(angles=(-5.0, 5.0)))
    assert no_zero[0] == (10, 0.0, True) and len(no_zero) == 21


def test_config_validation():
    with pytest.raises(ValueError):
        AugmentConfig(before_fractions=(1.5,))
    with pytest.raises(ValueError):
        AugmentConfig(angles=())
    with pytest.raises(ValueError):
        AugmentConfig(rotate_on="sideways")
