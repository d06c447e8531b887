"""The fault matrix of issue #13: nothing wrong is ever read as right.

One test per fault a hostile reviewer tried on copies of the data. Each asserts the clear error
(its type, and the file or clip named in the message) or the recovery (recomputed, and the
served value is the intact one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from layouts import CASME2_CODING, _save, make_casme2_tree

from merkit import experiments, io
from merkit.data import AnnotationError, DataWarning, casme2, clip_fingerprints, fingerprint
from merkit.experiments import RunCorruptedWarning, RunResult, RunSpec, RunStore, run_grid
from merkit.preprocess import cache
from merkit.preprocess import pipeline as P
from merkit.preprocess.augment import AugmentConfig
from merkit.preprocess.face import FaceConfig, UnusableOnsetError
from merkit.preprocess.flow import FlowConfig, FlowError
from merkit.preprocess.frames import FrameError, read_frame, to_gray

REPO = Path(__file__).resolve().parents[1]
SIZE = 160
CFG = P.PreprocessConfig(
    flow=FlowConfig(crop_size=40, out_size=12, **P.QUICK_TVL1),  # type: ignore[arg-type]
    augment=AugmentConfig(enabled=False),
    n_jobs=1,
)


@pytest.fixture
def clips(tmp_path):
    from merkit.bench.common import make_demo_clips

    return make_demo_clips(tmp_path / "clips", n_clips=2, n_frames=7, size=SIZE)


def casme_clips(n: int = 3) -> list[dict]:
    return [
        dict(subject=i + 1, clip=f"EP0{i}_01", onset=10, apex=12, offset=14, aus="4",
             emotion="others", objective_class=i + 1)
        for i in range(n)
    ]


def flip_middle_byte(path: Path) -> None:
    """Change one byte of a file's middle, keeping its size (and its JPEG end marker)."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    while data[i] in (0xFE, 0xFF, 0x00):
        i += 1
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


# --- 1. a JPEG cut to 40 % of its bytes --------------------------------------------------------


def test_truncated_jpeg_is_an_error_naming_the_file_and_a_skip_at_load(clips, tmp_path):
    row = clips.iloc[0]
    apex = Path(row["frames"][row["apex"] - row["onset"]])
    data = apex.read_bytes()
    apex.write_bytes(data[: int(len(data) * 0.4)])
    assert cv2.imread(str(apex)) is not None  # OpenCV alone half-decodes it: the old fault
    with pytest.raises(FrameError, match=rf"{apex.name}.*truncated"):
        io.read_image(apex)
    assert io.FrameError is FrameError
    with pytest.raises(FrameError, match=rf"demo/s01/EP00_demo.*{apex.name}.*truncated"):
        read_frame(apex, name="demo/s01/EP00_demo")
    with pytest.raises(FrameError, match=rf"demo/s01/EP00_demo.*{apex.name}"):
        P.build_flowset(clips, CFG, train_mask=True, progress=False, cache_root=tmp_path / "c",
                        n_jobs=1)
    assert not list((tmp_path / "c").rglob("*EP00_demo*.npz"))  # nothing cached for it
    # the loaders: a clip with a truncated frame is skipped and listed (on_missing="skip")
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(2), image_size=32)
    frame = root / "CASME2_RAW_selected" / "sub01" / "EP00_01" / "img12.jpg"
    frame.write_bytes(frame.read_bytes()[: int(frame.stat().st_size * 0.4)])
    with pytest.raises(FrameError, match=r"sub01/EP00_01.*img12\.jpg.*truncated"):
        casme2.load(root)
    with pytest.warns(DataWarning, match="img12.jpg"):
        df = casme2.load(root, on_missing="skip")
    assert df["clip"].tolist() == ["EP01_01"]
    assert [s["clip"] for s in df.attrs["skipped"]] == ["EP00_01"]
    assert "img12.jpg" in df.attrs["skipped"][0]["reason"]


# --- 2. one frame edited, same file size --------------------------------------------------------


def _count_runner(spec: RunSpec) -> RunResult:
    _count_runner.calls.append(spec.fold)  # type: ignore[attr-defined]
    test = np.asarray(spec.test)
    return RunResult("", {}, test, np.ones(len(test), np.int64), np.ones(len(test), np.int64),
                     np.ones((len(test), 2)))


_count_runner.calls = []  # type: ignore[attr-defined]


