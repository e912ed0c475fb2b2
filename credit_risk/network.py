"""The credit-risk network, built from a model_config_NNN.yaml architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.nn.utils.fusion import fuse_linear_bn_eval

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


class ModelConfig(BaseModel):
    """Architecture and training hyper-parameters (the original service's config format)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_layers: list[int] = Field(min_length=1)
    activation_functions: list[str]
    dropout_rate: float = Field(ge=0, lt=1)
    learning_rate: float = Field(gt=0)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    optimizer: Literal["adamw", "adam"] = Field(
        default="adamw",
        description="adamw: decoupled weight decay; adam: weight_decay as an L2 penalty "
        "(weight_decay * w added to every gradient)",
    )
    label_smoothing: float = Field(
        default=0.0, ge=0, lt=0.5, description="Train on targets y(1 - s) + s / 2"
    )
    weight_averaging: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="If > 0, the decay of an exponential moving average of the weights "
        "(and BatchNorm statistics) per step; the average is validated and kept",
    )
    early_stopping: bool = Field(
        default=True, description="Keep the weights of the epoch with the best validation loss"
    )
    early_stopping_patience: int = Field(default=20, gt=0)
    refit: bool = Field(
        default=True,
        description="With early stopping: then train anew on the training and validation "
        "rows for the best epoch count (calibration and threshold stay fitted on the "
        "early-stopped network's validation predictions)",
    )
    balance_classes: bool = Field(
        default=False, description="Weight the loss so both classes count equally"
    )

    @model_validator(mode="after")
    def _one_activation_per_layer(self) -> ModelConfig:
        if len(self.activation_functions) != len(self.hidden_layers):
            raise ValueError("activation_functions needs one entry per hidden layer")
        unknown = set(self.activation_functions) - set(ACTIVATIONS)
        if unknown:
            raise ValueError(
                f"unknown activation functions {sorted(unknown)}; known: {sorted(ACTIVATIONS)}"
            )
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> ModelConfig:
        return cls.model_validate(yaml.safe_load(path.read_text()))

    def to_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.model_dump(), sort_keys=False))


def build_network(config: ModelConfig, input_dim: int) -> nn.Sequential:
    """Blocks of Linear → BatchNorm1d → activation → Dropout, then Linear to one logit."""
    layers: list[nn.Module] = []
    width = input_dim
    for size, activation in zip(config.hidden_layers, config.activation_functions, strict=True):
        layers += [
            nn.Linear(width, size),
            nn.BatchNorm1d(size),
            ACTIVATIONS[activation](),
            nn.Dropout(config.dropout_rate),
        ]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def fuse_for_inference(network: nn.Sequential) -> nn.Sequential:
    """The same function as `network` in eval mode, faster: each BatchNorm folded into the
    Linear before it and Dropout (the identity in eval mode) removed. ~4x at batch 4096."""
    layers = list(network.eval())
    fused: list[nn.Module] = []
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.BatchNorm1d | nn.Dropout):
            continue
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, nn.Linear) and isinstance(following, nn.BatchNorm1d):
            layer = fuse_linear_bn_eval(layer, following)
        fused.append(layer)
    return nn.Sequential(*fused).eval()
