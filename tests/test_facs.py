import warnings

import pytest

from merkit import facs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4+L10", (4, 10)),
        ("R12", (12,)),
        ("AU12B", (12,)),
        ("R12 + R15", (12, 15)),
        ("R14A", (14,)),
        ("1+2", (1, 2)),
        ("2+1+1", (1, 2)),
        ("", ()),
        ("/", ()),
        (None, ()),
        (float("nan"), ()),
        (12, (12,)),
        (12.0, (12,)),
        ("L4 + R4 + 7", (4, 7)),
    ],
)
def test_parse_aus_real_forms(text, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert facs.parse_aus(text) == expected


def test_parse_aus_or_keeps_both_and_warns():
    with pytest.warns(UserWarning, match="alternatives"):
        assert facs.parse_aus("12 or 14", context="x.xlsx row 3") == (12, 14)


def test_parse_aus_rejects_garbage_with_context():
    with pytest.raises(ValueError, match=r"SAMM.xlsx row 7.*'smile'"):
        facs.parse_aus("4+smile", context="SAMM.xlsx row 7")


def test_table_i_shape():
    assert facs.TABLE_I_AUS == (1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 17, 23, 24, 25, 26, 38, 40)
    assert len(facs.FINAL_AUS) == 12
    assert set(facs.FINAL_AUS) == set(facs.TABLE_I_AUS) - {23, 24, 26, 38, 40}
    assert [len(facs.TABLE_I[c]) for c in range(1, 6)] == [5, 6, 8, 10, 5]


def _row_class(combo):
    return [c for c, combos in facs.TABLE_I.items() if combo in combos]


@pytest.mark.parametrize(
    ("cls", "combo"), [(c, combo) for c, combos in facs.TABLE_I.items() for combo in combos]
)
def test_objective_class_walks_table_i(cls, combo):
    # Every Table I row, presented alone, maps back to its own class.
    assert _row_class(combo) == [cls]
    assert facs.objective_class(combo) == cls


def test_objective_class_most_specific_and_ties():
    assert facs.objective_class((1, 4)) == 5  # AU1+AU4 (V) beats AU4 (III)
    assert facs.objective_class((4, 5, 7, 9)) == 4  # 4 AUs of IV beat AU4+AU5+AU7 of III
    assert facs.objective_class((6, 15)) == 5  # AU6+AU15 (V) beats AU6 (I)
    assert facs.objective_class((4, 6, 7, 12)) == 1  # tie at size 3 -> coverage tie -> lower class
    assert facs.objective_class((12, 14)) == 1  # extra AUs outside Table I do not matter
    assert facs.objective_class((14,)) is None
    assert facs.objective_class(()) is None


def test_class_constants():
    assert facs.MEGC_CLASSES == (1, 2, 3, 4, 5) == tuple(sorted(facs.TABLE_I))
    assert tuple(sorted(facs.ROMAN)) == facs.OBJECTIVE_CLASSES
