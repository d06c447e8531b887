"""What notebook 08 (occlusion synthesis) shows: galleries of the occluders and their coverage.

RRRN (Mao et al., Sec. IV-A2) evaluates 13 conditions (:data:`~merkit.preprocess.occlusion.
CONDITIONS`): un-occluded, a medical mask, sunglasses and a random block covering 5 %, 10 %,
... 50 % of the face. This module draws them with :mod:`merkit.preprocess.occlusion` and
measures them:

* :func:`gallery_figure` -- every condition on one face; :func:`design_figure` -- every
  procedural mask / sunglasses design; :func:`tracking_figure` -- one clip's occluder on several
  frames of a moving face (:func:`clip_key_frames`, :func:`simulated_head_motion`).
* :func:`measure_coverage` -> :func:`coverage_table` -- the measured covered fraction of the
  landmark face box (landmarks 0-26) against the requested block level r;
  :func:`covered_by_region` -- which share of the brow / eye / nose / mouth / jaw landmarks each
  condition hides.

Privacy: licensed faces never appear in a report. :func:`face_to_show` swaps a clip's frame for
:func:`~merkit.preprocess.occlusion.template_face` (a cartoon) unless the report may show faces;
the coverage numbers are measured on the real frames either way (numbers only, no pixels).

Every occlusion here is drawn exactly as the preprocessing pipeline draws it: the spec of the
condition with the experiment seed, and the clip's name (``"casme2/sub01/EP02_01f"``) as the
clip seed, so the pictures show the occluders the experiments of notebooks 09-10 use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from merkit.landmarks import REGIONS
from merkit.preprocess import occlusion as occ
from merkit.preprocess.face import ClipFace
from merkit.preprocess.face import landmarks as predict_landmarks
from merkit.preprocess.frames import read_frame
from merkit.preprocess.pipeline import FlowSet
from merkit.report import figures

__all__ = [
    "DEFAULT_MOVES",
    "REGIONS",
    "FaceSample",
    "clip_key_frames",
    "coverage_figure",
    "coverage_table",
    "covered_by_region",
    "design_figure",
    "face_to_show",
    "gallery_figure",
    "landmarks_hidden",
    "measure_coverage",
    "onset_faces",
    "pick_clips",
    "region_figure",
    "simulated_head_motion",
    "tracking_figure",
]

#: Rigid head moves of :func:`simulated_head_motion`: (dx, dy in face widths, roll degrees, scale).
DEFAULT_MOVES: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.0, 1.0),
    (0.12, -0.06, 0.0, 1.0),
    (0.0, 0.0, 15.0, 1.0),
    (-0.08, 0.05, -12.0, 0.85),
)


@dataclass(frozen=True, eq=False)
class FaceSample:
    """One frame with its landmarks: ``frame`` (H, W, 3) uint8 RGB, ``landmarks`` (68, 2) (x, y).

    ``name`` is the clip's name (the occluders' clip seed); ``fallback`` the face stage's fallback
    kind (``""``: found on the onset frame; ``"whole_frame"``: landmarks are a guess).
    """

    name: str
    frame: np.ndarray
    landmarks: np.ndarray
    fallback: str = ""


# -- faces ------------------------------------------------------------------------------------------
def pick_clips(clips: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """``n`` rows evenly spaced over the table (first and last included), or all for None."""
    if n is None or n >= len(clips):
        return clips
    if n < 1:
        raise ValueError(f"n must be >= 1 or None, got {n}")
    rows = np.unique(np.round(np.linspace(0, len(clips) - 1, n)).astype(int))
    return clips.iloc[rows]


def onset_faces(clips: pd.DataFrame, flows: FlowSet) -> list[FaceSample]:
    """The onset frame and its cached landmarks of every clip.

    ``flows`` is the :class:`~merkit.preprocess.pipeline.FlowSet` built from exactly ``clips``
    (row position p of ``clips`` is ``flows.faces[p]``).
    """
    if len(flows.faces) != len(clips):
        raise ValueError(
            f"the flow set holds {len(flows.faces)} clips but the table {len(clips)}: build the "
            "flows from the same DataFrame"
        )
    samples = []
    for pos, (_, row) in enumerate(clips.iterrows()):
        name = flows.names[pos]
        face = flows.faces[pos]
        if row["onset"] not in face.landmarks:
            raise KeyError(
                f"{name}: no landmarks for the onset frame {row['onset']} in the face cache "
                f"(frames {sorted(face.landmarks)}); rebuild the flows"
            )
        frame = read_frame(row["frames"][0], name=name)
        lm = np.asarray(face.landmarks[row["onset"]], np.float64)
        samples.append(FaceSample(name, frame, lm, face.fallback))
    return samples


def face_to_show(sample: FaceSample, show_faces: bool, *, size: int = 200) -> FaceSample:
    """``sample`` when faces may be shown, else the cartoon template face (named "template")."""
    if show_faces:
        return sample
    frame, lm = occ.template_face(size)
    return FaceSample("template", frame, lm)


def clip_key_frames(
    row: pd.Series, face: ClipFace
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Onset, apex and offset frames of a clip with landmarks -> (frames, landmarks, titles).

    ``face`` is the clip's :class:`~merkit.preprocess.face.ClipFace`. Landmarks come from the
    face cache where the pipeline predicted them (onset and the apex positions); for the other
    frames (the offset) they are predicted here from the clip's detector box, as the pipeline
    would. Show the frames only when the report may show faces.
    """
    frames, marks, titles = [], [], []
    for key in ("onset", "apex", "offset"):
        number = int(row[key])
        frame = read_frame(row["frames"][number - int(row["onset"])], name=str(row["clip"]))
        if number in face.landmarks:
            lm, note = np.asarray(face.landmarks[number], np.float64), ""
        else:
            lm, note = predict_landmarks(frame, face.det_box), " *"
        frames.append(frame)
        marks.append(lm)
        titles.append(f"{key} ({number}){note}")
    return frames, marks, titles