def test_same_size_frame_edit_recomputes_only_the_runs_reading_it(tmp_path, monkeypatch):
    from merkit.reproduce.tables import Workspace

    monkeypatch.setenv("MERKIT_DATA", str(tmp_path / "data"))
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(3), image_size=32)
    df = casme2.load(root)
    before, prints = fingerprint(df), clip_fingerprints(df)
    assert fingerprint(df.copy()) == before

    def specs(ws):
        folds = {"a": ((0,), (1,)), "b": ((2,), (1,))}  # fold a reads clips 0, 1; b reads 2, 1
        return [RunSpec("m", "hde", name, tr, te, 0, {}, ws.data_key(CFG, rows=tr + te))
                for name, (tr, te) in folds.items()]

    store = RunStore(tmp_path / "runs")
    _count_runner.calls.clear()
    run_grid(specs(Workspace(None, df)), _count_runner, store=store, progress=False)
    assert sorted(_count_runner.calls) == ["a", "b"]

    frame = Path(df["frames"].iloc[0][1])
    size = frame.stat().st_size
    flip_middle_byte(frame)
    assert frame.stat().st_size == size
    after = clip_fingerprints(df)
    assert fingerprint(df) != before
    assert after[0] != prints[0] and after[1:] == prints[1:]  # only clip 0 changed
    _count_runner.calls.clear()
    run_grid(specs(Workspace(None, df)), _count_runner, store=store, progress=False)
    assert _count_runner.calls == ["a"]  # fold b does not read clip 0: served from the store


def test_second_fingerprint_is_served_from_the_digest_cache(tmp_path, monkeypatch):
    fp_mod = sys.modules["merkit.data.fingerprint"]  # merkit.data.fingerprint is the function

    monkeypatch.setenv("MERKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(fp_mod, "RACY_SECONDS", 0.0)
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(2), image_size=32)
    df = casme2.load(root)
    first = fingerprint(df)
    assert (tmp_path / "data" / "interim" / fp_mod.CACHE_FILE).is_file()
    calls = []
    real = fp_mod.file_fingerprint
    monkeypatch.setattr(fp_mod, "file_fingerprint", lambda p: calls.append(p) or real(p))
    assert fingerprint(df) == first and calls == []
    fp_mod._memory.clear()
    fp_mod._loaded.clear()  # a new process: the digests come from the persisted cache
    assert fingerprint(df) == first and calls == []


# --- 3. one bit flipped in a stored run's JSON --------------------------------------------------


def test_altered_run_record_is_deleted_and_recomputed(tmp_path):
    spec = RunSpec("m", "hde", "f1", (0,), (1, 2), 0, {}, "data")
    store = RunStore(tmp_path / "runs")
    _count_runner.calls.clear()
    first = run_grid([spec], _count_runner, store=store, progress=False)[0]
    npz, meta = store._paths(spec.key())
    meta.write_text(meta.read_text().replace('"seed": 0', '"seed": 1'))
    with pytest.warns(RunCorruptedWarning, match=rf"{spec.key()}.*method m, fold f1, seed 1.*checksum"):
        assert not store.has(spec.key())
    assert not meta.exists() and not npz.exists()
    served = run_grid([spec], _count_runner, store=store, progress=False)[0]
    assert _count_runner.calls == ["f1", "f1"] and served.info["seed"] == 0 == first.info["seed"]
    # the arrays too: a changed npz byte is caught by its checksum
    flip_middle_byte(npz)
    with pytest.warns(RunCorruptedWarning, match=rf"{spec.key()}.*npz: checksum mismatch"):
        served = run_grid([spec], _count_runner, store=store, progress=False)[0]
    assert _count_runner.calls == ["f1"] * 3 and served.test.tolist() == [1, 2]


# --- 4. NaN/inf in a cached flow with a valid checksum; NaN inputs in training ------------------


def test_nonfinite_cached_flow_is_recomputed_and_computed_one_is_an_error(clips, tmp_path, monkeypatch):
    fs = P.build_flowset(clips, CFG, train_mask=True, progress=False, cache_root=tmp_path / "c",
                         n_jobs=1)
    entry = next((tmp_path / "c" / "flows").rglob("EP00_demo-*.npz"))
    arrays, meta = cache.read_arrays(entry)
    arrays["x"][0, 0, 0, 0] = np.nan
    arrays["x"][0, 1, 1, 1] = np.inf
    cache.save_arrays(entry, arrays, meta)  # valid checksum, poisoned values
    with pytest.warns(cache.CacheCorruptedWarning, match=r"demo/s01/EP00_demo.*2 non-finite"):
        again = P.build_flowset(clips, CFG, train_mask=True, progress=False,
                                cache_root=tmp_path / "c", n_jobs=1)
    assert again.stats["computed"] == 1 and np.isfinite(again.x).all()
    np.testing.assert_array_equal(again.x, fs.x)  # the intact value is served

    real = P.pair_flow

    def poisoned(a, b, *args, **kw):
        out = real(a, b, *args, **kw)
        out[0, 0, 0] = np.nan
        return out

    monkeypatch.setattr(P, "pair_flow", poisoned)
    with pytest.raises(FlowError, match=r"demo/s01/EP00_demo.*onset 1 -> frame \d+.*non-finite"):
        P.build_flowset(clips, CFG, train_mask=True, progress=False, cache_root=tmp_path / "d",
                        n_jobs=1)


