"""The model zoo for tabular inputs: a linear model (`nn.Linear`) or an MLP (`nn.Sequential`)."""

from __future__ import annotations

from torch import nn

from .config import ModelConfig

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def build_model(config: ModelConfig, n_inputs: int, n_outputs: int) -> nn.Module:
    """Build the network `config` describes for `n_inputs` features and `n_outputs` outputs.

    "linear" (or an MLP without hidden layers) is one `nn.Linear`. "mlp" stacks
    [Linear, BatchNorm1d (if batch_norm), activation, Dropout (if dropout > 0)] per
    hidden size, then a Linear to `n_outputs`.
    Classification uses one output per class (two for binary); regression uses one.
    """
    if config.family == "linear" or not config.hidden_sizes:
        return nn.Linear(n_inputs, n_outputs)
    layers: list[nn.Module] = []
    width = n_inputs
    for size in config.hidden_sizes:
        layers.append(nn.Linear(width, size))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(_ACTIVATIONS[config.activation]())
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters in `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