def simulated_head_motion(
    frame: np.ndarray,
    landmarks: np.ndarray,
    moves: Sequence[tuple[float, float, float, float]] = DEFAULT_MOVES,
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The frame moved rigidly, landmarks moved with it -> (frames, landmarks, titles).

    Each move ``(dx, dy, roll, scale)`` shifts the face by ``dx, dy`` face-box widths, rotates it
    by ``roll`` degrees (positive = clockwise on screen, as :func:`~merkit.preprocess.occlusion.
    head_roll`) and scales it by ``scale`` about the face-box centre; the frame is warped with
    the same (2, 3) affine (borders reflected). ``frame`` (H, W[, 3]) uint8, ``landmarks`` (68, 2).
    """
    import cv2

    lm = np.asarray(landmarks, np.float64)
    h, w = frame.shape[:2]
    box = lm[:27]
    centre = 0.5 * (box.min(axis=0) + box.max(axis=0))
    width = float(np.ptp(box[:, 0]))
    frames, marks, titles = [], [], []
    for dx, dy, roll, scale in moves:
        t = math.radians(roll)
        rot = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        m = np.empty((2, 3))
        m[:, :2] = rot
        m[:, 2] = centre + np.array([dx, dy]) * width - rot @ centre
        moved = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        frames.append(moved)
        marks.append(lm @ m[:, :2].T + m[:, 2])
        titles.append(f"shift {dx:+.2f}, {dy:+.2f} · roll {roll:+.0f}° · ×{scale:g}")
    return frames, marks, titles


# -- measuring --------------------------------------------------------------------------------------
def landmarks_hidden(covered: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Which landmarks lie on a covered pixel: ``covered`` (H, W) bool, (68, 2) -> (68,) bool.

    A landmark belongs to the pixel its (x, y) rounds to (half up); one outside the frame is
    not hidden.
    """
    covered = np.asarray(covered, bool)
    ij = np.floor(np.asarray(landmarks, np.float64) + 0.5).astype(int)
    cols, rows = ij[:, 0], ij[:, 1]
    inside = (rows >= 0) & (rows < covered.shape[0]) & (cols >= 0) & (cols < covered.shape[1])
    hidden = np.zeros(len(ij), bool)
    hidden[inside] = covered[rows[inside], cols[inside]]
    return hidden


def _requested(spec: occ.OcclusionSpec) -> float:
    if spec.kind == "block":
        return float(spec.level)  # type: ignore[arg-type]
    return 0.0 if spec.kind == "none" else math.nan


def measure_coverage(
    faces: Sequence[FaceSample],
    seeds: Sequence[int],
    conditions: Sequence[str] = occ.CONDITIONS,
) -> pd.DataFrame:
    """Occlude every face under every condition and seed; one row per (face, seed, condition).

    Columns: ``face``, ``seed``, ``condition``, ``label``, ``requested`` (r for blocks, 0 for
    un-occluded, NaN for mask / glass), ``measured`` (covered share of the landmark face box,
    :func:`~merkit.preprocess.occlusion.covered_fraction`), ``bound`` (the rounding tolerance
    ``1 / (2 * box height)`` promised for blocks), ``box_height`` and ``hidden_<region>`` (share
    of each :data:`REGIONS` landmark set on covered pixels).
    """
    if not faces:
        raise ValueError("measure_coverage needs at least one face")
    rows = []
    for face in faces:
        x0, y0, x1, y1 = occ.face_box(face.landmarks, face.frame.shape)
        box_h = y1 - y0 + 1
        for seed in seeds:
            for condition in conditions:
                spec = occ.OcclusionSpec.from_condition(condition, seed=int(seed))
                _, covs = spec.apply_clip([face.frame], [face.landmarks], face.name,
                                          return_covered=True)  # fmt: skip
                covered = covs[0]
                hidden = landmarks_hidden(covered, face.landmarks)
                row = {
                    "face": face.name,
                    "seed": int(seed),
                    "condition": spec.condition,
                    "label": spec.label,
                    "requested": _requested(spec),
                    "measured": occ.covered_fraction(covered, face.landmarks),
                    "bound": 1.0 / (2.0 * box_h),
                    "box_height": box_h,
                }
                for region, index in REGIONS.items():
                    row[f"hidden_{region}"] = float(hidden[list(index)].mean())
                rows.append(row)
    return pd.DataFrame(rows)


def _ordered(groups: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(groups["condition"]))
    known = [c for c in occ.CONDITIONS if c in present]
    return known + [c for c in present if c not in known]


def coverage_table(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per condition: the measured covered fraction of the face box against the requested one.

    ``measurements`` from :func:`measure_coverage` -> one row per condition (in
    :data:`~merkit.preprocess.occlusion.CONDITIONS` order) with ``condition``, ``label``,
    ``requested``, ``measured_mean``, ``measured_std`` (over faces x seeds, ddof 0),
    ``measured_min``, ``measured_max``, ``max_abs_error`` (|measured - requested|, NaN for mask
    / glass), ``within_rounding`` (share of samples within their rounding bound
    ``1 / (2 * box height)``; NaN for mask / glass), ``rounding_bound`` (the largest bound) and
    ``n`` (faces x seeds).
    """
    rows = []
    for condition in _ordered(measurements):
        g = measurements[measurements["condition"] == condition]
        requested = float(g["requested"].iloc[0])
        error = (g["measured"] - g["requested"]).abs()
        has_target = not math.isnan(requested)
        rows.append({
            "condition": condition,
            "label": g["label"].iloc[0],
            "requested": requested,
            "measured_mean": float(g["measured"].mean()),
            "measured_std": float(g["measured"].std(ddof=0)),
            "measured_min": float(g["measured"].min()),
            "measured_max": float(g["measured"].max()),
            "max_abs_error": float(error.max()) if has_target else math.nan,
            "within_rounding": (
                float((error <= g["bound"] + 1e-12).mean()) if has_target else math.nan
            ),
            "rounding_bound": float(g["bound"].max()) if has_target else math.nan,
            "n": len(g),
        })  # fmt: skip
    return pd.DataFrame(rows)


def covered_by_region(measurements: pd.DataFrame) -> pd.DataFrame:
    """Share of each region's landmarks each condition hides (mean over faces x seeds).

    ``measurements`` from :func:`measure_coverage` -> long table ``condition``, ``label``,
    ``region``, ``hidden_fraction``, ``hidden_std`` (ddof 0), ``n_landmarks``, ``n``.
    """
    rows = []
    for condition in _ordered(measurements):
        g = measurements[measurements["condition"] == condition]
        for region, index in REGIONS.items():
            values = g[f"hidden_{region}"]
            rows.append({
                "condition": condition,
                "label": g["label"].iloc[0],
                "region": region,
                "hidden_fraction": float(values.mean()),
                "hidden_std": float(values.std(ddof=0)),
                "n_landmarks": len(index),
                "n": len(g),
            })  # fmt: skip
    return pd.DataFrame(rows)


# -- figures ----------------------------------------------------------------------------------------
def _draw(
    ax: plt.Axes,
    image: np.ndarray,
    landmarks: np.ndarray,
    covered: np.ndarray,
    title: str,
    *,
    zoom: bool = True,
) -> None:
    """Image with its face box (dashed), visible landmarks (cyan dots) and hidden ones (red x)."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image)
    hidden = landmarks_hidden(covered, landmarks)
    ax.scatter(*landmarks[~hidden].T, s=3, c="cyan", linewidths=0)
    ax.scatter(*landmarks[hidden].T, s=5, c="red", marker="x", linewidths=0.6)
    x0, y0, x1, y1 = occ.face_box(landmarks, image.shape)
    ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False,
                               ls="--", lw=0.7, ec="yellow"))  # fmt: skip
    if zoom:
        pad_x, pad_y = 0.25 * (x1 - x0 + 1), 0.3 * (y1 - y0 + 1)
        ax.set_xlim(max(x0 - pad_x, -0.5), min(x1 + pad_x, image.shape[1] - 0.5))
        ax.set_ylim(min(y1 + pad_y, image.shape[0] - 0.5), max(y0 - pad_y, -0.5))
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _grid(n: int, cols: int, size: float = 1.9) -> tuple[plt.Figure, np.ndarray]:
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * 1.3 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    return fig, axes.flat[:n]


