"""Pretrained checkpoints of other architectures mapped onto merkit's models (no downloads).

:func:`load_pretrained` ``(model, path) -> LoadReport`` reads a local ``.pth`` / ``.pt`` or
``.safetensors`` file (a bare state_dict, or one wrapped in ``{"state_dict": ...}`` /
``{"model": ...}``, keys optionally prefixed with ``module.``) in one of these layouts:

=================  ==========================================================================
layout             files
=================  ==========================================================================
``merkit``         a state_dict of this very model (``torch.save(model.state_dict(), p)``):
                   loaded strictly, every key
``resnet18``       torchvision ``resnet18-f37072fd.pth`` and timm ``resnet18.*`` (same keys)
``vgg16``          torchvision ``vgg16-397923af.pth`` (no batch norm)
``vgg16_bn``       torchvision ``vgg16_bn-6c64b313.pth``
``vgg_face_dag``   the PyTorch port of VGG-Face (Parkhi et al. 2015), ``vgg_face_dag.pth``
=================  ==========================================================================

Targets: every ResNet18 trunk in the model (the single-path ``resnet18``; both paths of
``resnet18_two_path`` / ``resnet18_flow``; the Table III "Resnet18" row, i.e. MER-auGCN on
the ``resnet18`` backbone; every Z_1 / Z_2 of RRRN) gets the ``resnet18`` file, every VGG16
(``vgg16``, with or without batch norm) a VGG file. Trunks are found by their structure, so
this module imports no model module. The rules:

* **First convolution**: the files' filters see 3 RGB channels, merkit's flow paths 1 (a flow
  component) or 2 (VGG16's (horizontal, vertical) image). Each input channel gets the *mean*
  of the three RGB filters, ``w[:, c] = w_rgb.mean(1)``: the response to a one-channel input
  equals the RGB filter's response to a gray image of a third the intensity (timm's
  ``adapt_input_conv`` sums instead; the scale is re-learnt by the batch norm that follows in
  ResNet18, and the flows are not images anyway).
* **Classifier dropped**: the file's class layer (ResNet ``fc``, VGG ``classifier.6``,
  VGG-Face ``fc8``: 1000 ImageNet / 2622 identity classes) is never loaded; the model's own
  heads and every merkit module outside the trunks (two-path FC, MER-auGCN's AU module and
  GCN, RRRN's RI / RR modules) stay at their random initialisation.
* **VGG hidden FC layers** (``classifier.0/.3``, VGG-Face ``fc6/fc7``) load when the model's
  head has their shape (``VGGConfig(pool_size=7, fc_dims=(4096, 4096))``); a smaller head is
  left random and the report says why.
* **Batch norm**: weights, biases and running statistics are kept where the target has batch
  norm and the file has it (ResNet18, VGG16-BN); a VGG16-BN target with a plain VGG16 or
  VGG-Face file keeps its batch norms at their initialisation; a plain VGG16 target ignores a
  VGG16-BN file's batch norms (reported as unused).
* **Block counts**: a ResNet18 trunk with one block per stage (``blocks=(1, 1, 1, 1)``) takes
  the first block of each stage; a trunk with more blocks than the file leaves the extra ones
  random.

A file of another architecture (e.g. a VGG file for a ResNet18, a ResNet50 for a ResNet18,
a layout not listed above) raises :class:`~merkit.models.weights.WeightsFileError` naming its
first unmatched keys and their shapes. Nothing is ever downloaded.
:func:`describe_weights` is what the reports print for a row's starting point.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from merkit.models.weights import WeightsFileError, load_state, read_state_dict

LAYOUTS: tuple[str, ...] = ("merkit", "resnet18", "vgg16", "vgg16_bn", "vgg_face_dag")
RGB_ADAPTATION = "mean of the 3 RGB filters, one copy per input channel"


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` did.

    ``layout``: the file's layout (:data:`LAYOUTS`); ``sha256``: the file's hash;
    ``loaded``: model keys set from the file; ``adapted``: ``(model key, how)`` for loaded
    keys that were transformed (the RGB -> flow first convolution); ``random``:
    ``(model key, why)`` for keys left at their initialisation; ``unused``: ``(file key, why)``
    for file keys not loaded.
    """

    path: str
    layout: str
    sha256: str
    loaded: tuple[str, ...]
    adapted: tuple[tuple[str, str], ...]
    random: tuple[tuple[str, str], ...]
    unused: tuple[tuple[str, str], ...]

    @property
    def description(self) -> str:
        """``"<file name> sha256:<first 12 hex>"`` (as :func:`describe_weights`)."""
        return f"{Path(self.path).name} sha256:{self.sha256[:12]}"

    def summary(self) -> str:
        """A few lines: the file, counts, and the reasons for the random / unused keys."""
        lines = [
            f"{self.description} ({self.layout} layout): {len(self.loaded)} keys loaded, "
            f"{len(self.adapted)} adapted, {len(self.random)} left random, "
            f"{len(self.unused)} file keys unused"
        ]
        for title, pairs in (("random", self.random), ("unused", self.unused)):
            reasons: dict[str, int] = {}
            for _, why in pairs:
                reasons[why] = reasons.get(why, 0) + 1
            lines += [f"  {title}: {n} x {why}" for why, n in reasons.items()]
        return "\n".join(lines)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_weights(path: str | Path | None) -> str:
    """What a row started from: ``"random"`` or ``"<file name> sha256:<first 12 hex>"``."""
    if path is None or str(path) == "":
        return "random"
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"weights file {p} does not exist")
    return f"{p.name} sha256:{sha256_file(p)[:12]}"


