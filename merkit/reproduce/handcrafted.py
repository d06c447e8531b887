"""Handcrafted baselines: LBP-TOP, LBP-SIP, 3DHOG and HOOF + linear SVM, as experiment runs.

Appearance descriptors read the face-cropped clip onset..offset (the preprocessing face box,
:mod:`merkit.features.volume`); HOOF reads the same TV-L1 onset->apex flow as the deep models
(the original pair, at the crop size, before resizing to the network input). Features are
computed once per (descriptor settings, clip set, face boxes) and cached; each (descriptor,
fold, seed) is one stored run of the experiment engine, so protocols and pooled metrics are
exactly those of the deep models. C is chosen by cross-validation over training subjects only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from merkit import experiments, paths
from merkit.experiments import RunResult, RunSpec
from merkit.features import SVMConfig, VolumeConfig, clip_volume, extract, load_clip_volume
from merkit.io import stable_hash
from merkit.preprocess import cache
from merkit.preprocess.occlusion import OCCLUSION_VERSION, OcclusionSpec, interpolate_landmarks
from merkit.reproduce.augcn import Workspace, folds_for, score_table
from merkit.reproduce.runners import SVMRunner

#: display labels as the papers print them
LABELS: dict[str, str] = {"lbp_top": "LBP-TOP", "lbp_sip": "LBP-SIP", "hog3d": "3DHOG", "hoof": "HOOF"}


def features(ws: Workspace, name: str, *, condition: str = "unocc", progress: bool = True) -> np.ndarray:
    """(n_clips, F) features of every clip of the workspace under an occlusion condition.

    Cached on disk per (descriptor, settings, clips, face boxes, condition); the frame volumes
    of a condition are kept in memory while its descriptors are computed.
    """
    from merkit import workflow

    cfg = ws.rep.profile.handcrafted
    desc = cfg.descriptor(name)
    crop = ws.rep.profile.preprocess.flow.crop_size
    fs = ws.flowset(ws.rep.profile.preprocess.flow.out_size, np.array([], np.int64))  # face boxes, landmarks
    boxes = [tuple(int(v) for v in fs.faces[i].box) for i in range(len(ws.df))]
    spec = occlusion_spec(ws, condition)
    source = {"volume": cfg.volume} if name != "hoof" else {"flow": workflow.preprocess_config(ws.rep, out_size=crop)}
    key = stable_hash({"format": 2, "descriptor": desc.name, "version": desc.version, "params": desc, "source": source,
                       "clips": ws.data_key(fs.config.flow.out_size), "boxes": boxes,
                       "occlusion": None if spec is None else [spec.key, OCCLUSION_VERSION]}, length=24)
    path = paths.cache_dir() / "features" / f"{name}-{key}.npz"
    hit = cache.load_arrays(path, {"x": ((len(ws.df), desc.n_features), np.float64)})
    if hit is not None:  # a missing, truncated or mis-shaped entry is recomputed (with a warning)
        return hit[0]["x"]
    if name == "hoof":
        flows = workflow.build_flows(ws.rep, ws.df, out_size=crop, augment=False, occlusion=spec,
                                     progress=progress)
        x = np.stack([extract(desc, np.moveaxis(flows.x[flows.indices([i], original_only=True)[0]], 0, -1))
                      for i in range(len(ws.df))])
    else:
        x = np.stack([extract(desc, v) for v in volumes(ws, condition, progress=progress)])
    x = np.asarray(x, dtype=np.float64)
    cache.save_arrays(path, {"x": x})
    return x


def volumes(ws: Workspace, condition: str = "unocc", *, progress: bool = True) -> list[np.ndarray]:
    """Face-crop volumes (T, S, S) of every clip, occluded per ``condition`` (memoised per condition).

    Occluders are placed on every frame onset..offset from landmarks interpolated between the
    frames where the preprocessing predicted them (:func:`merkit.preprocess.occlusion.interpolate_landmarks`),
    with the same clip seed as the flows, so both see the same occluder.
    """
    import cv2

    from merkit.preprocess.pipeline import read_frame

    memo = ws.cache.setdefault("volumes", {})
    if condition in memo:
        return memo[condition]
    memo.clear()  # one condition in memory at a time
    cfg = ws.rep.profile.handcrafted
    fs = ws.flowset(ws.rep.profile.preprocess.flow.out_size, np.array([], np.int64))
    spec = occlusion_spec(ws, condition)
    rows = list(ws.df.itertuples(index=False))
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc=f"volumes {condition}", unit="clip")
    out = []
    for i, r in enumerate(rows):
        face = fs.faces[i]
        if spec is None:
            out.append(load_clip_volume(r.frames, cfg.volume, face.box, clip=r.clip))
            continue
        numbers = list(range(r.onset, r.offset + 1))
        marks = interpolate_landmarks(face.landmarks, numbers)
        name = f"{r.subject}/{r.clip}"
        grays = [cv2.cvtColor(spec(read_frame(p, name=name), lm, clip=name), cv2.COLOR_RGB2GRAY)
                 for p, lm in zip(r.frames, marks, strict=True)]
        out.append(clip_volume(grays, cfg.volume, face.box))
    memo[condition] = out
    return out


def occlusion_spec(ws: Workspace, condition: str) -> OcclusionSpec | None:
    """The occluder of a condition ("unocc" -> ``None``), seeded by the profile."""
    if condition == "unocc":
        return None
    return OcclusionSpec.from_condition(condition, seed=ws.rep.profile.occlusion.occlusion_seed)


@dataclass(frozen=True)
class _Settings:
    descriptor: object
    volume: VolumeConfig
    svm: SVMConfig


def run_descriptor(
    ws: Workspace,
    name: str,
    protocol: str,
    *,
    condition: str = "unocc",
    folds: Sequence[object] | None = None,
    progress: bool = True,
) -> list[RunResult]:
    """Every (fold, seed) SVM run of one descriptor under ``protocol`` ("hde" | "cde")."""
    cfg = ws.rep.profile.handcrafted
    x = features(ws, name, condition=condition, progress=progress)
    runner = SVMRunner(x, ws.df["objective_class"].to_numpy(), ws.df["subject"].to_numpy(), cfg.svm)
    data_key = stable_hash([ws.data_key(ws.rep.profile.preprocess.flow.out_size), x.shape, float(x.sum())])
    settings = _Settings(cfg.descriptor(name), cfg.volume, cfg.svm)
    folds = folds if folds is not None else folds_for(ws, protocol)
    specs = [RunSpec(name, protocol, f.name, tuple(f.train.tolist()), tuple(f.test.tolist()), seed,
                     dataclasses.asdict(settings), data_key, condition)
             for f in folds for seed in ws.rep.profile.seeds]
    exp = ws.rep.profile.experiment
    return experiments.run_grid(specs, runner, n_jobs=exp.n_jobs, threads_per_job=1, progress=progress,
                                desc=f"{name} {protocol} {condition}")


def table6_rows(ws: Workspace, names: Sequence[str] = ("lbp_top", "hog3d", "hoof"), *,
                progress: bool = True) -> tuple[pd.DataFrame, dict[str, list[RunResult]]]:
    """The handcrafted rows of MER-auGCN Table VI: HDE WAR/UAR per fold + average, CDE F1/WF1."""
    tables, results = [], {}
    for name in names:
        hde = run_descriptor(ws, name, "hde", progress=progress)
        cde = run_descriptor(ws, name, "cde", progress=progress)
        results[name] = hde + cde
        tables.append(score_table(hde, "augcn.table6", metrics=("war", "uar"), pooled_over_folds=False,
                                  with_average=True))
        tables.append(score_table(cde, "augcn.table6", metrics=("f1", "wf1"), pooled_over_folds=True,
                                  fold_label="loso"))
    return pd.concat(tables, ignore_index=True), results
