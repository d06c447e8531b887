"""Models: Dual-Inception, ResNet18 (single and two-path), MER-auGCN, the GCN layer.

``create_model(name, **options)`` builds any registered model; ``list_models()`` lists them.
"""

from __future__ import annotations

from merkit.models.inception import DualInception, InceptionBlock
from merkit.models.layers import GraphConv
from merkit.models.mer_augcn import (
    AU_TASK_AUS,
    MERAuGCN,
    MERAuGCNConfig,
    Variant,
    graph_adjacency,
    table_variants,
    variant,
)
from merkit.models.registry import create_model, list_models, register_model
from merkit.models.resnet import BasicBlock, ResNet18, ResNet18TwoPath, resnet18

# Imported for their @register_model side effect ("vgg16", "rrrn", "resnet18_flow"); their
# public names are exported by their own modules (merkit.models.vgg, merkit.models.rrrn).
from merkit.models import vgg as _vgg  # noqa: E402,F401  isort: skip
from merkit.models import rrrn as _rrrn  # noqa: E402,F401  isort: skip

__all__ = [
    "AU_TASK_AUS",
    "BasicBlock",
    "DualInception",
    "GraphConv",
    "InceptionBlock",
    "MERAuGCN",
    "MERAuGCNConfig",
    "ResNet18",
    "ResNet18TwoPath",
    "Variant",
    "create_model",
    "graph_adjacency",
    "list_models",
    "register_model",
    "resnet18",
    "table_variants",
    "variant",
]
