"""``python -m merkit train | predict``: one model on every clip, then your own onset/apex pair.

::

    python -m merkit train --profile quick --method mer_augcn --protocol all [--out PATH] [--seed 0]
    python -m merkit predict --model PATH --onset onset.jpg --apex apex.jpg [--json]

``train`` fits one model of a table row (MER-auGCN's rows: ``mer_augcn``, ``dual_inception``,
...; RRRN's: ``rrrn``, ``resnet18``, ``vgg16``) on every MEGC 2018 class I–V clip of the
profile's data (the embedded synthetic set unless the licensed roots are set), with the row's
recipe and the profile's fixed epoch count. ``--protocol all`` has no test fold, so nothing is
selected on test data; the file holds the weights and the recipe (model, config, input size,
preprocessing), the class names, the AU names, CODE_VERSION and the data fingerprint.

``predict`` reads the pair as a two-frame clip (onset, apex) and runs the *same* preprocessing
function as training (:func:`merkit.preprocess.pipeline.clip_flows`: dlib face box on the
frames, crop, TV-L1, head-motion compensation, resize) under the saved configuration, then
prints the class probabilities and, for MER-auGCN, the AU probabilities. An image without a
face, a missing or corrupt model file, or a file from another merkit version is a one-line error
and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import warnings
from collections.abc import Sequence
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
    """``<MERKIT_DATA>/models/<profile>-<method>.pt``."""
    return paths.data_dir() / "models" / f"{profile}-{method}.pt"


def _recipe(profile: Any, method: str) -> Any:
    from merkit.reproduce import augcn, rrrn

    if method in augcn.METHODS:
        return augcn.recipe(profile, method)
    if method in rrrn.DEEP:
        return rrrn.recipe(profile, method)
    raise CliError(f"unknown method {method!r}; choose one of {', '.join([*augcn.METHODS, *rrrn.DEEP])}")


def train(profile_name: str, method: str, out: Path | None = None, *, seed: int = 0,
          progress: bool = True) -> Path:
    """Train one model on every class I–V clip and save it with its recipe; returns the file."""
    import torch

    from merkit.config import get_profile
    from merkit.data import resolve
    from merkit.experiments import CODE_VERSION
    from merkit.io import atomic_path
    from merkit.reproduce import tables

    profile = get_profile(profile_name)
    recipe = _recipe(profile, method)
    ws = tables.workspace(resolve(profile.data))
    rows = np.arange(len(ws.df))
    runner = tables.runner(ws, recipe, rows if recipe.augment else np.array([], np.int64), progress=progress)
    model, n_train, history = runner.fit(tuple(rows.tolist()), seed)
    out = Path(out) if out is not None else default_model_path(profile_name, method)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "code_version": CODE_VERSION,
        "recipe": recipe, "state_dict": model.state_dict(), "seed": seed, "profile": profile_name,
        "class_names": list(ws.class_names), "classes": list(ws.classes), "aus": list(tables.model_aus(recipe)),
        "data_source": ws.source.label, "data_fingerprint": ws.fingerprint(), "train_clips": len(rows),
        "train_samples": n_train, "epochs": recipe.train.epochs,
    }
    with atomic_path(out, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return out


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
    recipe = payload["recipe"]
    model = ModelBuilder(recipe.model, recipe.config, recipe.input_size)(int(payload["seed"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload


def pair_flow(onset: Path, apex: Path, preprocess: Any) -> np.ndarray:
    """(1, 2, S, S) onset->apex flow of two image files, by the training pipeline's function."""
    from merkit.io import FrameError
    from merkit.preprocess.face import NoFaceError
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
    t.add_argument("--method", required=True, help="mer_augcn, dual_inception, ..., rrrn, resnet18, vgg16")
    t.add_argument("--protocol", choices=("all",), default="all", help="all: every clip, no test fold")
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
            out = train(args.profile, args.method, args.out, seed=args.seed)
            print(f"saved {out}")
        else:
            result = predict(args.model, args.onset, args.apex)
            print(json.dumps(result, indent=2) if args.json else _format(result))
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