def test_nonfinite_loss_says_whether_the_inputs_were_finite():
    import torch
    from torch import nn

    from merkit import train
    from merkit.models.output import ModelOutput

    class Tiny(nn.Module):
        def __init__(self, scale=1.0):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.scale = scale

        def forward(self, x):
            return ModelOutput(logits=self.fc(x) * self.scale)

    cfg = train.TrainConfig(epochs=1, batch_size=4, device="cpu")
    x = torch.randn(8, 4)
    x[3, 1] = float("nan")
    y = torch.zeros(8, dtype=torch.long)
    with pytest.raises(FloatingPointError, match=r"x has 1 non-finite.*not the learning rate"):
        train.fit(Tiny(), x, y, None, cfg, seed=0)
    with pytest.raises(FloatingPointError, match=r"inputs \(x and the AU targets\) are finite.*lower the learning rate"):
        train.fit(Tiny(float("inf")), torch.randn(8, 4), y, None, cfg, seed=0)  # diverged


# --- 5. a blank onset frame ---------------------------------------------------------------------


def test_blank_onset_advances_the_flow_onset_or_errors(clips, tmp_path, monkeypatch):
    onset_file = Path(clips["frames"].iloc[1][0])
    cv2.imwrite(str(onset_file), np.full((SIZE, SIZE, 3), 120, np.uint8))
    starts = []
    real = P.pair_flow

    def spy(a, b, *args, **kw):
        starts.append(a.copy())
        return real(a, b, *args, **kw)

    monkeypatch.setattr(P, "pair_flow", spy)
    with pytest.warns(UserWarning, match=r"demo/s02/EP01_demo.*flow starts from frame 2"):
        fs = P.build_flowset(clips, CFG, train_mask=True, progress=False,
                             cache_root=tmp_path / "c", n_jobs=1)
    table = fs.fallback_table()
    assert table["clip"].tolist() == ["demo/s02/EP01_demo"]
    assert table["flow_onset"].tolist() == [2] and table["fallback"].tolist() == ["neighbour"]
    frame2 = to_gray(read_frame(clips["frames"].iloc[1][1]))
    blank = to_gray(read_frame(onset_file))
    assert np.array_equal(starts[1], frame2) and not np.array_equal(starts[1], blank)
    strict = P.PreprocessConfig(face=FaceConfig(unusable_onset="error"), flow=CFG.flow,
                                augment=CFG.augment, n_jobs=1)
    with pytest.raises(UnusableOnsetError, match=r"demo/s02/EP01_demo.*onset frame 1"):
        P.build_flowset(clips, strict, train_mask=True, progress=False,
                        cache_root=tmp_path / "e", n_jobs=1)


# --- 6. SIGKILL of the runner's process group; SIGKILL inside an atomic write -------------------

