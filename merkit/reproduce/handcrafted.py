"""Handcrafted rows: LBP-TOP, LBP-SIP, 3DHOG and HOOF + linear SVM, declared as recipes.

Appearance descriptors read the face-cropped clip onset..offset (the preprocessing face box,
:mod:`merkit.features.volume`); HOOF reads the same TV-L1 onset->apex flow as the deep models
(the original pair, at the crop size, before resizing to the network input). Features are
computed once per (descriptor settings, clip set, face boxes, occlusion) and cached; each
(descriptor, fold, seed) is one stored run of the engine (:mod:`merkit.reproduce.tables`), so
protocols and pooled metrics are exactly those of the deep models. C is chosen by
cross-validation over training subjects only.

Un-occluded and occluded volumes go through one decode path: every frame is read as RGB,
passed through the condition's occluder (none for "unocc"), converted to gray by the one
grayscale function, then cropped and resampled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from merkit import paths
from merkit.config import Profile
from merkit.experiments import RunResult
from merkit.features import extract
from merkit.features.volume import clip_volume_from_frames
from merkit.io import stable_hash
from merkit.paper import METHOD_LABELS
from merkit.preprocess import cache
from merkit.preprocess.occlusion import OCCLUSION_VERSION, OcclusionSpec, interpolate_landmarks
from merkit.reproduce import tables
from merkit.reproduce.tables import SVMRecipe, Workspace, score, with_out_size

#: display labels as the papers print them
LABELS: dict[str, str] = {k: METHOD_LABELS[k] for k in ("lbp_top", "lbp_sip", "hog3d", "hoof")}


def recipe(profile: Profile, name: str, *, protocol_section: str = "augcn") -> SVMRecipe:
    """The recipe of one descriptor row; ``protocol_section``: whose CDE folds it follows
    (``"augcn"``: MER-auGCN Table VI, ``"occlusion"``: RRRN's occlusion tables)."""
    cfg = profile.handcrafted
    return SVMRecipe(
        method=name, descriptor=cfg.descriptor(name), volume=cfg.volume, svm=cfg.svm,
        preprocess=with_out_size(profile.preprocess, profile.augcn.input_size),
        protocol=getattr(profile, protocol_section).protocol, seeds=profile.seeds,
        execution=profile.execution, label=LABELS[name],
    )


def occlusion_spec(condition: str, seed: int) -> OcclusionSpec | None:
    """The occluder of a condition ("unocc" -> ``None``), seeded by the profile."""
    if condition == "unocc":
        return None
    return OcclusionSpec.from_condition(condition, seed=seed)


def features(ws: Workspace, recipe: SVMRecipe, *, condition: str = "unocc", occlusion_seed: int = 0,
             progress: bool = True) -> np.ndarray:
    """(n_clips, F) features of every clip of the workspace under an occlusion condition.

    Cached on disk per (descriptor, settings, clips, face boxes, condition); the frame volumes
    of a condition are kept in memory while its descriptors are computed.
    """
    desc = recipe.descriptor
    fs = ws.flowset(recipe.preprocess, np.array([], np.int64), progress=progress)  # face boxes, landmarks
    boxes = [tuple(int(v) for v in fs.faces[i].box) for i in range(len(ws.df))]
    spec = occlusion_spec(condition, occlusion_seed)
    crop = with_out_size(recipe.preprocess, recipe.preprocess.flow.crop_size)
    source = {"volume": recipe.volume} if desc.name != "hoof" else {"flow": crop}
    key = stable_hash({"format": 3, "descriptor": desc.name, "version": desc.version, "params": desc,
                       "source": source, "clips": ws.data_key(recipe.preprocess), "boxes": boxes,
                       "occlusion": None if spec is None else [spec.key, OCCLUSION_VERSION]}, length=24)
    path = paths.cache_dir() / "features" / f"{desc.name}-{key}.npz"
    hit = cache.load_arrays(path, {"x": ((len(ws.df), desc.n_features), np.float64)})
    if hit is not None:  # a missing, truncated or mis-shaped entry is recomputed (with a warning)
        return hit[0]["x"]
    if desc.name == "hoof":
        flows = ws.flowset(crop, np.array([], np.int64), occlusion=spec, progress=progress)
        x = np.stack([extract(desc, np.moveaxis(flows.x[flows.indices([i], original_only=True)[0]], 0, -1))
                      for i in range(len(ws.df))])
    else:
        x = np.stack([extract(desc, v) for v in volumes(ws, recipe, condition, occlusion_seed, progress=progress)])
    x = np.asarray(x, dtype=np.float64)
    cache.save_arrays(path, {"x": x})
    return x


def volumes(ws: Workspace, recipe: SVMRecipe, condition: str = "unocc", occlusion_seed: int = 0, *,
            progress: bool = True) -> list[np.ndarray]:
    """Face-crop volumes (T, S, S) of every clip, occluded per ``condition`` (memoised per condition).

    Occluders are placed on every frame onset..offset from landmarks interpolated between the
    frames where the preprocessing predicted them (:func:`merkit.preprocess.occlusion.interpolate_landmarks`),
    with the same clip seed as the flows, so both see the same occluder.
    """
    memo = ws.cache.setdefault("volumes", {})
    memo_key = (condition, occlusion_seed, recipe.volume)
    if memo_key in memo:
        return memo[memo_key]
    memo.clear()  # one condition in memory at a time
    fs = ws.flowset(recipe.preprocess, np.array([], np.int64), progress=progress)
    spec = occlusion_spec(condition, occlusion_seed)
    rows = list(ws.df.itertuples(index=False))
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc=f"volumes {condition}", unit="clip")
    out = []
    for i, r in enumerate(rows):
        face = fs.faces[i]
        name = f"{r.subject}/{r.clip}"
        transform = None
        if spec is not None:
            marks = interpolate_landmarks(face.landmarks, list(range(r.onset, r.offset + 1)))

            def transform(rgb: np.ndarray, k: int, _marks=marks, _name=name) -> np.ndarray:
                return spec(rgb, _marks[k], clip=_name)

        out.append(clip_volume_from_frames(r.frames, recipe.volume, face.box, clip=name, transform=transform))
    memo[memo_key] = out
    return out


