"""What a network of `engine.models` costs, counted layer by layer without building it.

Planning checks every config's size, memory and time (`guardrails.resources`). Building
the network and tracing it (PyTorch's FLOP counter on the "meta" device) would import
much of PyTorch's compiler stack on every plan, so this module counts instead, from the
same `ModelConfig` that `engine.models.build_model` reads, mirroring its layers:

- parameters: weights and biases of every Linear, norm, embedding table and token;
- FLOPs per row, as PyTorch's FLOP counter counts them: 2 x inputs x outputs per Linear
  per token, 4 x tokens^2 x d_token per attention (scores and weighted sum), nothing for
  element-wise work;
- bytes autograd saves per row for the backward pass (float32): a Linear keeps its input,
  an activation or a dropout (p > 0) one value per element, a norm its input (a LayerNorm
  also a mean and an inverse deviation per token), an embedding its int64 codes, and
  attention what PyTorch's reference ("math") attention keeps: queries, keys, values, and
  per head the tokens x tokens scores, their softmax and the attention-dropout mask.

`tests/guardrails/test_network_cost.py` checks these counts against the built network
and PyTorch's FLOP counter for every family.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.config import TREE_FAMILIES, ModelConfig

#: Bytes of a float32 value and of an int64 code.
_F32, _I64 = 4, 8


@dataclass(frozen=True)
class NetworkCost:
    """What one network costs: parameters, and per row, forward FLOPs and the bytes of
    activations autograd keeps for the backward pass (float32)."""

    n_parameters: int
    flops_per_row: float
    activation_bytes_per_row: float


class _Tally:
    """Running totals while walking the layers of one network (per row of input)."""

    def __init__(self) -> None:
        self.params = 0
        self.flops = 0.0
        self.saved = 0.0

    def linear(self, n_in: int, n_out: int, tokens: int = 1) -> None:
        self.params += n_in * n_out + n_out
        self.flops += 2.0 * n_in * n_out * tokens
        self.saved += _F32 * n_in * tokens

    def activation(self, width: int, tokens: int = 1) -> None:
        self.saved += _F32 * width * tokens

    def dropout(self, p: float, width: int, tokens: int = 1) -> None:
        if p > 0:  # p == 0 returns its input untouched: nothing saved
            self.saved += _F32 * width * tokens

    def norm(self, batch_norm: bool, width: int, tokens: int = 1) -> None:
        self.params += 2 * width
        # batch norm's statistics are per feature, layer norm's per token
        self.saved += _F32 * (width + (0 if batch_norm else 2)) * tokens

    def embedding(self, cardinalities: tuple[int, ...], d: int) -> None:
        self.params += max(1, sum(cardinalities)) * d
        self.saved += _I64 * len(cardinalities)


def network_cost(model: ModelConfig, n_numeric: int, cardinalities: tuple[int, ...],
                 n_outputs: int) -> NetworkCost:
    """Count the network `engine.models.build_model` makes for `model`, `n_numeric`
    numeric inputs and code columns of these `cardinalities`.

    Raises ValueError when `build_model` would refuse the config (a family that is no
    network, or a token width that is not a multiple of the attention heads).
    """
    cards = tuple(int(c) for c in cardinalities)
    if model.family in TREE_FAMILIES:
        raise ValueError(f"family {model.family!r} is not a network")
    tally = _Tally()
    if model.family == "ft_transformer":
        _ft_transformer(tally, model, n_numeric, cards, n_outputs)
    else:
        width = n_numeric + len(cards)
        if cards:
            tally.embedding(cards, model.d_embedding)
            width = n_numeric + len(cards) * model.d_embedding
        if model.family == "resnet":
            _resnet(tally, model, width, n_outputs)
        else:
            _mlp(tally, model, width, n_outputs)
    return NetworkCost(tally.params, tally.flops, tally.saved)


def _mlp(tally: _Tally, model: ModelConfig, width: int, n_outputs: int) -> None:
    if model.family == "mlp":
        for size in model.hidden_sizes:
            tally.linear(width, size)
            if model.batch_norm:
                tally.norm(True, size)
            tally.activation(size)
            tally.dropout(model.dropout, size)
            width = size
    tally.linear(width, n_outputs)


def _resnet(tally: _Tally, model: ModelConfig, width: int, n_outputs: int) -> None:
    d, d_hidden = model.d_block, max(1, round(model.d_block * model.d_hidden_factor))
    tally.linear(width, d)
    for _ in range(model.n_blocks):
        tally.norm(model.batch_norm, d)
        tally.linear(d, d_hidden)
        tally.activation(d_hidden)
        tally.dropout(model.dropout, d_hidden)
        tally.linear(d_hidden, d)
        tally.dropout(model.residual_dropout, d)
    tally.norm(model.batch_norm, d)
    tally.activation(d)
    tally.linear(d, n_outputs)


def _ft_transformer(tally: _Tally, model: ModelConfig, n_numeric: int,
                    cards: tuple[int, ...], n_outputs: int) -> None:
    d, heads = model.d_token, model.n_heads
    if d % heads:
        raise ValueError(f"model.d_token ({d}) must be a multiple of model.n_heads ({heads})")
    n_tokens = n_numeric + len(cards)
    s = n_tokens + 1  # the [CLS] token
    # tokenizer: numeric weights, a bias per token, the [CLS] token; x * w keeps x
    tally.params += n_numeric * d + n_tokens * d + d
    tally.saved += _F32 * n_numeric
    if cards:
        tally.embedding(cards, d)
    d_ffn = max(1, round(d * model.ffn_factor))
    for _ in range(model.n_layers):
        tally.norm(False, d, s)
        tally.linear(d, 3 * d, s)  # queries, keys and values in one projection
        tally.flops += 4.0 * s * s * d
        # PyTorch's reference attention keeps q, k, v, the scores, their softmax and,
        # with attention dropout, its mask: the s^2 terms dominate with many columns
        maps = 2 + (1 if model.attention_dropout > 0 else 0)
        tally.saved += _F32 * (3 * s * d + maps * heads * s * s)
        tally.linear(d, d, s)
        tally.dropout(model.residual_dropout, d, s)
        tally.norm(False, d, s)
        tally.linear(d, d_ffn, s)
        tally.activation(d_ffn, s)
        tally.dropout(model.ffn_dropout, d_ffn, s)
        tally.linear(d_ffn, d, s)
        tally.dropout(model.residual_dropout, d, s)
    tally.norm(False, d)
    tally.activation(d)
    tally.linear(d, n_outputs)
