"""The model zoo for tabular inputs: linear, MLP, ResNet-style MLP and FT-Transformer.

Every network takes the engine's float32 matrix. With `categorical_cardinalities` (from
`Preprocessor.categorical_cardinalities`, "embedding" encoding), the last
`len(categorical_cardinalities)` columns hold integer codes that the network embeds;
the columns before them are numeric. Without it every column is numeric, as for one-hot
inputs. Gradient-boosted trees ("hist_gbt") are not networks: see `engine/trees.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .config import BOOSTER_FAMILIES, ModelConfig

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
_TRANSFORMER_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "silu": nn.functional.silu}


def build_model(config: ModelConfig, n_inputs: int, n_outputs: int, *,
                categorical_cardinalities: Sequence[int] | None = None) -> nn.Module:
    """Build the network `config` describes for `n_inputs` columns and `n_outputs` outputs.

    "linear" (or an MLP without hidden layers) is one `nn.Linear`. "mlp" stacks
    [Linear, BatchNorm1d (if batch_norm), activation, Dropout (if dropout > 0)] per
    hidden size, then a Linear to `n_outputs`. "resnet" and "ft_transformer": see
    `ResNet` and `FTTransformer`. With categorical cardinalities, linear/mlp/resnet first
    replace each code column by a `d_embedding`-wide embedding.
    Classification uses one output per class (two for binary); regression uses one.

    Raises ValueError for "hist_gbt" (train it with `engine.trees.fit_trees`) or when
    there are more code columns than inputs.
    """
    cards = [int(c) for c in categorical_cardinalities or ()]
    if len(cards) > n_inputs:
        raise ValueError(
            f"{len(cards)} categorical cardinalities for {n_inputs} input columns: pass the "
            "preprocessor's categorical_cardinalities for the same matrix"
        )
    if config.family in BOOSTER_FAMILIES:
        raise ValueError(f"family {config.family!r} is not a network: train it with "
                         "engine.boosters.fit_booster")
    if config.family == "hist_gbt":
        raise ValueError("family 'hist_gbt' is not a network: train it with engine.trees.fit_trees")
    if config.family == "extra_trees":
        raise ValueError("family 'extra_trees' is not a network: train it with "
                         "engine.forests.fit_forest")
    if config.family == "glm":
        raise ValueError("family 'glm' is not a network: train it with engine.glm.fit_glm")
    if config.family == "ft_transformer":
        return FTTransformer(config, n_inputs - len(cards), cards, n_outputs)
    embed = CategoricalEmbedding(n_inputs - len(cards), cards, config.d_embedding) if cards else None
    width = embed.n_outputs if embed is not None else n_inputs
    if config.family == "resnet":
        body: nn.Module = ResNet(config, width, n_outputs)
    else:
        body = _mlp(config, width, n_outputs)
    return nn.Sequential(embed, body) if embed is not None else body


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters in `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def embeds_categories(model: nn.Module) -> bool:
    """True when `model` was built with categorical cardinalities (it embeds code columns)."""
    return any(isinstance(m, _OffsetEmbedding) for m in model.modules())


def _mlp(config: ModelConfig, n_inputs: int, n_outputs: int) -> nn.Module:
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


def _norm(config: ModelConfig, width: int) -> nn.Module:
    return nn.BatchNorm1d(width) if config.batch_norm else nn.LayerNorm(width)


class CategoricalEmbedding(nn.Module):
    """Numeric columns pass through; each trailing code column becomes a learned vector.

    Output: [numeric columns, embedding of code column 1, ..., of column k], so its width
    is `n_numeric + len(cardinalities) * d_embedding`. Codes are clamped into range.
    """

    def __init__(self, n_numeric: int, cardinalities: Sequence[int], d_embedding: int):
        super().__init__()
        self.n_numeric = n_numeric
        self.n_outputs = n_numeric + len(cardinalities) * d_embedding
        self.embeddings = _OffsetEmbedding(cardinalities, d_embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, n_numeric + k) -> (rows, n_outputs)."""
        tokens = self.embeddings(x[:, self.n_numeric:])
        return torch.cat([x[:, :self.n_numeric], tokens.flatten(1)], dim=1)


