"""AU knowledge graphs of MER-auGCN (Sec. III-A, Fig. 3) as networkx graphs and tensors.

* ``"original"``: the 17 AUs of Table I; an edge joins two AUs that appear together in one
  Table I combination (Fig. 3a).
* ``"final"``: the original graph without AU23, 24, 26, 38 and 40, which one of the two HDE
  training sets never shows (12 nodes, Fig. 3b). This is the graph MER-auGCN uses.
* ``"dense"``: the complete graph on the final 12 AUs (the DenselyG. ablation, Table V).

Nodes are AU numbers (int). Self-loops are not stored in the graphs (the paper's figure omits
them too); :func:`adjacency` adds them, because the paper connects every node to itself.

Optional data-driven edges (:func:`cooccurrence_edges`) add pairs that co-occur in training
clips; they are off by default because the paper's graph is built from Table I alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Literal

import networkx as nx
import torch

from merkit.facs import FINAL_AUS, TABLE_I, TABLE_I_AUS

GraphKind = Literal["original", "final", "dense"]
Normalize = Literal["none", "sym", "row"]
GRAPH_KINDS: tuple[str, ...] = ("original", "final", "dense")


def au_graph(
    kind: GraphKind = "final",
    *,
    extra_edges: Iterable[tuple[int, int]] = (),
) -> nx.Graph:
    """The AU knowledge graph of the given kind (see module docstring).

    ``extra_edges`` (e.g. from :func:`cooccurrence_edges`) are added between AUs that are
    already nodes; edges touching other AUs are ignored, as are self-pairs.
    """
    graph = nx.Graph(kind=kind)
    if kind == "dense":
        graph.add_nodes_from(FINAL_AUS)
        graph.add_edges_from(itertools.combinations(FINAL_AUS, 2))
    elif kind in ("original", "final"):
        keep = set(TABLE_I_AUS if kind == "original" else FINAL_AUS)
        graph.add_nodes_from(sorted(keep))
        for cls, combos in TABLE_I.items():
            for combo in combos:
                kept = [au for au in combo if au in keep]
                for a, b in itertools.combinations(kept, 2):
                    graph.add_edge(a, b)
                    graph.edges[a, b].setdefault("classes", set()).add(cls)
    else:
        raise ValueError(f"unknown graph kind {kind!r}; choose one of {GRAPH_KINDS}")
    for a, b in extra_edges:
        if a != b and a in graph and b in graph and not graph.has_edge(a, b):
            graph.add_edge(a, b, data_driven=True)
    return graph


def nodes(graph: nx.Graph) -> tuple[int, ...]:
    """Node order used by :func:`adjacency` and the models: ascending AU number."""
    return tuple(sorted(graph.nodes))


def adjacency(
    graph: nx.Graph,
    self_loops: bool = True,
    normalize: Normalize = "none",
) -> torch.Tensor:
    """Adjacency matrix G (K, K), float32, rows/columns in ascending AU order.

    ``normalize``:
    * ``"none"``: the binary G of Eq. 4 as the paper writes it (G_ij = 1 for an edge or i = j).
    * ``"sym"``: D^-1/2 G D^-1/2 (Kipf & Welling), with D the row sums of G.
    * ``"row"``: D^-1 G (mean aggregation).
    The paper does not say whether G is normalised; MER-auGCN's default config uses
    ``"none"`` (Eq. 4 verbatim) and keeps ``"sym"`` one flag away.
    """
    order = nodes(graph)
    index = {au: i for i, au in enumerate(order)}
    k = len(order)
    adj = torch.zeros(k, k, dtype=torch.float32)
    for a, b in graph.edges:
        if a == b:
            continue
        adj[index[a], index[b]] = 1.0
        adj[index[b], index[a]] = 1.0
    if self_loops:
        adj += torch.eye(k)
    if normalize == "none":
        return adj
    degree = adj.sum(dim=1)
    inv = torch.where(degree > 0, degree.reciprocal(), torch.zeros_like(degree))
    if normalize == "row":
        return inv[:, None] * adj
    if normalize == "sym":
        root = inv.sqrt()
        return root[:, None] * adj * root[None, :]
    raise ValueError(f"unknown normalize {normalize!r}; choose 'none', 'sym' or 'row'")


def cooccurrence_edges(
    au_sets: Iterable[Sequence[int]],
    *,
    min_count: int = 2,
) -> list[tuple[int, int]]:
    """AU pairs that co-occur in at least ``min_count`` clips (pass TRAINING clips only).

    Used for the optional data-driven graph (off by default): ``au_graph("final",
    extra_edges=cooccurrence_edges(train_df.aus))``.
    """
    counts: dict[tuple[int, int], int] = {}
    for aus in au_sets:
        for a, b in itertools.combinations(sorted(set(aus)), 2):
            counts[(a, b)] = counts.get((a, b), 0) + 1
    return sorted(pair for pair, n in counts.items() if n >= min_count)


def edge_table(graph: nx.Graph) -> list[dict[str, object]]:
    """The edge list as rows (``au_a``, ``au_b``, ``classes``) for notebooks and reports."""
    rows = []
    for a, b, data in sorted(graph.edges(data=True), key=lambda e: (min(e[:2]), max(e[:2]))):
        lo, hi = min(a, b), max(a, b)
        classes = sorted(data.get("classes", ()))
        rows.append({"au_a": lo, "au_b": hi, "classes": classes, "data_driven": bool(data.get("data_driven"))})
    return rows


def edge_lists(graphs: dict[str, nx.Graph]):  # -> pandas.DataFrame
    """Edge lists of several graphs in one table (columns graph, au_a, au_b, classes, ...)."""
    import pandas as pd

    rows = [{"graph": name} | row for name, g in graphs.items() for row in edge_table(g)]
    frame = pd.DataFrame(rows)
    frame["classes"] = frame["classes"].map(lambda cs: "+".join(map(str, cs)))
    return frame