def run_descriptor(ws: Workspace, recipe: SVMRecipe, protocol: tables.Protocol, *, condition: str = "unocc",
                   occlusion_seed: int = 0, progress: bool = True) -> list[RunResult]:
    """Every (fold, seed) SVM run of one descriptor under ``protocol`` ("hde" | "cde")."""
    x = features(ws, recipe, condition=condition, occlusion_seed=occlusion_seed, progress=progress)
    return tables.run_svm(ws, recipe, protocol, x, condition=condition, progress=progress)


def table6_rows(ws: Workspace, profile: Profile, names: Sequence[str] = ("lbp_top", "hog3d", "hoof"), *,
                progress: bool = True) -> tuple[pd.DataFrame, dict[str, list[RunResult]]]:
    """The handcrafted rows of MER-auGCN Table VI: HDE WAR/UAR per fold + average, CDE F1/WF1."""
    parts, results = [], {}
    for name in names:
        r = recipe(profile, name)
        hde = run_descriptor(ws, r, "hde", progress=progress)
        cde = run_descriptor(ws, r, "cde", progress=progress)
        results[name] = hde + cde
        ci = {"groups": tables.subjects(ws), "bootstrap": profile.bootstrap}
        parts.append(score(hde, "augcn.table6", metrics=("war", "uar"), pooled_over_folds=False, with_average=True,
                           **ci))
        parts.append(score(cde, "augcn.table6", metrics=("f1", "wf1"), pooled_over_folds=True, fold_label="loso",
                           **ci))
    return pd.concat(parts, ignore_index=True), results
