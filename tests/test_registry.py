"""The data set registry: a toy third data set flows through every generic layer untouched.

The toy data set is one loader function (below) plus one :class:`DatasetEntry`; nothing in
merkit is edited for it, yet the composite loader, :class:`DataSource` / :func:`resolve` and the
HDE protocol handle it like CASME II and SAMM.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from layouts import make_casme2_tree, make_samm_tree

from merkit import protocols
from merkit.data import (
    COLUMNS,
    DataConfig,
    DatasetEntry,
    DataSource,
    composite,
    data_fingerprint,
    dataset_root,
    get_dataset,
    list_datasets,
    megc2018,
    register_dataset,
    resolve,
    unregister_dataset,
    validate,
)
from merkit.data._common import to_frame
from merkit.data.source import summary
from merkit.facs import parse_aus

# --------------------------------------------------------------------------- the toy data set

TOY_CLIPS = [  # subject, clip, onset, apex, offset, AU cell, objective class
    ("t1", "a", 1, 2, 3, "12", 1),
    ("t1", "b", 4, 5, 6, "4+7", 3),
    ("t2", "c", 1, 1, 2, "1+2", 2),
    ("t2", "d", 3, 4, 5, "14", 7),
]


def make_toy_tree(root: Path) -> Path:
    """``root/toy.csv`` (subject, clip, onset, apex, offset, aus, class) + ``root/<subject>/<clip>/f<N>.png``."""
    root.mkdir(parents=True)
    with open(root / "toy.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "clip", "onset", "apex", "offset", "aus", "class"])
        for subject, clip, onset, apex, offset, aus, cls in TOY_CLIPS:
            writer.writerow([subject, clip, onset, apex, offset, aus, cls])
            folder = root / subject / clip
            folder.mkdir(parents=True)
            for n in range(onset, offset + 1):
                cv2.imwrite(str(folder / f"f{n}.png"), np.full((8, 8), 10 * n, np.uint8))
    return root


def load_toy(root, *, on_missing="error", apex_rule="middle"):
    """The toy data set's loader (the registry calls it like any other)."""
    root = Path(root)
    records = []
    with open(root / "toy.csv", newline="") as handle:
        for row, cells in enumerate(csv.DictReader(handle), start=2):
            onset, apex, offset = (int(cells[k]) for k in ("onset", "apex", "offset"))
            folder = root / cells["subject"] / cells["clip"]
            records.append({
                "dataset": "toy", "subject": f"toy/{cells['subject']}", "clip": cells["clip"],
                "onset": onset, "apex": apex, "offset": offset, "apex_estimated": False,
                "aus": parse_aus(cells["aus"]), "objective_class": int(cells["class"]),
                "emotion": "", "frames": tuple(folder / f"f{n}.png" for n in range(onset, offset + 1)),
                "n_frames": offset - onset + 1, "type": "micro", "aus_text": cells["aus"],
                "source_file": "toy.csv", "source_row": row,
            })
    return validate(to_frame(records, {"dataset": "toy", "root": str(root)}))


TOY = DatasetEntry(
    name="toy",
    label="Toy",
    env_var="TOY_ROOT",
    layout="root/\n  toy.csv\n  <subject>/<clip>/f<N>.png\n",
    loader=f"{__name__}:load_toy",
)


@pytest.fixture()
def toy():
    """The toy entry, registered for one test only."""
    register_dataset(TOY)
    yield TOY
    unregister_dataset("toy")


@pytest.fixture()
def trees(tmp_path: Path) -> dict[str, Path]:
    casme = make_casme2_tree(tmp_path / "CASME2", [
        dict(subject=1, clip="EP02_01f", onset=46, apex=48, offset=50, aus="4+L10",
             emotion="repression", objective_class=3),
        dict(subject=2, clip="EP01_11f", onset=5, apex=6, offset=8, aus="1+2",
             emotion="surprise", objective_class=2),
    ])
    samm = make_samm_tree(tmp_path / "SAMM", [
        dict(subject=6, clip="006_1_2", onset=5562, apex=5565, offset=5567, aus="R12 + R15",
             emotion="Contempt", objective_class=1),
        dict(subject=7, clip="007_1_1", onset=10, apex=11, offset=12, aus="14",
             emotion="Other", objective_class=7),
    ])
    return {"casme2": casme, "samm": samm, "toy": make_toy_tree(tmp_path / "TOY")}


