"""``python -m merkit train | predict``: one model on every clip, then your own onset/apex pair.

::

    python -m merkit train --profile quick --method mer_augcn --protocol all [--out PATH] [--seed 0]
    python -m merkit predict --model PATH --onset onset.jpg --apex apex.jpg [--json]

``train`` fits one model of a table row (MER-auGCN's rows: ``mer_augcn``, ``dual_inception``,
...; RRRN's: ``rrrn``, ``resnet18``, ``vgg16``) on every MEGC 2018 class I–V clip of the
profile's data (the embedded synthetic set unless the licensed roots are set), with the row's
recipe and the profile's fixed epoch count, through the tables' own training path
(:func:`merkit.reproduce.tables.runner`, :meth:`~merkit.reproduce.runners.DeepRunner.fit`).
``resnet18`` is RRRN's two-path ResNet18 flow baseline, as in notebook 12 (MER-auGCN's Table
III "Resnet18" row shares the key; it is not offered here). ``--protocol all`` has no test fold,
so nothing is selected on test data (and nothing is scored); the file holds the weights and the
recipe (model, config, input size, preprocessing), the class names, the AU names, the profile,
CODE_VERSION and the data fingerprint. It is a pickle: load only files you made.

``predict`` reads the pair as a two-frame clip (onset, apex) and runs the *same* preprocessing
function as training (:func:`merkit.preprocess.pipeline.clip_flows`: dlib face box on the
frames, crop, TV-L1, head-motion compensation, resize) under the saved configuration, then
prints the class probabilities and, for MER-auGCN, the AU probabilities. The face box comes from
the onset image, as in training; the apex image is checked for a face too (training never needs
to: its clips are faces). An image without a face, a missing or corrupt model file, or a file
from another merkit version is a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merkit import paths

FORMAT = "merkit-model"
#: bump when the file's layout changes
FORMAT_VERSION = 1


class CliError(RuntimeError):
    """A user-facing failure: printed as one line, exit status 2."""


def default_model_path(profile: str, method: str) -> Path:
    """``<MERKIT_DATA>/models/<profile>-<method>.pt`` (:func:`merkit.paths.models_dir`)."""
    return paths.models_dir() / f"{profile}-{method}.pt"


def methods() -> tuple[str, ...]:
    """The rows ``train`` knows: MER-auGCN's (but its ``resnet18``), then RRRN's deep columns."""
    from merkit.reproduce import augcn, rrrn

    return (*(m for m in augcn.METHODS if m not in rrrn.DEEP), *rrrn.DEEP)


def _recipe(profile: Any, method: str) -> Any:
    from merkit.reproduce import augcn, rrrn

    if method in rrrn.DEEP:  # first: "resnet18" is RRRN's flow baseline (as notebook 12 reads it)
        return rrrn.recipe(profile, method)
    if method in augcn.METHODS:
        return augcn.recipe(profile, method)
    raise CliError(f"unknown method {method!r}; choose one of {', '.join(methods())}")


@dataclass(frozen=True, eq=False)
class Trained:
    """One model trained on every clip, before it is saved.

    ``model``: the in-process ``nn.Module``; ``payload``: what :func:`save_model` writes (all
    but the weights); ``runner``: the :class:`~merkit.reproduce.runners.DeepRunner` it was
    trained by, whose ``data.x`` (N, 2, S, S) are the training pipeline's flows of
    ``workspace.df``'s clips.
    """

    model: Any
    payload: dict[str, Any]
    runner: Any
    workspace: Any


def fit_model(profile_name: str, method: str, *, seed: int = 0, progress: bool = True) -> Trained:
    """Train one model of row ``method`` on every class I–V clip of the profile's data.

    The row's recipe, the profile's fixed epochs, the tables' training path
    (:func:`merkit.reproduce.tables.runner` + :meth:`~merkit.reproduce.runners.DeepRunner.fit`,
    every clip's augmented pairs when the recipe augments). No clip is held out.
    """
    from merkit.config import get_profile
    from merkit.data import resolve
    from merkit.experiments import CODE_VERSION
    from merkit.reproduce import tables

    profile = get_profile(profile_name)
    recipe = _recipe(profile, method)
    ws = tables.workspace(resolve(profile.data))
    rows = np.arange(len(ws.df))
    runner = tables.runner(ws, recipe, rows if recipe.augment else np.array([], np.int64), progress=progress)
    model, n_train, _ = runner.fit(tuple(rows.tolist()), seed)
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "code_version": CODE_VERSION,
        "recipe": recipe, "seed": seed, "profile": profile_name,
        "class_names": list(ws.class_names), "classes": list(ws.classes), "aus": list(tables.model_aus(recipe)),
        "data_source": ws.source.label, "data_fingerprint": ws.fingerprint(), "train_clips": len(rows),
        "train_samples": n_train, "epochs": recipe.train.epochs, "protocol": "all",
    }
    return Trained(model, payload, runner, ws)


def save_model(path: Path, trained: Trained) -> Path:
    """Write ``trained``'s weights (``state_dict``) and payload to ``path`` atomically."""
    import torch

    from merkit.io import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(trained.payload | {"state_dict": trained.model.state_dict()}, tmp)
    return path


def train(profile_name: str, method: str, out: Path | None = None, *, seed: int = 0,
          progress: bool = True) -> Path:
    """Train one model on every class I–V clip and save it with its recipe; returns the file."""
    trained = fit_model(profile_name, method, seed=seed, progress=progress)
    return save_model(Path(out) if out is not None else default_model_path(profile_name, method), trained)


def load_model(path: Path) -> tuple[Any, dict[str, Any]]:
    """``(model in eval mode, the saved payload)``; a clear :class:`CliError` otherwise."""
    import torch

    from merkit.experiments import CODE_VERSION
    from merkit.reproduce.runners import ModelBuilder

    if not path.is_file():
        raise CliError(f"{path}: no such model file; make one with `python -m merkit train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file: pickle / zip errors of any kind
        raise CliError(f"{path}: not a readable merkit model ({type(error).__name__}: {error}); "
                       "train it again with `python -m merkit train`") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CliError(f"{path}: not a merkit model file (no '{FORMAT}' header)")
    if payload.get("format_version") != FORMAT_VERSION or payload.get("code_version") != CODE_VERSION:
        raise CliError(f"{path}: saved by another merkit version (file {payload.get('format_version')}/"
                       f"{payload.get('code_version')}, this merkit {FORMAT_VERSION}/{CODE_VERSION}); "
                       "train it again with `python -m merkit train`")
    try:
        recipe = payload["recipe"]
        model = ModelBuilder(recipe.model, recipe.config, recipe.input_size)(int(payload["seed"]))
        model.load_state_dict(payload["state_dict"])
    except Exception as error:  # a model or config changed without a version bump
        raise CliError(f"{path}: its model does not fit this merkit ({type(error).__name__}: "
                       f"{str(error).splitlines()[0] if str(error) else ''}); "
                       "train it again with `python -m merkit train`") from None
    return model.eval(), payload


def pair_flow(onset: Path, apex: Path, preprocess: Any) -> np.ndarray:
    """(1, 2, S, S) onset->apex flow of two image files, by the training pipeline's function."""
    from merkit.io import FrameError, read_image
    from merkit.preprocess.face import NoFaceError, detect_all
    from merkit.preprocess.flow import FlowError
    from merkit.preprocess.pipeline import clip_flows

    for path in (onset, apex):
        if not path.is_file():
            raise CliError(f"{path}: no such image file")
    row = {"dataset": "user", "subject": "user", "clip": f"{onset.name}->{apex.name}", "onset": 0, "apex": 1,
           "offset": 1, "frames": (onset, apex)}
    hint = "give a frontal face image pair (the onset and apex frames of one clip)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a fallback is an error here, below
            flows = clip_flows(row, preprocess, augment=False, use_cache=False)
    except NoFaceError as error:
        raise CliError(f"no face found in {onset} / {apex} ({error}); {hint}") from None
    except FlowError as error:
        if "no face on frames" in str(error):  # the onset has none (the apex may have one)
            raise CliError(f"no face found in {onset} (dlib's detector, as in training); {hint}") from None
        raise CliError(f"{onset} / {apex}: {error}") from None
    except (FrameError, ValueError) as error:  # unreadable, or two frame sizes
        raise CliError(f"{onset} / {apex}: {error}") from None
    # training tolerates a clip whose onset frame has no face (a neighbour's box, or the whole
    # frame); a single pair cannot: the face must be on the onset image
    if flows.fallback:
        missing = f"{onset} or {apex}" if flows.fallback == "whole_frame" else str(onset)
        raise CliError(f"no face found in {missing} (dlib's detector, as in training); {hint}")
    face = preprocess.face  # the apex only borrows the onset's box; still, it must be a face
    if not detect_all(read_image(apex), model=face.model, upsample=face.upsample, max_side=face.detect_max_side):
        raise CliError(f"no face found in {apex} (dlib's detector, as in training); {hint}")
    return flows.x[flows.is_original]


def predict(model_path: Path, onset: Path, apex: Path) -> dict[str, Any]:
    """``{"classes": {name: p}, "aus": {"AU<n>": p} (MER-auGCN), "predicted": name}``."""
    import torch

    from merkit import train as tr

    model, payload = load_model(model_path)
    recipe = payload["recipe"]
    x = pair_flow(onset, apex, recipe.flows)
    probs, au_probs, _ = tr.predict(model, torch.from_numpy(np.ascontiguousarray(x)),
                                    dataclasses.replace(recipe.train, device="cpu"))
    names = payload["class_names"]
    out: dict[str, Any] = {"model": str(model_path), "method": recipe.method,
                           "classes": {n: float(p) for n, p in zip(names, probs[0], strict=True)},
                           "predicted": names[int(np.argmax(probs[0]))]}
    if au_probs is not None:
        out["aus"] = {f"AU{a}": float(p) for a, p in zip(payload["aus"], au_probs[0], strict=True)}
    return out


def _format(result: dict[str, Any]) -> str:
    lines = [f"{result['method']}: predicted class {result['predicted']}", "class probabilities:"]
    lines += [f"  {n:>8}  {p:.3f}" for n, p in result["classes"].items()]
    if "aus" in result:
        lines.append("AU probabilities:")
        lines += [f"  {n:>8}  {p:.3f}" for n, p in result["aus"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m merkit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train one model on every clip and save it with its recipe")
    t.add_argument("--profile", default="quick")
    t.add_argument("--method", required=True,
                   help="mer_augcn, dual_inception, ..., rrrn, resnet18 (RRRN's ResNet18 baseline), vgg16")
    t.add_argument("--protocol", choices=("all",), default="all",
                   help="all: every clip, no test fold (the profile's fixed epochs; nothing scored)")
    t.add_argument("--out", type=Path, default=None, help="default <MERKIT_DATA>/models/<profile>-<method>.pt")
    t.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("predict", help="class (and AU) probabilities of an onset/apex image pair")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--onset", type=Path, required=True)
    p.add_argument("--apex", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "train":
            trained = fit_model(args.profile, args.method, seed=args.seed)
            out = save_model(args.out if args.out is not None else default_model_path(args.profile, args.method),
                             trained)
            info = trained.payload
            print(f"trained {args.method} on all {info['train_clips']} clips ({info['train_samples']} samples, "
                  f"{info['data_source']}), {info['epochs']} epoch(s); --protocol all has no test fold: "
                  "nothing was selected or scored on test data")
            print(f"saved {out}")
        else:
            result = predict(args.model, args.onset, args.apex)
            print(json.dumps(result, indent=2) if args.json else _format(result))
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