class _OffsetEmbedding(nn.Module):
    """All categorical columns in one table: column j's code c is row offsets[j] + c."""

    def __init__(self, cardinalities: Sequence[int], d: int):
        super().__init__()
        sizes = [int(c) for c in cardinalities]
        cards = torch.tensor(sizes, dtype=torch.long)
        self.register_buffer("offsets", torch.cumsum(cards, 0) - cards, persistent=False)
        self.register_buffer("highest", cards - 1, persistent=False)
        self.table = nn.Embedding(max(1, sum(sizes)), d)  # plain ints: builds on "meta" too
        nn.init.uniform_(self.table.weight, -1 / math.sqrt(d), 1 / math.sqrt(d))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """(rows, k) float codes -> (rows, k, d)."""
        index = torch.minimum(codes.long().clamp_min(0), self.highest)
        return self.table(index + self.offsets)


class ResNet(nn.Module):
    """ResNet-style MLP (Gorishniy et al. 2021): a projection to `d_block`, `n_blocks`
    residual blocks x + [norm, Linear, activation, Dropout, Linear, Dropout](x), then a
    head [norm, activation, Linear]. Norm is BatchNorm1d with `batch_norm`, else LayerNorm.
    """

    def __init__(self, config: ModelConfig, n_inputs: int, n_outputs: int):
        super().__init__()
        d, d_hidden = config.d_block, max(1, round(config.d_block * config.d_hidden_factor))
        activation = _ACTIVATIONS[config.activation]
        self.project = nn.Linear(n_inputs, d)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                _norm(config, d), nn.Linear(d, d_hidden), activation(),
                nn.Dropout(config.dropout), nn.Linear(d_hidden, d),
                nn.Dropout(config.residual_dropout),
            )
            for _ in range(config.n_blocks)
        )
        self.head = nn.Sequential(_norm(config, d), activation(), nn.Linear(d, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, n_inputs) -> (rows, n_outputs)."""
        x = self.project(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


class FTTransformer(nn.Module):
    """A small FT-Transformer (Gorishniy et al. 2021) for tabular rows.

    A feature tokenizer makes one `d_token` vector per column (numeric: x * w_j + b_j;
    categorical: an embedding of the code + b_j), a learned [CLS] token is prepended,
    `n_layers` pre-norm `nn.TransformerEncoderLayer`s mix them, and the head
    [LayerNorm, activation, Linear] reads the [CLS] token.
    """

    def __init__(self, config: ModelConfig, n_numeric: int, cardinalities: Sequence[int],
                 n_outputs: int):
        super().__init__()
        d = config.d_token
        if d % config.n_heads:
            raise ValueError(
                f"model.d_token ({d}) must be a multiple of model.n_heads ({config.n_heads})"
            )
        self.n_numeric = n_numeric
        bound = 1 / math.sqrt(d)
        self.numeric_weight = nn.Parameter(torch.empty(n_numeric, d).uniform_(-bound, bound))
        n_tokens = n_numeric + len(cardinalities)
        self.bias = nn.Parameter(torch.empty(n_tokens, d).uniform_(-bound, bound))
        self.categorical = _OffsetEmbedding(cardinalities, d) if cardinalities else None
        self.cls = nn.Parameter(torch.empty(1, 1, d).uniform_(-bound, bound))
        self.layers = nn.ModuleList(_encoder_layer(config) for _ in range(config.n_layers))
        self.head = nn.Sequential(nn.LayerNorm(d), _ACTIVATIONS[config.activation](),
                                  nn.Linear(d, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, n_numeric + k) -> (rows, n_outputs)."""
        tokens = x[:, :self.n_numeric, None] * self.numeric_weight
        if self.categorical is not None:
            tokens = torch.cat([tokens, self.categorical(x[:, self.n_numeric:])], dim=1)
        tokens = tokens + self.bias
        h = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        for layer in self.layers:
            h = layer(h)
        return self.head(h[:, 0])


def _encoder_layer(config: ModelConfig) -> nn.TransformerEncoderLayer:
    layer = nn.TransformerEncoderLayer(
        config.d_token, config.n_heads,
        dim_feedforward=max(1, round(config.d_token * config.ffn_factor)),
        dropout=config.residual_dropout, activation=_TRANSFORMER_ACTIVATIONS[config.activation],
        batch_first=True, norm_first=True,
    )
    # one `dropout` argument covers attention, feed-forward and residual: split them
    layer.self_attn.dropout = config.attention_dropout
    layer.dropout = nn.Dropout(config.ffn_dropout)
    return layer
