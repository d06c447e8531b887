"""``python -m merkit train | predict`` on the smoke set: probabilities, the same preprocessing
as training, and the clear errors (no face, a missing, corrupt, foreign or older model file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from merkit import cli, paths
from merkit.config import get_profile
from merkit.train import predict as model_predict

CLASS_NAMES = ["I", "II", "III", "IV", "V"]


def _predict(*args: str) -> list[str]:
    return ["predict", *args]


@pytest.fixture(scope="module")
def trained(isolated_env, tmp_path_factory):
    """MER-auGCN trained on every smoke clip (in process), saved; a clip's onset and apex files."""
    run = cli.fit_model("smoke", "mer_augcn", seed=0, progress=False)
    path = cli.save_model(tmp_path_factory.mktemp("cli") / "mer_augcn.pt", run)
    recipe = run.payload["recipe"]
    ws = run.workspace
    fallbacks = ws.flows[(recipe.flows, None)].fallbacks  # the training flows' face fallbacks
    position = next(i for i in range(len(ws.df)) if i not in fallbacks)  # its face is on the onset
    clip = ws.df.iloc[position]
    return SimpleNamespace(run=run, path=path, position=position,
                           onset=clip.frames[0], apex=clip.frames[clip.apex - clip.onset])


def test_the_saved_file_holds_the_weights_and_the_recipe(trained):
    model, payload = cli.load_model(trained.path)
    run = trained.run
    assert payload["class_names"] == CLASS_NAMES and payload["profile"] == "smoke"
    assert payload["recipe"] == run.payload["recipe"] and payload["recipe"].method == "mer_augcn"
    assert payload["recipe"].flows.flow.out_size == payload["recipe"].input_size == 28
    assert payload["aus"] and payload["epochs"] == 1 and payload["protocol"] == "all"
    assert payload["train_clips"] == len(run.workspace.df)  # every clip: no test fold
    assert payload["data_fingerprint"] == run.workspace.fingerprint() and payload["code_version"]
    assert not model.training
    for name, value in run.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_predict_prints_class_and_au_probabilities(trained, capsys):
    args = _predict("--model", str(trained.path), "--onset", str(trained.onset), "--apex", str(trained.apex))
    assert cli.main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["classes"]) == CLASS_NAMES
    assert sum(result["classes"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["predicted"] == max(result["classes"], key=result["classes"].get)
    assert list(result["aus"]) == [f"AU{a}" for a in trained.run.payload["aus"]]
    assert all(0.0 <= p <= 1.0 for p in result["aus"].values())
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "class probabilities" in text and "AU probabilities" in text


def test_predict_is_the_in_process_model_on_the_training_flow(trained):
    """The pair's flow is the one the training pipeline computed for that clip (the whole clip's
    face detection, crop and TV-L1), and the printed probabilities are the in-process model's
    on it: the saved file and the saved preprocessing reproduce training."""
    run = trained.run
    data = run.runner.data
    x = data.x[data.test_samples((trained.position,))]  # (1, 2, 28, 28): the clip's original pair
    recipe = run.payload["recipe"]
    np.testing.assert_allclose(cli.pair_flow(trained.onset, trained.apex, recipe.flows), x, rtol=0, atol=1e-6)
    probs, au_probs, _ = model_predict(run.model, torch.from_numpy(np.ascontiguousarray(x)), recipe.train)
    got = cli.predict(trained.path, trained.onset, trained.apex)
    assert list(got["classes"].values()) == pytest.approx(probs[0].tolist(), abs=1e-5)
    assert list(got["aus"].values()) == pytest.approx(au_probs[0].tolist(), abs=1e-5)


def test_the_train_command_and_a_model_without_au_head(isolated_env, trained, tmp_path, capsys):
    out = tmp_path / "dual.pt"
    assert cli.main(["train", "--profile", "smoke", "--method", "dual_inception", "--protocol", "all",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no test fold" in printed and str(out) in printed and out.is_file()
    result = cli.predict(out, trained.onset, trained.apex)
    assert list(result["classes"]) == CLASS_NAMES and "aus" not in result
    assert sum(result["classes"].values()) == pytest.approx(1.0, abs=1e-5)
    assert cli.default_model_path("smoke", "rrrn") == paths.models_dir() / "smoke-rrrn.pt"
    assert "resnet18" in cli.methods() and cli._recipe(get_profile("smoke"), "resnet18").model == "resnet18_flow"


def test_a_face_less_image_is_a_clear_error(trained, tmp_path, capsys):
    shape = cv2.imread(str(trained.apex)).shape
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full(shape, 128, np.uint8))
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    model = ["--model", str(trained.path)]
    for onset, apex, named in ((grey, trained.apex, grey), (trained.onset, noise, noise)):
        assert cli.main(_predict(*model, "--onset", str(onset), "--apex", str(apex))) == 2
        err = capsys.readouterr().err
        assert "no face found" in err and str(named) in err and "Traceback" not in err, err
    small = tmp_path / "small.png"  # another size than the onset: named, no traceback
    cv2.imwrite(str(small), np.full((64, 64, 3), 128, np.uint8))
    assert cli.main(_predict(*model, "--onset", str(trained.onset), "--apex", str(small))) == 2
    assert str(small) in capsys.readouterr().err


def test_the_module_entry_point_exits_without_a_traceback(trained, tmp_path):
    """``python -m merkit``: help listing both commands; a face-less onset exits 2, one line."""
    env = os.environ | {"PYTHONPATH": str(paths.REPO_ROOT)}
    shown = subprocess.run([sys.executable, "-m", "merkit"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and "train" in shown.stdout and "predict" in shown.stdout
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full(cv2.imread(str(trained.apex)).shape, 128, np.uint8))
    failed = subprocess.run([sys.executable, "-m", "merkit", *_predict("--model", str(trained.path), "--onset",
                             str(grey), "--apex", str(trained.apex))], capture_output=True, text=True, env=env)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.count("\n") == 1 and str(grey) in failed.stderr, failed.stderr


def test_bad_model_files_are_clear_errors(trained, tmp_path, capsys):
    path = trained.path
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:100])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    payload = torch.load(path, weights_only=False)
    old = tmp_path / "old.pt"
    torch.save(payload | {"code_version": "0"}, old)
    misfit = tmp_path / "misfit.pt"  # same version, weights of another shape
    torch.save(payload | {"state_dict": {"weight": torch.zeros(1)}}, misfit)
    for bad, message in ((tmp_path / "missing.pt", "no such model file"), (truncated, "not a readable"),
                         (foreign, "not a merkit model"), (old, "another merkit version"),
                         (misfit, "does not fit this merkit")):
        argv = _predict("--model", str(bad), "--onset", str(trained.onset), "--apex", str(trained.apex))
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and str(bad) in err and err.count("\n") == 1, err
