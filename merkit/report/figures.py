"""Figures shared by the notebooks (matplotlib; no face frames here unless the caller passes them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from merkit.facs import REMOVED_AUS


def draw_au_graphs(graphs: Mapping[str, nx.Graph], *, seed: int = 0) -> plt.Figure:
    """Draw AU knowledge graphs side by side (Fig. 3 of MER-auGCN); self-loops not drawn.

    Nodes share one circular layout over the union of all nodes, so a node removed between
    the original and final graphs leaves a visible gap; removed AUs are drawn in grey.
    """
    union = sorted(set().union(*(g.nodes for g in graphs.values())))
    angles = np.linspace(0, 2 * np.pi, len(union), endpoint=False)
    pos = {au: (np.cos(a), np.sin(a)) for au, a in zip(union, angles, strict=True)}
    fig, axes = plt.subplots(1, len(graphs), figsize=(5.5 * len(graphs), 5.5))
    axes = np.atleast_1d(axes)
    for ax, (title, graph) in zip(axes, graphs.items(), strict=True):
        colours = ["#bbbbbb" if au in REMOVED_AUS else "#4c9be8" for au in graph.nodes]
        nx.draw_networkx_edges(graph, pos, ax=ax, alpha=0.6)
        nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colours, node_size=650)
        nx.draw_networkx_labels(graph, pos, {au: f"AU{au}" for au in graph.nodes}, ax=ax, font_size=8)
        ax.set_title(f"{title}: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")
        ax.set_axis_off()
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def matrix_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str = "",
    fmt: str = "{:.2f}",
    cmap: str = "Blues",
    col_labels: Sequence[str] | None = None,
) -> plt.Figure:
    """A labelled heat map (adjacency matrices, confusion matrices, attention weights)."""
    matrix = np.asarray(matrix, dtype=float)
    cols = list(col_labels) if col_labels is not None else list(labels)
    fig, ax = plt.subplots(figsize=(0.45 * len(cols) + 2.5, 0.45 * len(labels) + 1.5))
    im = ax.imshow(matrix, cmap=cmap)
    ax.set_xticks(range(len(cols)), cols, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    if matrix.size <= 400:
        lo, hi = (np.nanmin(matrix), np.nanmax(matrix)) if matrix.size else (0.0, 1.0)
        span = (hi - lo) or 1.0
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                    color="white" if (v - lo) / span > 0.6 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-wheel picture of a flow: hue = direction, value = magnitude.

    ``flow``: (2, H, W) or (H, W, 2) -> (H, W, 3) uint8 RGB. ``max_magnitude`` fixes the scale
    (so several flows share one); by default the 99th percentile of this flow's magnitude.
    """
    import cv2

    f = np.asarray(flow, dtype=np.float32)
    if f.ndim == 3 and f.shape[0] == 2:
        f = np.moveaxis(f, 0, -1)
    if f.ndim != 3 or f.shape[-1] != 2:
        raise ValueError(f"flow must be (2, H, W) or (H, W, 2), got {np.shape(flow)}")
    magnitude, angle = cv2.cartToPolar(f[..., 0], f[..., 1], angleInDegrees=True)
    scale = max_magnitude or float(np.percentile(magnitude, 99)) or 1.0
    hsv = np.zeros((*magnitude.shape, 3), dtype=np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)  # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / scale * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def frames_with_face(
    frames: Sequence[np.ndarray],
    titles: Sequence[str],
    box: tuple[int, int, int, int] | None = None,
    landmarks: Sequence[np.ndarray | None] | None = None,
) -> plt.Figure:
    """Frames side by side with the crop box (top, right, bottom, left) and 68 landmarks.

    Only call this with frames that may be shown (synthetic data, or an explicit opt-in).
    """
    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 * len(frames), 3.4))
    for i, (ax, frame) in enumerate(zip(np.atleast_1d(axes), frames, strict=True)):
        ax.imshow(frame, cmap="gray" if np.ndim(frame) == 2 else None)
        if box is not None:
            top, right, bottom, left = box
            ax.add_patch(plt.Rectangle((left, top), right - left, bottom - top, fill=False, color="lime"))
        if landmarks is not None and landmarks[i] is not None:
            ax.scatter(landmarks[i][:, 0], landmarks[i][:, 1], s=4, c="red")
        ax.set_title(titles[i])
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def flow_panels(
    flows: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    components: bool = True,
) -> plt.Figure:
    """One column per flow: u, v (if ``components``) and the colour-wheel picture.

    ``flows``: each (2, H, W). The colour pictures share one magnitude scale.
    """
    scale = max(float(np.percentile(np.hypot(f[0], f[1]), 99)) for f in flows) or 1.0
    rows = 3 if components else 1
    fig, axes = plt.subplots(rows, len(flows), figsize=(2.0 * len(flows), 2.1 * rows), squeeze=False)
    for j, (flow, title) in enumerate(zip(flows, titles, strict=True)):
        if components:
            lim = float(np.abs(flow).max()) or 1.0
            for i, name in enumerate(("u", "v")):
                axes[i, j].imshow(flow[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
                axes[i, j].set_title(f"{title}\n{name}" if i == 0 else name, fontsize=8)
        axes[-1, j].imshow(flow_to_rgb(flow, scale))
        if not components:
            axes[-1, j].set_title(title, fontsize=8)
        for ax in axes[:, j]:
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def flow_grid(
    flows: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
) -> plt.Figure:
    """A grid of colour-wheel flow pictures, e.g. the 10 apex positions x 7 angles.

    ``flows``: (R, C, 2, H, W), one shared magnitude scale.
    """
    r, c = flows.shape[:2]
    scale = float(np.percentile(np.hypot(flows[:, :, 0], flows[:, :, 1]), 99)) or 1.0
    fig, axes = plt.subplots(r, c, figsize=(1.1 * c + 1, 1.1 * r + 0.6), squeeze=False)
    for i in range(r):
        for j in range(c):
            ax = axes[i, j]
            ax.imshow(flow_to_rgb(flows[i, j], scale))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=8)
    fig.tight_layout()
    return fig


def confusion_grid(
    matrices: Mapping[str, np.ndarray],
    labels: Sequence[str],
    *,
    normalise: bool = True,
) -> plt.Figure:
    """Confusion matrices side by side (rows = truth, columns = prediction).

    ``normalise``: each row divided by its count (recall per class), annotated with counts.
    """
    n = len(matrices)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows), squeeze=False)
    for ax, (title, m) in zip(axes.flat, matrices.items(), strict=False):
        m = np.asarray(m, dtype=float)
        shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalise else m
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else None)
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def training_curves(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    keys: Sequence[str] = ("loss", "ce", "detc"),
) -> plt.Figure:
    """Per-epoch training losses, one panel per loss term, one line per run."""
    present = [k for k in keys if any(k in e for h in histories.values() for e in h)]
    fig, axes = plt.subplots(1, max(len(present), 1), figsize=(4.2 * max(len(present), 1), 3.2), squeeze=False)
    for ax, key in zip(axes.flat, present, strict=False):
        for label, history in histories.items():
            epochs = [e["epoch"] for e in history if key in e]
            if epochs:
                ax.plot(epochs, [e[key] for e in history if key in e], marker=".", label=label)
        ax.set_title(key)
        ax.set_xlabel("epoch")
    if present:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def robustness_curves(
    table: Any,
    *,
    x: str = "condition",
    order: Sequence[str] | None = None,
    metric_col: str = "metric",
    value: str = "ours",
) -> plt.Figure:
    """One panel per metric, one line per method, the x axis ordered by ``order``."""
    metrics = list(dict.fromkeys(table[metric_col]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        sub = table[table[metric_col] == metric]
        for method, group in sub.groupby("label", sort=False):
            xs = list(order) if order is not None else list(dict.fromkeys(group[x]))
            values = group.set_index(x)[value].reindex(xs)
            ax.plot(range(len(xs)), values.to_numpy(dtype=float), marker="o", label=str(method))
            ax.set_xticks(range(len(xs)), xs, rotation=60, fontsize=7)
        ax.set_title(metric.upper())
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
