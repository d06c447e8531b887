"""Reusable layers: the graph convolution of MER-auGCN Eq. 4 (also used by RRRN's RR module).

One GCN layer (Kipf & Welling; MER-auGCN Eq. 4) is ``Z' = sigma(G Z W)``. :class:`GraphConv`
computes the linear part ``G Z W (+ b)``; the caller applies the activation, so the layer can
serve both papers (MER-auGCN uses ReLU after each of its two layers).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GraphConv(nn.Module):
    """Graph convolution without activation: ``adj @ x @ W (+ bias)`` (MER-auGCN Eq. 4).

    **Shapes**
    ``x: (K, d_in)`` or ``(B, K, d_in)``; ``adj: (K, K)`` (one graph for the batch) or
    ``(B, K, K)`` (one graph per sample, e.g. RRRN's learned relations)
    -> ``(K, d_out)`` if both are unbatched, else ``(B, K, d_out)``.

    ``x @ W`` is computed first and then multiplied by ``adj``: the same product
    ``(adj @ x) @ W`` by associativity, cheaper when ``d_out < d_in``. The bias (if any) is
    added after the aggregation, once per node. Eq. 4 has no bias term; MER-auGCN passes
    ``bias=False`` by default (see ``MERAuGCNConfig.gcn_bias``).

    Weights use Glorot-uniform initialisation (as in Kipf & Welling's GCN); the bias starts
    at zero.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        if in_dim <= 0 or out_dim <= 0:
            raise ValueError(
                f"GraphConv dims must be positive, got in_dim={in_dim}, out_dim={out_dim}"
            )
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = math.sqrt(6.0 / (self.in_dim + self.out_dim))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (2, 3) or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"GraphConv expects x of shape (K, {self.in_dim}) or (B, K, {self.in_dim}); "
                f"got {tuple(x.shape)}"
            )
        k = x.shape[-2]
        if adj.dim() not in (2, 3) or adj.shape[-2:] != (k, k):
            raise ValueError(
                f"GraphConv expects adj of shape ({k}, {k}) or (B, {k}, {k}) for K={k} nodes; "
                f"got {tuple(adj.shape)}"
            )
        if adj.dim() == 3 and x.dim() == 3 and adj.shape[0] != x.shape[0]:
            raise ValueError(f"batched adj has batch {adj.shape[0]} but x has batch {x.shape[0]}")
        support = x @ self.weight  # (..., K, d_out)
        out = adj @ support  # broadcasts (K,K)@(B,K,d) and (B,K,K)@(K,d)
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, bias={self.bias is not None}"
