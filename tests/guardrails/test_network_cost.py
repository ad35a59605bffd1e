"""The counted network cost (`guardrails.network_cost`) equals what PyTorch measures on the
network `engine.models.build_model` really builds: its parameters, FLOPs by PyTorch's FLOP
counter, and the bytes autograd saves for the backward pass, per row, on "meta"."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mlpilot.engine.config import ModelConfig
from mlpilot.engine.models import build_model
from mlpilot.guardrails.network_cost import network_cost

FAMILIES = [
    {"family": "linear"},
    {"family": "mlp"},
    {"family": "mlp", "hidden_sizes": []},
    {"family": "mlp", "hidden_sizes": [40, 0, 7], "dropout": 0.0},
    {"family": "mlp", "batch_norm": True, "dropout": 0.0, "activation": "gelu"},
    {"family": "resnet"},
    {"family": "resnet", "batch_norm": True, "residual_dropout": 0.2, "activation": "silu",
     "n_blocks": 3, "d_block": 24, "d_hidden_factor": 1.5},
    {"family": "ft_transformer"},
    {"family": "ft_transformer", "attention_dropout": 0.0, "ffn_dropout": 0.0,
     "residual_dropout": 0.1, "activation": "gelu", "n_heads": 8, "d_token": 64},
    {"family": "ft_transformer", "activation": "silu", "n_layers": 1, "d_token": 12,
     "n_heads": 3, "ffn_factor": 1.3},
]
#: (numeric inputs, cardinalities of the code columns): one-hot only, mixed, codes only.
INPUTS = [(7, ()), (4, (3, 5, 11)), (0, (4,))]


def _measured(model: ModelConfig, n_numeric: int, cards: tuple[int, ...],
              n_outputs: int) -> tuple[int, float, float]:
    """(parameters, FLOPs per row, saved bytes per row) of the built network, traced on
    "meta" at two batch sizes so that whatever is per batch cancels out."""
    width = n_numeric + len(cards)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        net = build_model(model, width, n_outputs, categorical_cardinalities=cards)
    net.train()
    costs = []
    for rows in (8, 16):
        saved = 0

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            saved += tensor.numel() * tensor.element_size()
            return tensor

        with FlopCounterMode(display=False) as flops, \
                torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            net(torch.zeros((rows, width), device="meta"))
        costs.append((flops.get_total_flops(), saved))
    (flops8, saved8), (flops16, saved16) = costs
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return params, (flops16 - flops8) / 8, (saved16 - saved8) / 8


@pytest.mark.parametrize("inputs", INPUTS, ids=str)
@pytest.mark.parametrize("fields", FAMILIES, ids=lambda f: "-".join(map(str, f.values())))
def test_the_count_matches_the_built_network(fields, inputs):
    model, (n_numeric, cards) = ModelConfig(**fields), inputs
    params, flops, saved = _measured(model, n_numeric, cards, 3)
    cost = network_cost(model, n_numeric, cards, 3)
    assert cost.n_parameters == params
    assert cost.flops_per_row == pytest.approx(flops, rel=0.02)
    assert cost.activation_bytes_per_row == pytest.approx(saved, rel=0.05)


def test_attention_grows_with_the_square_of_the_columns():
    model = ModelConfig(family="ft_transformer")
    few, many = (network_cost(model, n, (), 2) for n in (10, 100))
    # the linear layers grow 10x with the tokens, attention's scores 100x
    assert many.flops_per_row > 15 * few.flops_per_row
    assert many.activation_bytes_per_row > 15 * few.activation_bytes_per_row
    assert many.n_parameters < 2 * few.n_parameters


def test_what_build_model_refuses_is_refused():
    with pytest.raises(ValueError, match="multiple of"):
        network_cost(ModelConfig(family="ft_transformer", d_token=30, n_heads=4), 3, (), 2)
    with pytest.raises(ValueError, match="not a network"):
        network_cost(ModelConfig(family="hist_gbt"), 3, (), 2)


def test_the_resource_checks_import_no_torch():
    code = ("import sys\nimport mlpilot.guardrails.resources\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "False"
