"""The benchmark's calibration probes (merkit.reproduce.calibration) on the smoke synthetic set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from merkit import paths
from merkit.config import get_profile
from merkit.data import synthetic
from merkit.data._face_model import INTENSITY_GAIN
from merkit.io import read_json, write_json
from merkit.reproduce import calibration as cal

# --------------------------------------------------------------------------- oracle features


def test_raised_cosine_profile():
    assert cal.raised_cosine(10, 10, 14, 20) == 0.0
    assert cal.raised_cosine(14, 10, 14, 20) == 1.0
    assert cal.raised_cosine(20, 10, 14, 20) == pytest.approx(0.0)
    assert cal.raised_cosine(12, 10, 14, 20) == pytest.approx(0.5)
    assert cal.raised_cosine(17, 10, 14, 20) == pytest.approx(0.5)
    assert cal.raised_cosine(9, 10, 14, 20) == cal.raised_cosine(21, 10, 14, 20) == 0.0
    assert cal.raised_cosine(10, 10, 10, 12) == 1.0  # apex on the onset: a step


def test_oracle_feature_hand_example():
    # AU12 on the subject's left, at its apex at the annotated apex 14: gain 1.2, left half only;
    # AU4 on both halves, onset 12 -> apex 16: at frame 14, half-way up: 0.5 x 0.8 = 0.4
    truth = [
        {"au": 12, "side": "L", "intensity": "D", "gain": 1.2, "onset": 10, "apex": 14, "offset": 20},
        {"au": 4, "side": "", "intensity": "B", "gain": 0.8, "onset": 12, "apex": 16, "offset": 22},
    ]
    x = cal.oracle_feature(truth, apex=14)
    expected = dict.fromkeys(cal.ORACLE_COLUMNS, 0.0) | {"AU12_L": 1.2, "AU4_L": 0.4, "AU4_R": 0.4}
    assert x.shape == (len(cal.ORACLE_COLUMNS),)
    np.testing.assert_allclose(x, [expected[c] for c in cal.ORACLE_COLUMNS])
    # at frame 21 AU12 is over and AU4 is falling: 0.8 x 0.5 (1 + cos(pi 5 / 6))
    late = dict(zip(cal.ORACLE_COLUMNS, cal.oracle_feature(truth, apex=21), strict=True))
    assert late["AU12_L"] == 0.0 and late["AU12_R"] == 0.0
    assert late["AU4_R"] == pytest.approx(0.8 * 0.5 * (1 + math.cos(math.pi * 5 / 6)))


def test_au_truth_used_when_present_else_rebuilt_from_au_spec():
    clip = {"onset": 5, "apex": 9, "offset": 15, "au_spec": [[12, "R", "D"], [6, "", ""]]}
    rebuilt = cal.au_truth(clip)
    assert [(a["au"], a["side"], a["gain"], a["onset"], a["apex"], a["offset"]) for a in rebuilt] == [
        (12, "R", INTENSITY_GAIN["D"], 5, 9, 15), (6, "", 1.0, 5, 9, 15)]
    x = dict(zip(cal.ORACLE_COLUMNS, cal.oracle_features([clip])[0], strict=True))
    assert x["AU12_R"] == INTENSITY_GAIN["D"] and x["AU12_L"] == 0.0
    assert x["AU6_L"] == x["AU6_R"] == 1.0
    upgraded = clip | {"au_truth": [{"au": 15, "side": "", "gain": 2.0, "onset": 5, "apex": 7, "offset": 15}]}
    x = dict(zip(cal.ORACLE_COLUMNS, cal.oracle_features([upgraded], apexes=[7])[0], strict=True))
    assert x["AU15_L"] == x["AU15_R"] == 2.0 and x["AU12_R"] == 0.0


# --------------------------------------------------------------------------- on the smoke set


@pytest.fixture(scope="module")
def smoke(isolated_env):
    # where the smoke profile finds it (shared with the notebook tests of the session)
    return synthetic.generate(paths.synthetic_dir() / "smoke", seed=0, scale="smoke")


@pytest.fixture(scope="module")
def result(smoke):
    return cal.calibrate(smoke, get_profile("smoke"), save=True, recompute=True)


def test_table_has_every_probe_with_intervals(result):
    table = result.table
    assert tuple(table.columns) == cal.TABLE_COLUMNS
    cells = set(zip(table["probe"], table["protocol"], table["metric"], strict=True))
    assert {("linear", p, m) for p in ("loso", "casme2->samm", "samm->casme2") for m in ("war", "uar")} <= cells
    assert {("null", "loso", "uar"), ("oracle", "loso", "uar")} <= cells
    assert ((table["ci_low"] <= table["value"]) & (table["value"] <= table["ci_high"])).all()
    loso = table[table["protocol"] == "loso"]
    assert (loso["n_subjects"] == 6).all()  # the smoke set's subjects with class I–V clips
    assert list(result.checks["passed"]) == [m == 0.0 for m in result.checks["miss"]]


def test_null_probe_is_at_chance(result):
    null = result.table.query("probe == 'null' and protocol == 'loso' and metric == 'uar'").iloc[0]
    assert null.ci_low <= 0.2 <= null.ci_high
    assert bool(result.checks.set_index("probe").loc["null", "passed"])


def test_oracle_beats_the_linear_probe(result):
    uar = result.table.query("protocol == 'loso' and metric == 'uar'").set_index("probe")["value"]
    assert uar["oracle"] > uar["linear"]


def test_saved_file_is_served_only_while_fresh(smoke, result):
    path = smoke / cal.CALIBRATION_FILE
    saved = read_json(path)
    assert saved["fingerprint"] == synthetic.fingerprint(smoke)
    again = cal.calibrate(smoke, get_profile("smoke"))
    assert again.from_file and again.table.equals(result.table)
    assert cal.load(smoke, cal.settings(get_profile("quick"), cal.ProbeConfig(), cal.Targets())) is None
    write_json(path, saved | {"fingerprint": "0" * 16})  # computed on other data: stale
    assert cal.load(smoke) is None
    write_json(path, saved)
    # the set stays replaceable (a newer synthetic set may replace the folder, file and all)
    assert cal.CALIBRATION_FILE in synthetic._own_entries()
    synthetic._check_replaceable(smoke)


def test_cli_prints_the_table_and_the_targets(smoke, result, capsys):
    assert synthetic.main(["--out", str(smoke), "--scale", "smoke", "--calibrate", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "oracle" in out and "(b) null probe at chance" in out
    assert "read from" in out  # the fresh CALIBRATION.json of the fixture