_GRID_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import numpy as np
    from merkit.experiments import RunResult, RunSpec, RunStore, run_grid

    marks = Path(sys.argv[1])

    def runner(spec):
        (marks / f"started-{os.getpid()}-{spec.fold}").write_text("")
        for _ in range(80):  # 8 s of "training"
            time.sleep(0.1)
        test = np.asarray(spec.test)
        return RunResult("", {}, test, test, test, np.ones((len(test), 2)))

    specs = [RunSpec("m", "hde", f"f{i}", (0,), (1,), 0, {}, "d") for i in range(4)]
    run_grid(specs, runner, n_jobs=2, threads_per_job=1, store=RunStore(marks / "runs"),
             progress=False)
    """
)


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigkill_of_the_runner_stops_its_workers_and_no_run_is_written(tmp_path):
    script = tmp_path / "grid.py"
    script.write_text(_GRID_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=REPO, env=env,
                            start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("started-*"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the grid did not start"
            time.sleep(0.2)
        workers = {int(p.name.split("-")[1]) for p in tmp_path.glob("started-*")}
        assert proc.pid not in workers and len(workers) == 2  # runs are in loky workers
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner's whole process group
        proc.wait()
    deadline = time.monotonic() + 5
    while not all(_dead(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_dead(pid) for pid in workers), "a worker outlived its parent"
    time.sleep(9)  # past the runs' end: a surviving worker would have written them by now
    assert not list((tmp_path / "runs").rglob("*.json"))
    assert len(list(tmp_path.glob("started-*"))) == 2  # and none started another run


def test_temp_file_of_a_killed_atomic_write_is_removed_on_next_start(tmp_path):
    target = tmp_path / "runs" / "ab" / "target.npz"
    code = (
        "import sys, time; from merkit.io import atomic_path\n"
        f"with atomic_path({str(target)!r}, suffix='.npz') as tmp:\n"
        "    tmp.write_bytes(b'half'); print(tmp, flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    litter = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait()
    assert litter.exists() and litter.name.startswith(f".target.npz.{proc.pid}-")
    live = target.parent / f".other.npz.{os.getpid()}-abcd1234.npz"  # a live writer's file
    live.write_bytes(b"x")
    old = time.time() - 30
    os.utime(litter, (old, old))
    os.utime(live, (old, old))
    RunStore(tmp_path / "runs")
    assert not litter.exists() and live.exists() and not target.exists()
    # the preprocessing cache cleans up the same way
    flows = tmp_path / "cache" / "flows" / "x"
    flows.mkdir(parents=True)
    dead = flows / f".clip-key.npz.{proc.pid}-zzzz9999.npz"
    dead.write_bytes(b"x")
    os.utime(dead, (old, old))
    cache.clean_stale(tmp_path / "cache")
    assert not dead.exists()


# --- 7. annotation contradictions, subject forms ------------------------------------------------


def _coding(root: Path, header, rows) -> None:
    _save(root / CASME2_CODING, "Sheet1", [header, *rows])


def test_casme2_class_column_contradicting_the_objective_file_is_a_warning(tmp_path):
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(3))
    header = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
              "Estimated Emotion", "Objective Class")
    _coding(root, header, [(c["subject"], c["clip"], 10, 12, 14, "4", "others",
                            c["objective_class"] if i != 1 else 5)
                           for i, c in enumerate(casme_clips(3))])
    with pytest.warns(DataWarning, match=r"disagrees.*1 clip.*sub02/EP01_01.*5 vs 2"):
        df = casme2.load(root)
    assert df["objective_class"].tolist() == [1, 2, 3]  # the objective-class file wins
    assert len(df.attrs["class_conflicts"]) == 1


def test_two_columns_for_one_field_are_an_annotation_error(tmp_path):
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(1))
    header = ("Subject", "Filename", "OnsetFrame", "Onset", "ApexFrame", "OffsetFrame",
              "Action Units", "Estimated Emotion")
    _coding(root, header, [(1, "EP00_01", 10, 11, 12, 14, "4", "others")])
    with pytest.raises(AnnotationError, match=r"'OnsetFrame', 'Onset' all map to onset"):
        casme2.load(root)


def test_casme2_accepts_the_subject_forms_samm_accepts(tmp_path):
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(2))
    (root / "CASME2_RAW_selected" / "sub01").rename(root / "CASME2_RAW_selected" / "sub1")
    header = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
              "Estimated Emotion")
    _coding(root, header, [("1.0", "EP00_01", 10, 12, 14, "4", "others"),
                           ("sub2", "EP01_01", 10, 12, 14, "4", "others")])
    df = casme2.load(root)
    assert df["subject"].tolist() == ["casme2/sub01", "casme2/sub02"]
    assert df["frames"].iloc[0][0].parent.parent.name == "sub1"
    for form in (1, 1.0, "1", "01", "1.0", "sub1", "Sub01", "sub 1"):
        assert casme2.subject_id(form, where="w") == "sub01"
        from merkit.data import samm

        assert samm.subject_id(form, where="w") == "001"


def test_au_cells_errors_and_alternatives_are_data_errors_and_warnings(tmp_path):
    root = make_casme2_tree(tmp_path / "CASME2", casme_clips(2))
    header = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
              "Estimated Emotion")
    _coding(root, header, [(1, "EP00_01", 10, 12, 14, "12 or 14", "others"),
                           (2, "EP01_01", 10, 12, 14, "4", "others")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = casme2.load(root)
    alt = [w for w in caught if "alternatives" in str(w.message)]
    assert alt and all(issubclass(w.category, DataWarning) for w in alt)
    assert "row 2" in str(alt[0].message) and df["aus"].iloc[0] == (12, 14)
    _coding(root, header, [(1, "EP00_01", 10, 12, 14, "4+smile", "others")])
    with pytest.raises(AnnotationError, match=r"row 2.*smile"):
        casme2.load(root)


def test_the_grid_module_exports():
    assert experiments.RunCorruptedWarning is RunCorruptedWarning