# --- layouts -----------------------------------------------------------------------------------


def detect_layout(state: Mapping[str, Tensor]) -> str | None:
    """The external layout of a state_dict (``None`` when it is none of them)."""
    if "conv1.weight" in state and "layer1.0.conv1.weight" in state:
        return "resnet18"
    if "conv1_1.weight" in state and "fc6.weight" in state:
        return "vgg_face_dag"
    if "features.0.weight" in state and "classifier.6.weight" in state and "head.weight" not in state:
        return "vgg16_bn" if "features.1.running_mean" in state else "vgg16"
    return None


def _is_resnet(m: nn.Module) -> bool:
    return (
        isinstance(getattr(m, "conv1", None), nn.Conv2d)
        and isinstance(getattr(m, "bn1", None), nn.BatchNorm2d)
        and all(isinstance(getattr(m, f"layer{i}", None), nn.Sequential) for i in range(1, 5))
    )


def _is_vgg(m: nn.Module) -> bool:
    return (
        isinstance(getattr(m, "features", None), nn.Sequential)
        and isinstance(getattr(m, "classifier", None), nn.Sequential)
        and isinstance(getattr(m, "head", None), nn.Linear)
        and any(isinstance(x, nn.Conv2d) for x in m.features)
    )


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _adapt_rgb(w: Tensor, in_chans: int) -> Tensor:
    """``(O, 3, k, k)`` RGB filters -> ``(O, in_chans, k, k)``: the mean, per channel."""
    return w.float().mean(dim=1, keepdim=True).expand(-1, in_chans, -1, -1).to(w.dtype).clone()


class _Plan:
    """Model key -> tensor, with the reasons for everything not loaded."""

    def __init__(self) -> None:
        self.values: dict[str, Tensor] = {}
        self.adapted: dict[str, str] = {}
        self.random: dict[str, str] = {}
        self.used: set[str] = set()
        self.unused: dict[str, str] = {}
        self.unmatched: list[str] = []

    def put(self, model_key: str, file_key: str, value: Tensor, own: Tensor) -> None:
        if _shape(value) != _shape(own):
            self.unmatched.append(f"{file_key} {_shape(value)} vs model {model_key} {_shape(own)}")
            return
        self.values[model_key] = value.to(own.dtype)
        self.used.add(file_key)


_BLOCK = re.compile(r"^layer([1-4])\.(\d+)\.(.+)$")
_RESNET18_BLOCKS = 2