def gallery_figure(
    frame: np.ndarray,
    landmarks: np.ndarray,
    *,
    seed: int = 0,
    clip: str = "template",
    conditions: Sequence[str] = occ.CONDITIONS,
    cols: int = 7,
) -> plt.Figure:
    """Every condition on one face; titles give the paper's label and the measured covered share
    of the face box. ``frame`` (H, W[, 3]) uint8, ``landmarks`` (68, 2). Faces only where allowed.
    """
    fig, axes = _grid(len(conditions), cols)
    for ax, condition in zip(axes, conditions, strict=True):
        spec = occ.OcclusionSpec.from_condition(condition, seed=seed)
        outs, covs = spec.apply_clip([frame], [landmarks], clip, return_covered=True)
        share = occ.covered_fraction(covs[0], landmarks)
        _draw(ax, outs[0], landmarks, covs[0], f"{spec.label}\nbox covered {100 * share:.1f} %")
    fig.suptitle("The 13 conditions of RRRN Tables III-IV (dashed: landmark face box; "
                 "red x: hidden landmarks)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def design_figure(
    frame: np.ndarray,
    landmarks: np.ndarray,
    kind: str,
    *,
    seed: int = 0,
    cols: int = 6,
) -> plt.Figure:
    """Each procedural design of ``kind`` ("mask" | "glass") on one face, titled by its name."""
    names = occ.design_names(kind)
    fig, axes = _grid(len(names), cols)
    for ax, (index, name) in zip(axes, enumerate(names), strict=True):
        spec = occ.OcclusionSpec(kind, seed=seed, design=index)
        outs, covs = spec.apply_clip([frame], [landmarks], "design", return_covered=True)
        _draw(ax, outs[0], landmarks, covs[0], f"{index}: {name}")
    fig.suptitle(f"{len(names)} procedural {kind} designs (colours and textures are drawn per "
                 "clip from the seed)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def tracking_figure(
    frames: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    conditions: Sequence[str] = ("mask", "glass", "block-0.30"),
    seed: int = 0,
    clip: str = "template",
    zoom: bool = True,
) -> plt.Figure:
    """One occluder per condition (row) placed on every frame (column) of one clip.

    Each row is one :meth:`~merkit.preprocess.occlusion.OcclusionSpec.apply_clip` call, so the
    design, colour and block offset from the nose tip stay fixed while the placement follows each
    frame's landmarks. ``frames``: T arrays (H, W[, 3]) uint8; ``landmarks``: T arrays (68, 2).
    """
    if not (len(frames) == len(landmarks) == len(titles)) or not frames:
        raise ValueError(
            f"tracking_figure needs as many frames, landmarks and titles (got {len(frames)}, "
            f"{len(landmarks)}, {len(titles)}), at least one"
        )
    fig, axes = plt.subplots(len(conditions), len(frames),
                             figsize=(2.3 * len(frames), 2.5 * len(conditions)), squeeze=False)  # fmt: skip
    for i, condition in enumerate(conditions):
        spec = occ.OcclusionSpec.from_condition(condition, seed=seed)
        outs, covs = spec.apply_clip(list(frames), list(landmarks), clip, return_covered=True)
        for j, (out, cov) in enumerate(zip(outs, covs, strict=True)):
            share = occ.covered_fraction(cov, landmarks[j])
            title = f"{titles[j]}\n" if i == 0 else ""
            _draw(axes[i, j], out, landmarks[j], cov,
                  f"{title}{spec.label}: {100 * share:.1f} % of box", zoom=zoom)  # fmt: skip
    fig.tight_layout()
    return fig


