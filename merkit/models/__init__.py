"""Models: Dual-Inception, ResNet18 (single and two-path), VGG16, MER-auGCN, RRRN.

One contract (timm / torchvision style): every registered model has a frozen config
dataclass, ``forward_features(x)`` and ``forward_head(features, pre_logits=False)``, and
``forward(x) = forward_head(forward_features(x))`` returns a :class:`ModelOutput`.

``create_model(name, config, input_size=..., weights=..., **fields)`` builds any registered
model (``weights``: a local file, :func:`load_pretrained`, which also maps torchvision / timm
ResNet18, VGG16 and VGG-Face checkpoints; :func:`describe_weights` names it in the reports), ``list_models()`` lists them, ``default_config(name)`` gives a model's typed default
config. Importing this package imports every model module, which registers its builders.
"""

from __future__ import annotations

from merkit.models.inception import DualInception, DualInceptionConfig, InceptionBlock
from merkit.models.layers import GraphConv
from merkit.models.mer_augcn import (
    AU_TASK_AUS,
    PAPER_INPUT_SIZE,
    MERAuGCN,
    MERAuGCNConfig,
    Variant,
    graph_adjacency,
    table_variants,
    variant,
)
from merkit.models.output import ModelOutput
from merkit.models.pretrained import LoadReport, describe_weights, load_pretrained
from merkit.models.registry import create_model, default_config, list_models, register_model
from merkit.models.resnet import (
    BasicBlock,
    ResNet18,
    ResNet18Config,
    ResNet18TwoPath,
    ResNet18TwoPathConfig,
)
from merkit.models.rrrn import RRRN, RRRNConfig
from merkit.models.vgg import VGG, VGGConfig

__all__ = [
    "AU_TASK_AUS",
    "PAPER_INPUT_SIZE",
    "RRRN",
    "VGG",
    "BasicBlock",
    "DualInception",
    "DualInceptionConfig",
    "GraphConv",
    "InceptionBlock",
    "LoadReport",
    "MERAuGCN",
    "MERAuGCNConfig",
    "ModelOutput",
    "RRRNConfig",
    "ResNet18",
    "ResNet18Config",
    "ResNet18TwoPath",
    "ResNet18TwoPathConfig",
    "VGGConfig",
    "Variant",
    "create_model",
    "default_config",
    "describe_weights",
    "graph_adjacency",
    "list_models",
    "load_pretrained",
    "register_model",
    "table_variants",
    "variant",
]