def _plan_resnet(plan: _Plan, prefix: str, m: nn.Module, state: Mapping[str, Tensor]) -> None:
    own = m.state_dict()
    for key, value in state.items():
        if key.startswith("fc."):
            plan.unused.setdefault(key, "the file's classifier (fc) is dropped")
            continue
        block = _BLOCK.match(key)
        if block:
            stage, index = int(block.group(1)), int(block.group(2))
            n = len(getattr(m, f"layer{stage}"))
            if index >= _RESNET18_BLOCKS:
                plan.unmatched.append(f"{key} {_shape(value)} (ResNet18 has 2 blocks per stage)")
                continue
            if index >= n:
                plan.unused.setdefault(key, f"the target trunk has {n} block(s) in layer{stage}")
                continue
        if key not in own:
            plan.unmatched.append(f"{key} {_shape(value)}")
            continue
        target = own[key]
        if key == "conv1.weight" and value.ndim == 4 and value.shape[1] == 3 and target.shape[1] != 3:
            value = _adapt_rgb(value, target.shape[1])
            plan.adapted[prefix + key] = RGB_ADAPTATION
        plan.put(prefix + key, key, value, target)
    for key in own:
        full = prefix + key
        if full in plan.values or full in plan.random:
            continue
        if key.startswith("fc."):
            plan.random[full] = "classifier: trained from scratch (the file's is dropped)"
        else:
            plan.random[full] = "the ResNet18 file has no such block"


def _vgg_file_parts(
    state: Mapping[str, Tensor], layout: str
) -> tuple[list[str], list[str | None], list[str], str]:
    """(conv prefixes, bn prefixes or None, hidden FC prefixes, class-layer prefix) in order."""
    if layout == "vgg_face_dag":
        convs = sorted(
            {k.rsplit(".", 1)[0] for k in state if re.match(r"^conv\d+_\d+\.", k)},
            key=lambda n: tuple(int(x) for x in n[4:].split("_")),
        )
        return convs, [None] * len(convs), ["fc6", "fc7"], "fc8"
    idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
    convs = [f"features.{i}" for i in idx if state[f"features.{i}.weight"].ndim == 4]
    bns: list[str | None] = []
    for c in convs:
        nxt = f"features.{int(c.split('.')[1]) + 1}"
        bns.append(nxt if f"{nxt}.running_mean" in state else None)
    return convs, bns, ["classifier.0", "classifier.3"], "classifier.6"


_PARAMS = ("weight", "bias")
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _plan_vgg(
    plan: _Plan, prefix: str, m: nn.Module, state: Mapping[str, Tensor], layout: str
) -> None:
    own = m.state_dict()
    convs, bns, fcs, last = _vgg_file_parts(state, layout)
    feats = list(m.features)
    t_convs = [i for i, x in enumerate(feats) if isinstance(x, nn.Conv2d)]
    t_bns = [
        i + 1 if i + 1 < len(feats) and isinstance(feats[i + 1], nn.BatchNorm2d) else None
        for i in t_convs
    ]
    if len(convs) != len(t_convs):
        plan.unmatched += [
            f"{c}.weight {_shape(state[c + '.weight'])} ({len(convs)} convolutions in the file, "
            f"{len(t_convs)} in the model)"
            for c in convs[:5]
        ]
        return
    for j, (src, dst) in enumerate(zip(convs, t_convs, strict=True)):
        for p in _PARAMS:
            fk, mk = f"{src}.{p}", f"features.{dst}.{p}"
            if fk not in state:
                continue
            value = state[fk]
            if j == 0 and p == "weight" and value.shape[1] == 3 and own[mk].shape[1] != 3:
                value = _adapt_rgb(value, own[mk].shape[1])
                plan.adapted[prefix + mk] = RGB_ADAPTATION
            plan.put(prefix + mk, fk, value, own[mk])
        src_bn, dst_bn = bns[j], t_bns[j]
        if src_bn is not None and dst_bn is not None:
            for p in _BN:
                if f"{src_bn}.{p}" in state:
                    mk = f"features.{dst_bn}.{p}"
                    plan.put(prefix + mk, f"{src_bn}.{p}", state[f"{src_bn}.{p}"], own[mk])
        elif src_bn is not None:
            for p in _BN:
                plan.unused.setdefault(f"{src_bn}.{p}", "the target VGG16 has no batch norm")
        elif dst_bn is not None:
            for p in _BN:
                plan.random[f"{prefix}features.{dst_bn}.{p}"] = (
                    "batch norm: the file has none (VGG16 without BN); kept at initialisation"
                )
    t_fcs = [i for i, x in enumerate(m.classifier) if isinstance(x, nn.Linear)]
    for j, src in enumerate(fcs):
        if j >= len(t_fcs):
            for p in _PARAMS:
                plan.unused.setdefault(f"{src}.{p}", "the model's head has fewer hidden FC layers")
            continue
        for p in _PARAMS:
            fk, mk = f"{src}.{p}", f"classifier.{t_fcs[j]}.{p}"
            if _shape(state[fk]) == _shape(own[mk]):
                plan.put(prefix + mk, fk, state[fk], own[mk])
            else:
                why = (
                    f"hidden FC: file {_shape(state[fk])} vs model {_shape(own[mk])} (the config's "
                    "head; VGGConfig(pool_size=7, fc_dims=(4096, 4096)) takes the file's)"
                )
                plan.random[prefix + mk] = why
                plan.unused.setdefault(fk, why)
    for p in _PARAMS:
        plan.unused.setdefault(f"{last}.{p}", "the file's classifier is dropped")
    known = {f"{c}.{p}" for c in convs for p in _PARAMS}
    known |= {f"{b}.{p}" for b in bns if b is not None for p in _BN}
    known |= {f"{c}.{p}" for c in (*fcs, last) for p in _PARAMS}
    plan.unmatched += [f"{k} {_shape(v)}" for k, v in state.items() if k not in known]
    for key in own:
        full = prefix + key
        if full not in plan.values and full not in plan.random:
            plan.random[full] = (
                "classifier: trained from scratch (the file's is dropped)"
                if key.startswith("head.")
                else "not in the file"
            )


