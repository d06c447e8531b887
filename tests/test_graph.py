import itertools

import networkx as nx
import pytest
import torch

from merkit import facs, graph


def _edges_by_hand(aus):
    keep = set(aus)
    edges = set()
    for combos in facs.TABLE_I.values():
        for combo in combos:
            for a, b in itertools.combinations([x for x in combo if x in keep], 2):
                edges.add((min(a, b), max(a, b)))
    return edges


def test_original_graph_is_table_i():
    g = graph.au_graph("original")
    assert graph.nodes(g) == facs.TABLE_I_AUS
    assert {(min(e), max(e)) for e in g.edges} == _edges_by_hand(facs.TABLE_I_AUS)
    assert g.number_of_edges() == 26  # counted by hand from Table I


def test_final_graph_drops_five_aus():
    g = graph.au_graph("final")
    assert g.number_of_nodes() == 12
    assert not set(g.nodes) & {23, 24, 26, 38, 40}
    assert {(min(e), max(e)) for e in g.edges} == _edges_by_hand(facs.FINAL_AUS)
    assert g.number_of_edges() == 20
    assert g.has_edge(1, 2) and g.has_edge(4, 9) and not g.has_edge(1, 12)


def test_dense_graph_complete():
    g = graph.au_graph("dense")
    assert nx.density(g) == 1.0 and g.number_of_nodes() == 12


def test_adjacency_binary_with_self_loops():
    g = graph.au_graph("final")
    adj = graph.adjacency(g)
    order = graph.nodes(g)
    assert adj.shape == (12, 12) and adj.dtype == torch.float32
    assert torch.equal(adj, adj.T)
    assert torch.all(torch.diag(adj) == 1)
    i, j = order.index(4), order.index(9)
    assert adj[i, j] == 1 and adj[order.index(1), order.index(12)] == 0
    assert adj.sum() == 12 + 2 * 20
    assert torch.all(torch.diag(graph.adjacency(g, self_loops=False)) == 0)


def test_adjacency_normalisations_by_hand():
    g = nx.Graph()
    g.add_nodes_from([1, 2, 4])
    g.add_edge(1, 2)
    sym = graph.adjacency(g, normalize="sym")
    # A+I = [[1,1,0],[1,1,0],[0,0,1]], degrees (2,2,1)
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(sym, expected)
    row = graph.adjacency(g, normalize="row")
    assert torch.allclose(row.sum(dim=1), torch.ones(3))
    with pytest.raises(ValueError):
        graph.adjacency(g, normalize="bogus")


def test_data_driven_edges_off_by_default_and_restricted():
    base = graph.au_graph("final")
    pairs = graph.cooccurrence_edges([(1, 12), (1, 12), (12, 14), (12, 14)], min_count=2)
    assert pairs == [(1, 12), (12, 14)]
    g = graph.au_graph("final", extra_edges=pairs)
    assert g.has_edge(1, 12) and not base.has_edge(1, 12)
    assert 14 not in g  # AU14 is not a node of the final graph
    with pytest.raises(ValueError):
        graph.au_graph("bogus")
