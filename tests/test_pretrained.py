"""Pretrained checkpoints (torchvision / timm ResNet18, VGG16(-BN), VGG-Face) mapped onto
merkit's models: files built from the key layouts in shared/weights/*.json with random values
(nothing is downloaded), saved as .pth and .safetensors, loaded into every target."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import merkit.paths
from merkit.models import create_model, describe_weights, load_pretrained, variant
from merkit.models.pretrained import RGB_ADAPTATION, sha256_file
from merkit.models.weights import WeightsFileError

SCHEMAS = Path(merkit.paths.REPO_ROOT).parent / "shared" / "weights"
pytestmark = pytest.mark.skipif(
    not SCHEMAS.is_dir(), reason=f"checkpoint layouts not found at {SCHEMAS} (../shared/weights)"
)


def _state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the layout of ``shared/weights/<name>.json`` and random values.

    The big FC layers of the VGGs are stride-0 views of one random number (cheap to build and
    to save as .pth); their shapes are the real ones."""
    keys = json.loads((SCHEMAS / f"{name}.json").read_text())["keys"]
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, spec in keys.items():
        shape = tuple(spec["shape"])
        if spec["dtype"] == "int64":
            out[key] = torch.tensor(7, dtype=torch.int64).expand(shape).clone()
        elif int(torch.tensor(shape).prod()) > 5_000_000:
            out[key] = torch.randn(1, generator=gen).expand(shape)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            out[key] = torch.randn(shape, generator=gen)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ckpt")
    from safetensors.torch import save_file

    resnet = _state("torchvision-resnet18")
    paths = {"resnet18.pth": tmp / "resnet18-f37072fd.pth"}
    torch.save(resnet, paths["resnet18.pth"])
    paths["timm.safetensors"] = tmp / "model.safetensors"
    save_file(_state("timm-resnet18", seed=1), str(paths["timm.safetensors"]))
    paths["wrapped.pth"] = tmp / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in resnet.items()}}, paths["wrapped.pth"])
    for name in ("torchvision-vgg16", "torchvision-vgg16_bn", "vggface-vgg_face_dag"):
        paths[name] = tmp / f"{name}.pth"
        torch.save(_state(name), paths[name])
    return paths


def _trunk_checks(model, prefix: str, file: dict[str, torch.Tensor], report) -> None:
    own = model.state_dict()
    conv1 = own[f"{prefix}conv1.weight"]
    torch.testing.assert_close(conv1, file["conv1.weight"].mean(dim=1, keepdim=True).expand_as(conv1))
    assert dict(report.adapted)[f"{prefix}conv1.weight"] == RGB_ADAPTATION
    for key in ("layer1.0.conv1.weight", "layer3.0.downsample.0.weight", "bn1.running_var",
                "layer4.0.bn2.running_mean"):  # fmt: skip
        assert torch.equal(own[prefix + key], file[key]), key
        assert prefix + key in report.loaded


def test_resnet18_single_path_from_torchvision_pth(files) -> None:
    file = torch.load(files["resnet18.pth"])
    torch.manual_seed(0)
    fresh = create_model("resnet18")
    torch.manual_seed(0)
    model = create_model("resnet18", weights=files["resnet18.pth"])
    report = model.pretrained_report
    assert report.layout == "resnet18" and report.sha256 == sha256_file(files["resnet18.pth"])
    _trunk_checks(model, "", file, report)
    # the classifier is dropped: the model's own fc stays at its (seeded) initialisation
    assert torch.equal(model.fc.weight, fresh.fc.weight)
    assert dict(report.random)["fc.weight"].startswith("classifier")
    assert dict(report.unused)["fc.weight"] == "the file's classifier (fc) is dropped"
    assert model(torch.randn(2, 1, 32, 32)).logits.shape == (2, 5)


def test_resnet18_timm_safetensors_and_wrapped_pth(files) -> None:
    from safetensors.torch import load_file

    timm = load_file(str(files["timm.safetensors"]))
    model = create_model("resnet18_two_path", input_size=32, weights=files["timm.safetensors"])
    for path in ("path_u.", "path_v."):
        _trunk_checks(model, path, timm, model.pretrained_report)
    assert dict(model.pretrained_report.random)["head.weight"].startswith("not part of")
    wrapped = load_pretrained(create_model("resnet18_flow", input_size=32), files["wrapped.pth"])
    assert wrapped.layout == "resnet18" and "path_v.layer2.1.conv2.weight" in wrapped.loaded