def _first(state: Mapping[str, Tensor], n: int = 5) -> str:
    return ", ".join(f"{k} {_shape(v)}" for k, v in list(state.items())[:n])


def load_pretrained(model: nn.Module, path: str | Path) -> LoadReport:
    """Load a local checkpoint into ``model`` (in place) and say what was loaded.

    See the module docstring for the layouts and rules. Raises :class:`FileNotFoundError`
    for a missing file and :class:`~merkit.models.weights.WeightsFileError` for a file that
    does not fit (its first unmatched keys and shapes named). Nothing is downloaded.
    """
    state = read_state_dict(path)
    digest = sha256_file(Path(path).expanduser())
    own = model.state_dict()
    same_keys = set(state) == set(own)
    if same_keys and all(_shape(state[k]) == _shape(v) for k, v in own.items()):
        load_state(model, state, path)
        return LoadReport(str(path), "merkit", digest, tuple(own), (), (), ())
    layout = detect_layout(state)
    if layout is None:
        load_state(model, state, path)  # raises, naming missing / unexpected / mis-shaped keys
        raise AssertionError("unreachable")  # pragma: no cover
    is_target = _is_resnet if layout == "resnet18" else _is_vgg
    targets = [(name, m) for name, m in model.named_modules() if is_target(m)]
    kind = "ResNet18 trunk" if layout == "resnet18" else "VGG16"
    if not targets:
        raise WeightsFileError(
            f"weights file {path} holds a {layout} checkpoint but {type(model).__name__} has no "
            f"{kind} to load it into; first unmatched file keys: {_first(state)}"
        )
    plan = _Plan()
    for name, m in targets:
        prefix = f"{name}." if name else ""
        if layout == "resnet18":
            _plan_resnet(plan, prefix, m, state)
        else:
            _plan_vgg(plan, prefix, m, state, layout)
    if plan.unmatched:
        raise WeightsFileError(
            f"weights file {path} ({layout} layout) does not fit {type(model).__name__}'s "
            f"{kind}: {len(plan.unmatched)} unmatched, first: {'; '.join(plan.unmatched[:5])}"
        )
    for key in own:
        if key not in plan.values and key not in plan.random:
            plan.random[key] = f"not part of the {layout} architecture (merkit module, random)"
    merged = dict(own)
    merged.update(plan.values)
    with torch.no_grad():
        model.load_state_dict(merged)
    unused = {k: why for k, why in plan.unused.items() if k not in plan.used}
    unused |= {k: "not mapped" for k in state if k not in plan.used and k not in unused}
    return LoadReport(
        path=str(path),
        layout=layout,
        sha256=digest,
        loaded=tuple(k for k in own if k in plan.values),
        adapted=tuple(sorted(plan.adapted.items())),
        random=tuple((k, plan.random[k]) for k in own if k in plan.random and k not in plan.values),
        unused=tuple(sorted(unused.items())),
    )