@pytest.fixture()
def no_roots(monkeypatch, tmp_path):
    for entry in list_datasets():
        monkeypatch.delenv(entry.env_var, raising=False)
    monkeypatch.delenv("TOY_ROOT", raising=False)
    monkeypatch.setenv("MERKIT_DATA", str(tmp_path / "data"))


# --------------------------------------------------------------------------- the registry


def test_builtin_entries():
    assert [e.name for e in list_datasets()][:3] == ["casme2", "samm", "smic"]
    casme2, samm = get_dataset("casme2"), get_dataset("samm")
    assert (casme2.label, casme2.env_var, casme2.synthetic_dir) == ("CASME II", "CASME2_ROOT", "CASME2")
    assert (samm.label, samm.env_var, samm.synthetic_dir) == ("SAMM", "SAMM_ROOT", "SAMM")
    assert "CASME2-coding-20140508.xlsx" in casme2.layout
    assert "SAMM_Micro_FACS_Codes_v2.xlsx" in samm.layout
    from merkit.data import casme2 as casme2_module

    assert casme2.load_function() is casme2_module.load
    with pytest.raises(KeyError, match="registered: casme2, samm, smic"):
        get_dataset("mmew")


def test_duplicate_registration_raises(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(TOY)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(get_dataset("casme2"))
    with pytest.raises(ValueError, match="CASME2_ROOT"):
        register_dataset(DatasetEntry("other", "Other", "CASME2_ROOT", "", f"{__name__}:load_toy"))


def test_entries_are_checked():
    with pytest.raises(ValueError, match="name"):
        DatasetEntry("Bad Name", "x", "X_ROOT", "", "m:f")
    with pytest.raises(ValueError, match="module:attribute"):
        DatasetEntry("x", "x", "X_ROOT", "", "no-colon")
    with pytest.raises(ValueError, match="both"):
        DatasetEntry("x", "x", "X_ROOT", "", "m:f", synthetic="m:g")


def test_dataset_root_reads_the_entry_variable(monkeypatch, tmp_path, toy):
    monkeypatch.delenv("TOY_ROOT", raising=False)
    assert dataset_root("toy") is None
    monkeypatch.setenv("TOY_ROOT", str(tmp_path))
    assert dataset_root("toy") == tmp_path.resolve()


# --------------------------------------------------------------------------- a third data set


def test_toy_dataset_flows_through_composite_source_and_hde(trees, toy, no_roots, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = composite.load(trees, classes=range(1, 8))
        two = megc2018.load(trees["casme2"], trees["samm"], classes=range(1, 8))
    assert tuple(every.columns) == COLUMNS
    validate(every)
    assert list(every.dataset.unique()) == ["casme2", "samm", "toy"]
    assert (every.dataset == "toy").sum() == len(TOY_CLIPS)
    assert every[every.dataset != "toy"].reset_index(drop=True).equals(two)
    assert every.attrs["toy"]["root"] == str(trees["toy"])
    assert every.attrs["excluded_by_class"]["toy"] == {}

    for entry in (get_dataset("casme2"), get_dataset("samm"), toy):
        monkeypatch.setenv(entry.env_var, str(trees[entry.name]))
    source = resolve(DataConfig(source="auto", datasets=("casme2", "samm", "toy")))
    assert source.kind == "real" and source.datasets == ("casme2", "samm", "toy")
    assert source.root("toy") == trees["toy"].resolve()
    assert source.label.startswith("licensed CASME II (") and source.label.endswith(
        f"and Toy ({trees['toy'].resolve()})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = source.load()  # classes I–V
        df_all = source.load(None)
    assert df.attrs["source"] == source.label and df.attrs["synthetic"] is False
    assert sorted(df[df.dataset == "toy"]["clip"]) == ["a", "b", "c"]
    assert len(df_all) == len(every)

    folds = protocols.hde_folds(df)
    assert [f.name for f in folds] == list(protocols.hde_fold_names(df)) == [
        "casme2+samm->toy", "casme2+toy->samm", "samm+toy->casme2"]
    assert set(df.dataset.iloc[folds[0].test]) == {"toy"}
    assert set(df.dataset.iloc[folds[0].train]) == {"casme2", "samm"}

    only = DataSource("real", {"toy": trees["toy"]})
    assert only.label == f"licensed Toy ({trees['toy']})"
    assert list(only.load(None)["clip"]) == ["a", "b", "c", "d"]


def test_a_loader_must_use_its_registered_name(trees, toy):
    wrong = DatasetEntry("toy2", "Toy 2", "TOY2_ROOT", "", f"{__name__}:load_toy")
    register_dataset(wrong)
    try:
        with pytest.raises(ValueError, match="not 'toy2'"):
            composite.load({"toy2": trees["toy"]})
    finally:
        unregister_dataset("toy2")


# --------------------------------------------------------------------------- sources


def test_partial_environment_raises_naming_the_missing(trees, toy, no_roots, monkeypatch):
    monkeypatch.setenv("CASME2_ROOT", str(trees["casme2"]))
    with pytest.raises(RuntimeError, match="^SAMM_ROOT is not set. Set both CASME2_ROOT and SAMM_ROOT"):
        resolve(DataConfig())
    with pytest.raises(RuntimeError, match="^SAMM_ROOT and TOY_ROOT are not set"):
        resolve(DataConfig(datasets=("casme2", "samm", "toy")))
    monkeypatch.delenv("CASME2_ROOT")
    with pytest.raises(RuntimeError, match="CASME2_ROOT and SAMM_ROOT are not set"):
        resolve(DataConfig(source="real"))
    monkeypatch.setenv("CASME2_ROOT", str(trees["casme2"] / "absent"))
    monkeypatch.setenv("SAMM_ROOT", str(trees["samm"]))
    with pytest.raises(FileNotFoundError, match="CASME2_ROOT=.*is not a folder"):
        resolve(DataConfig())


def test_synthetic_source_roots_come_from_the_registry(no_roots, tmp_path, toy):
    source = resolve(DataConfig(source="synthetic", synthetic_scale="smoke"), generate=False)
    out = tmp_path / "data" / "synthetic" / "smoke"
    assert source.roots == {"casme2": out / "CASME2", "samm": out / "SAMM"}
    assert source.is_synthetic and source.scale == "smoke"
    assert source.label == "embedded synthetic data set (scale=smoke), not CASME II / SAMM"
    with pytest.raises(RuntimeError, match="no stand-in for Toy"):
        resolve(DataConfig(datasets=("casme2", "toy")), generate=False)


def test_data_config_is_checked():
    assert DataConfig().datasets == ("casme2", "samm") and DataConfig().classes == (1, 2, 3, 4, 5)
    for bad in (dict(source="licensed"), dict(synthetic_scale="tiny"), dict(classes=(0,)),
                dict(datasets=()), dict(datasets=("samm", "samm"))):
        with pytest.raises(ValueError):
            DataConfig(**bad)


def test_make_data_summary(trees, no_roots, monkeypatch, capsys):
    from merkit.data.__main__ import main

    monkeypatch.setenv("CASME2_ROOT", str(trees["casme2"]))
    monkeypatch.setenv("SAMM_ROOT", str(trees["samm"]))
    assert main(["--source", "real"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("licensed CASME II (")
    assert "subjects" in out and "casme2" in out and "samm" in out
    source = resolve(DataConfig(source="real"))
    assert out.strip() == summary(source).strip()


def test_data_fingerprint_sees_frame_sizes(trees, toy):
    df = DataSource("real", {"toy": trees["toy"]}).load(None)
    before = data_fingerprint(df)
    assert before == data_fingerprint(df.copy())
    frame = df.frames.iloc[0][0]
    frame.write_bytes(frame.read_bytes() + b"\0")
    assert data_fingerprint(df) != before


# --------------------------------------------------------------------------- import weight


def test_data_layer_imports_no_heavy_library():
    code = (
        "import merkit.data, merkit.data.casme2, merkit.data.samm, merkit.data.megc2018, "
        "merkit.data.registry, merkit.data.source, merkit.data.composite, "
        "merkit.data.fingerprint, merkit.data.synthetic, merkit.paths, merkit.protocols; "
        "import sys; heavy = {'torch', 'sklearn', 'cv2'} & set(sys.modules); "
        "assert not heavy, heavy; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in ("
        "['merkit', 'config'], ['merkit', 'preprocess'], ['merkit', 'features'], "
        "['merkit', 'models'], ['merkit', 'train'], ['merkit', 'report'])); "
        "assert not bad, bad"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