def test_resnet18_into_rrrn_and_the_table3_resnet18_row(files) -> None:
    file = torch.load(files["resnet18.pth"])
    rrrn = create_model("rrrn", input_size=32, backbone_blocks=(1, 1, 1, 1), squeeze_channels=8)
    report = load_pretrained(rrrn, files["resnet18.pth"])
    for prefix in ("backbone_v.0.", "backbone_h.0."):
        _trunk_checks(rrrn, prefix, file, report)
    # one block per stage: the file's second blocks are unused, and say why
    assert dict(report.unused)["layer2.1.conv1.weight"].startswith("the target trunk has 1 block")
    assert any(k.startswith("ri.") for k, _ in report.random)
    row = variant("resnet18").model  # MER-auGCN Table III "Resnet18"
    model = create_model("mer_augcn", row, input_size=32)
    report = load_pretrained(model, files["resnet18.pth"])
    for prefix in ("backbone.path_u.", "backbone.path_v."):
        _trunk_checks(model, prefix, file, report)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("name", ["torchvision-vgg16", "torchvision-vgg16_bn", "vggface-vgg_face_dag"])
def test_vgg16_files(files, name: str, batch_norm: bool) -> None:
    file = torch.load(files[name])
    torch.manual_seed(0)
    fresh = create_model("vgg16", batch_norm=batch_norm, pool_size=1, fc_dims=(32, 32))
    torch.manual_seed(0)
    model = create_model("vgg16", batch_norm=batch_norm, pool_size=1, fc_dims=(32, 32))
    report = load_pretrained(model, files[name])
    own = model.state_dict()
    first, last = ("conv1_1", "conv5_3") if name.startswith("vggface") else ("features.0", "features.28")
    if name.endswith("_bn"):
        last = "features.40"
    conv_idx = [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)]
    w0 = own[f"features.{conv_idx[0]}.weight"]  # (64, 2, 3, 3): the mean RGB filter per channel
    torch.testing.assert_close(w0, file[f"{first}.weight"].mean(1, keepdim=True).expand_as(w0))
    assert torch.equal(own[f"features.{conv_idx[-1]}.weight"], file[f"{last}.weight"])
    assert torch.equal(own[f"features.{conv_idx[-1]}.bias"], file[f"{last}.bias"])
    random = dict(report.random)
    if batch_norm and name.endswith("_bn"):  # batch-norm statistics are kept
        assert torch.equal(own["features.1.running_mean"], file["features.1.running_mean"])
    elif batch_norm:
        assert random["features.1.running_mean"].startswith("batch norm: the file has none")
    elif name.endswith("_bn"):
        assert dict(report.unused)["features.1.running_mean"] == "the target VGG16 has no batch norm"
    # classifier dropped; the small hidden head cannot take the file's FC layers, and says why
    assert torch.equal(model.head.weight, fresh.head.weight)
    assert random["head.weight"].startswith("classifier")
    assert random["classifier.0.weight"].startswith("hidden FC: file (4096, 25088)")
    assert model(torch.randn(1, 2, 32, 32)).logits.shape == (1, 5)


def test_wrong_architecture_raises_naming_keys(files, tmp_path) -> None:
    with pytest.raises(WeightsFileError, match=r"no ResNet18 trunk.*conv1\.weight \(64, 3, 7, 7\)"):
        load_pretrained(create_model("vgg16", pool_size=1, fc_dims=(8,)), files["resnet18.pth"])
    with pytest.raises(WeightsFileError, match=r"no VGG16.*features\.0\.weight \(64, 3, 3, 3\)"):
        load_pretrained(create_model("resnet18_flow", input_size=32), files["torchvision-vgg16"])
    # a ResNet34-like file: a third block per stage has no place in a ResNet18
    state = torch.load(files["resnet18.pth"])
    state |= {k.replace("layer1.1.", "layer1.2."): v for k, v in state.items() if k.startswith("layer1.1.")}
    bad = tmp_path / "resnet34.pth"
    torch.save(state, bad)
    with pytest.raises(WeightsFileError, match=r"unmatched.*layer1\.2\.bn1\.weight \(64,\)"):
        create_model("resnet18", weights=bad)
    # a layout merkit does not know
    other = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 4)}, other)
    with pytest.raises(WeightsFileError, match="encoder.weight"):
        create_model("resnet18", weights=other)


def test_describe_weights_and_recipe_path(files) -> None:
    assert describe_weights(None) == "random"
    digest = sha256_file(files["resnet18.pth"])[:12]
    assert describe_weights(files["resnet18.pth"]) == f"resnet18-f37072fd.pth sha256:{digest}"
    from merkit.config import get_profile
    from merkit.reproduce import rrrn
    from merkit.reproduce.runners import ModelBuilder

    profile = get_profile("smoke")
    occ = dataclasses.replace(profile.occlusion, weights=(("resnet18", str(files["resnet18.pth"])),))
    r = rrrn.recipe(dataclasses.replace(profile, occlusion=occ), "resnet18")
    builder = ModelBuilder(r.model, r.config, r.input_size, r.weights)
    assert builder.describe() == describe_weights(files["resnet18.pth"])
    model = builder(0)
    assert model.pretrained_report.layout == "resnet18"
    assert ModelBuilder(r.model, r.config, r.input_size).describe() == "random"
