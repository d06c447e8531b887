"""Figures shared by the notebooks (matplotlib; no face frames here unless the caller passes them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
        hi = np.nanmax(matrix) if matrix.size else 1.0
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * hi else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
