"""Notebook 02's steps: the clip table beside Table II, flows, examples, the augmentation grid.

The notebook passes its profile and data source; nothing here is cached beyond the flows
(which the preprocessing cache holds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from merkit import paper
from merkit.config import Profile
from merkit.data import get_dataset
from merkit.facs import MEGC_CLASSES, ROMAN
from merkit.preprocess import augment
from merkit.preprocess.flow import pair_flow
from merkit.preprocess.frames import read_frame, to_gray
from merkit.preprocess.pipeline import FlowSet, PreprocessConfig, build_flowset
from merkit.reproduce.tables import with_out_size


def flow_config(profile: Profile) -> PreprocessConfig:
    """The preprocessing of the MER-auGCN rows (the profile's flows at its ``augcn.input_size``)."""
    return with_out_size(profile.preprocess, profile.augcn.input_size)


def clip_flows(df: pd.DataFrame, profile: Profile, *, augment: bool = True, progress: bool = True) -> FlowSet:
    """Flows of every clip of ``df``: all augmented pairs, or only the original onset->apex pair."""
    return build_flowset(df, flow_config(profile), train_mask=augment, progress=progress)


def class_table(df: pd.DataFrame) -> pd.DataFrame:
    """Clips per objective class and subjects per dataset, beside the published Table II."""
    ours = df.groupby(["dataset", "objective_class"]).size().unstack(fill_value=0)
    ours = ours.reindex(columns=list(MEGC_CLASSES), fill_value=0)
    ours["Total"] = ours.sum(axis=1)
    ours["Subjects"] = df.groupby("dataset")["subject"].nunique()
    ours.loc["composite"] = ours.sum()
    ours = ours.rename(columns={c: ROMAN[c] for c in MEGC_CLASSES})
    published = paper.table("augcn.table2").wide()
    rows = []
    named = [(d, get_dataset(d).label) for d in sorted(df["dataset"].unique())]
    for dataset, label in [*named, ("composite", "Composite")]:
        ours_row = ours.loc[dataset] if dataset in ours.index else pd.Series(0, index=ours.columns)
        pub_row = _published_row(published, label)
        for column in ours.columns:
            rows.append({"dataset": label, "column": column, "ours": int(ours_row[column]),
                         "published": pub_row.get(column)})
    return pd.DataFrame(rows)


def _published_row(published: pd.DataFrame, label: str) -> dict[str, object]:
    for index, row in published.iterrows():
        if str(index).replace(" ", "").lower().startswith(label.replace(" ", "").lower()):
            return {str(k): v for k, v in row.items()}
    return {}


def example_clips(df: pd.DataFrame) -> pd.DataFrame:
    """One clip per (dataset, objective class): the first in table order."""
    firsts = df.groupby(["dataset", "objective_class"], sort=True).head(1)
    return firsts.sort_values(["dataset", "objective_class"], kind="stable")


def key_frames(row: pd.Series) -> dict[str, np.ndarray]:
    """The onset, apex and offset frames of a clip (RGB). Show them only when faces may be shown."""
    def frame(number: int) -> np.ndarray:
        return read_frame(row["frames"][number - row["onset"]], name=row["clip"])

    return {"onset": frame(row["onset"]), "apex": frame(row["apex"]), "offset": frame(row["offset"])}


def original_flow(flows: FlowSet, position: int) -> np.ndarray:
    """The onset->apex flow (2, S, S) of the clip at DataFrame ``position``."""
    index = flows.indices([position], original_only=True)
    if len(index) == 0:
        raise KeyError(f"no original flow for row {position}")
    return flows.x[index[0]]


def augmentation_grid(
    row: pd.Series,
    flows: FlowSet,
    position: int,
    cfg: PreprocessConfig,
    *,
    paper_grid: bool = True,
) -> tuple[np.ndarray, list[str], list[str]]:
    """The augmentation grid of one clip: (apex positions, angles, 2, S, S) flows and labels.

    ``paper_grid=True`` draws the papers' full 10 x 7 grid whatever the profile uses (computed
    here, not cached: it is one clip). Uses the clip's cached face box.
    """
    aug = augment.AugmentConfig() if paper_grid else cfg.augment
    positions = augment.apex_positions(row["onset"], row["apex"], row["offset"],
                                       before=aug.before_fractions, after=aug.after_fractions)
    box = flows.faces[position].box
    onset = to_gray(read_frame(row["frames"][0], name=row["clip"]))
    grid = []
    for frame_number in positions:
        apex = to_gray(read_frame(row["frames"][frame_number - row["onset"]], name=row["clip"]))
        grid.append([pair_flow(onset, apex, box, cfg.flow, angle=a, rotate_on=aug.rotate_on)
                     for a in aug.angles])
    rows = [f"frame {p}" + (" (apex)" if p == row["apex"] else "") for p in positions]
    cols = [f"{a:+.0f}°" for a in aug.angles]
    return np.asarray(grid), rows, cols


def stage_timings(flows: FlowSet) -> pd.DataFrame:
    """Seconds per preprocessing stage: this build, and when the cached entries were computed."""
    stats = dict(flows.stats)
    stages = sorted({k.split("_seconds")[0] for k in stats if "_seconds_cpu" in k})
    rows = [{"stage": s, "cpu_seconds_this_run": stats.get(f"{s}_seconds_cpu", 0.0),
             "cpu_seconds_when_computed": stats.get(f"{s}_seconds_cpu_when_computed", 0.0)}
            for s in stages]
    rows.append({"stage": "wall (this build)", "cpu_seconds_this_run": stats.get("seconds", 0.0),
                 "cpu_seconds_when_computed": float("nan")})
    return pd.DataFrame(rows)
