"""VGG16 baseline: layer counts, parameter-count formula, shapes, weights files."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from merkit.models import ModelOutput, VGGConfig, create_model
from merkit.models.vgg import VGG, VGG16_LAYOUT
from merkit.models.weights import WeightsFileError, load_weights


def vgg16(weights=None, input_size=None, **fields) -> VGG:
    """VGG16 from the registry (``fields`` replace VGGConfig fields)."""
    return create_model("vgg16", input_size=input_size, weights=weights, **fields)

CONV_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]  # VGG16 "D"


def _param_count(in_chans, num_classes, batch_norm, pool_size, fc_dims):
    """VGG16 parameters by formula: 3x3 convs with bias, BN scale+shift, FCs with bias."""
    total, c_in = 0, in_chans
    for c_out in CONV_WIDTHS:
        total += 9 * c_in * c_out + c_out + (2 * c_out if batch_norm else 0)
        c_in = c_out
    width = 512 * pool_size**2
    for d in (*fc_dims, num_classes):
        total += width * d + d
        width = d
    return total


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_vgg16_layout_and_the_published_parameter_count():
    assert [x for x in VGG16_LAYOUT if x != "M"] == CONV_WIDTHS
    # torchvision's vgg16 (3 channels, 1000 classes, no BN) has 138,357,544 parameters;
    # build ours on the meta device so no memory is allocated
    with torch.device("meta"):
        model = vgg16(in_chans=3, num_classes=1000, batch_norm=False)
    assert _count(model, nn.Conv2d) == 13 and _count(model, nn.Linear) == 3
    assert _count(model, nn.MaxPool2d) == 5 and _count(model, nn.BatchNorm2d) == 0
    n = sum(p.numel() for p in model.parameters())
    assert n == 138_357_544 == _param_count(3, 1000, False, 7, (4096, 4096))


@pytest.mark.parametrize(
    ("batch_norm", "pool_size", "fc_dims"), [(True, 1, (64, 32)), (False, 2, (16,))]
)
def test_parameter_count_formula(batch_norm, pool_size, fc_dims):
    model = vgg16(in_chans=2, num_classes=5, batch_norm=batch_norm, pool_size=pool_size,
                  fc_dims=fc_dims)
    assert _count(model, nn.Conv2d) == 13 and _count(model, nn.Linear) == len(fc_dims) + 1
    assert _count(model, nn.BatchNorm2d) == (13 if batch_norm else 0)
    assert sum(p.numel() for p in model.parameters()) == _param_count(
        2, 5, batch_norm, pool_size, fc_dims
    )


@pytest.mark.parametrize("size", [32, 48])
def test_forward_backward_any_size(size):
    torch.manual_seed(0)
    model = vgg16(pool_size=1, fc_dims=(64, 64))
    flow = torch.randn(2, 2, size, size)
    assert model.forward_features(flow).shape == (2, 64)
    out = model(flow)
    assert isinstance(out, ModelOutput) and out.features.shape == (2, 64)
    logits = out.logits
    assert logits.shape == (2, 5)
    nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="H, W >= 32"):
        model(torch.randn(1, 2, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        model(torch.randn(1, 3, 32, 32))


def test_input_size_is_optional_and_checked():
    model = VGG(VGGConfig(pool_size=1, fc_dims=(8,)), input_size=48)
    assert model(torch.randn(1, 2, 48, 48)).logits.shape == (1, 5)
    with pytest.raises(ValueError, match="input_size=48"):
        model(torch.randn(1, 2, 32, 32))
    with pytest.raises(ValueError, match="input_size >= 32"):
        vgg16(input_size=16)


def test_weights_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = create_model("vgg16", pool_size=1, fc_dims=(32, 32)).eval()
    assert isinstance(model, VGG)
    path = tmp_path / "vgg.pt"
    torch.save(model.state_dict(), path)
    loaded = vgg16(pool_size=1, fc_dims=(32, 32), weights=str(path)).eval()
    flow = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(flow).logits, loaded(flow).logits)
    # a checkpoint dict with a DataParallel prefix loads too
    wrapped = tmp_path / "ckpt.pt"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, wrapped)
    other = load_weights(vgg16(pool_size=1, fc_dims=(32, 32)).eval(), wrapped)
    with torch.no_grad():
        assert torch.equal(model(flow).logits, other(flow).logits)
    with pytest.raises(WeightsFileError, match="shape mismatches"):
        vgg16(pool_size=1, fc_dims=(32, 32), num_classes=3, weights=str(path))
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        vgg16(pool_size=1, fc_dims=(32, 32), weights=str(tmp_path / "nope.pt"))
