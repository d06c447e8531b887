"""``python -m merkit train | predict`` on the smoke set: probabilities, the same preprocessing
as training, and the clear errors (no face, a corrupt or foreign model file)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from merkit import cli
from merkit.data import synthetic
from merkit.preprocess.pipeline import clip_flows
from merkit.train import predict as model_predict


@pytest.fixture(scope="module")
def trained(isolated_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model.pt"
    assert cli.main(["train", "--profile", "smoke", "--method", "mer_augcn", "--out", str(out)]) == 0
    truth = synthetic.load_ground_truth(synthetic.default_dir("smoke"))
    row = truth[truth["dataset"] == "casme2"].iloc[0]
    return out, row.frames[0], row.frames[row.apex - row.onset]


def test_train_saves_the_model_with_its_recipe(trained):
    path, _, _ = trained
    model, payload = cli.load_model(path)
    assert payload["class_names"] == ["I", "II", "III", "IV", "V"] and payload["epochs"] == 1
    assert payload["recipe"].method == "mer_augcn" and payload["aus"]
    assert payload["train_clips"] > 0 and not model.training


def test_predict_prints_class_and_au_probabilities(trained, capsys):
    path, onset, apex = trained
    assert cli.main(["predict", "--model", str(path), "--onset", str(onset), "--apex", str(apex), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert list(result["classes"]) == ["I", "II", "III", "IV", "V"]
    assert sum(result["classes"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["predicted"] == max(result["classes"], key=result["classes"].get)
    assert result["aus"] and all(0.0 <= p <= 1.0 for p in result["aus"].values())


def test_predict_uses_the_training_preprocessing(trained):
    """The pair's flow is the training pipeline's (clip_flows under the saved config), and the
    printed probabilities are the model's on it."""
    path, onset, apex = trained
    model, payload = cli.load_model(path)
    recipe = payload["recipe"]
    row = {"dataset": "user", "subject": "user", "clip": "pair", "onset": 0, "apex": 1, "offset": 1,
           "frames": (onset, apex)}
    x = clip_flows(row, recipe.flows, augment=False, use_cache=False).x[:1]
    np.testing.assert_array_equal(cli.pair_flow(onset, apex, recipe.flows), x)
    probs, _, _ = model_predict(model, torch.from_numpy(x), recipe.train)
    got = cli.predict(path, onset, apex)["classes"]
    assert list(got.values()) == pytest.approx(probs[0].tolist(), abs=1e-6)


def test_a_face_less_image_is_a_clear_error(trained, tmp_path, capsys):
    path, _, apex = trained
    grey = tmp_path / "grey.jpg"
    cv2.imwrite(str(grey), np.full(cv2.imread(str(apex)).shape, 128, np.uint8))  # the apex's size
    assert cli.main(["predict", "--model", str(path), "--onset", str(grey), "--apex", str(apex)]) == 2
    err = capsys.readouterr().err
    assert "no face found" in err and str(grey) in err and "Traceback" not in err
    small = tmp_path / "small.jpg"  # another size than the apex: named, no traceback
    cv2.imwrite(str(small), np.full((64, 64, 3), 128, np.uint8))
    assert cli.main(["predict", "--model", str(path), "--onset", str(small), "--apex", str(apex)]) == 2
    assert str(small) in capsys.readouterr().err


def test_bad_model_files_are_clear_errors(trained, tmp_path, capsys):
    path, onset, apex = trained
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:100])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    old = tmp_path / "old.pt"
    payload = torch.load(path, weights_only=False)
    torch.save(payload | {"code_version": "0"}, old)
    for bad, message in ((tmp_path / "missing.pt", "no such model file"), (truncated, "not a readable"),
                         (foreign, "not a merkit model"), (old, "another merkit version")):
        assert cli.main(["predict", "--model", str(bad), "--onset", str(onset), "--apex", str(apex)]) == 2
        err = capsys.readouterr().err
        assert message in err and str(bad) in err, err


def test_help_lists_the_commands(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "predict" in out