def coverage_figure(table: pd.DataFrame) -> plt.Figure:
    """Left: measured vs requested covered share for the blocks (mean, min-max bars) with the
    identity line and the mask / glass means as reference lines. Right: the error in percentage
    points with the mean rounding bound. ``table`` from :func:`coverage_table`.
    """
    blocks = table[table["condition"].str.startswith("block-")].sort_values("requested")
    if blocks.empty:
        raise ValueError("coverage_figure needs the block conditions in the table")
    r = blocks["requested"].to_numpy()
    mean = blocks["measured_mean"].to_numpy()
    lo, hi = blocks["measured_min"].to_numpy(), blocks["measured_max"].to_numpy()
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.plot([0, 0.55], [0, 0.55], color="grey", lw=1, ls="--", label="measured = requested")
    ax.errorbar(r, mean, yerr=[mean - lo, hi - mean], fmt="o", ms=4, capsize=3,
                label=f"blocks (mean, min-max over {int(blocks['n'].iloc[0])})")  # fmt: skip
    for condition, colour in (("mask", "tab:green"), ("glass", "tab:purple")):
        row = table[table["condition"] == condition]
        if not row.empty:
            value = float(row["measured_mean"].iloc[0])
            ax.axhline(value, color=colour, lw=1, ls=":",
                       label=f"{row['label'].iloc[0]} (mean {100 * value:.0f} % of the box)")  # fmt: skip
    ax.set_xlabel("requested r (share of the landmark face box)")
    ax.set_ylabel("measured covered share")
    ax.set_xlim(0, 0.55)
    ax.set_ylim(0, max(0.6, float(np.nanmax(table["measured_max"])) + 0.05))
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Random blocks: measured vs requested", fontsize=9)
    err = 100 * (mean - r)
    ax_err.errorbar(r, err, yerr=[100 * (mean - lo), 100 * (hi - mean)], fmt="o", ms=4,
                    capsize=3, label="measured - requested (mean, min-max)")  # fmt: skip
    ax_err.axhline(0, color="grey", lw=1)
    bound = 100 * blocks["rounding_bound"].to_numpy()
    ax_err.fill_between(r, -bound, bound, color="tab:orange", alpha=0.15, step="mid",
                        label="rounding bound 1 / (2 x box height), smallest face")  # fmt: skip
    ax_err.set_xlabel("requested r")
    ax_err.set_ylabel("error (percentage points)")
    ax_err.set_title("Block coverage error (rounding to whole pixels)", fontsize=9)
    top = max(float(bound.max()), float(100 * np.max(np.abs(np.r_[lo - r, hi - r]))))
    ax_err.set_ylim(-1.15 * top, 1.8 * top)
    ax_err.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def region_figure(regions: pd.DataFrame) -> plt.Figure:
    """Heat map condition x region of the share of landmarks hidden (:func:`covered_by_region`)."""
    wide = regions.pivot_table(index="condition", columns="region", values="hidden_fraction",
                               sort=False)  # fmt: skip
    wide = wide.reindex(index=_ordered(regions), columns=[r for r in REGIONS if r in wide.columns])
    labels: Mapping[str, str] = dict(zip(regions["condition"], regions["label"], strict=True))
    return figures.matrix_heatmap(
        wide.to_numpy(),
        [labels[c] for c in wide.index],
        col_labels=list(wide.columns),
        title="share of landmarks hidden",
        cmap="Reds",
    )
