"""Static word vectors for short texts, in English and (weakly) Chinese, usable offline.

The planner compares the words of a request with column names and values in milliseconds,
so it needs no sentence model: `wordllama` ships a 256-dimension token embedding of the
Llama 2 vocabulary (which has Chinese characters) and its tokenizer inside the wheel. This
module reads those two files by path, without importing the package (its `load()` looks
for the tokenizer in the wrong folder and would try to download; importing it also
configures the root logger). A text's vector is the mean of its token vectors, unit length.

When the package is missing, `word_vectors()` returns None and callers fall back to
evidence from names and values alone.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The files inside the wordllama wheel: the tokenizer and the 256-dimension weights.
_TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
_WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"


class WordVectors:
    """Mean-of-token vectors of short texts; cached per text, since columns repeat."""

    def __init__(self, tokenizer, weights: np.ndarray) -> None:
        self._tokenizer = tokenizer
        self._weights = weights  # float16 as shipped: rows are widened on use
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (a text with no tokens: zeros)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for text, encoding in zip(missing, self._tokenizer.encode_batch(
                missing, add_special_tokens=False), strict=True):
            ids = [i for i in encoding.ids if i < len(self._weights)]
            vector = (self._weights[ids].astype(np.float32).mean(axis=0) if ids
                      else np.zeros(self._weights.shape[1], dtype=np.float32))
            norm = float(np.linalg.norm(vector))
            self._cache[text] = vector / norm if norm else vector
        if not texts:
            return np.zeros((0, self._weights.shape[1]), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def similarity(self, left: list[str], right: list[str]) -> np.ndarray:
        """Cosine similarities, shape (len(left), len(right))."""
        return self.embed(left) @ self.embed(right).T


def _package_folder() -> Path | None:
    """The installed wordllama folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec("wordllama")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def word_vectors() -> WordVectors | None:
    """The shared word vectors, loaded once per process (~0.2 s), or None when the
    `wordllama` package (or its tokenizers/safetensors dependencies) is not installed."""
    folder = _package_folder()
    if folder is None or not (folder / _TOKENIZER).exists() or not (folder / _WEIGHTS).exists():
        return None
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError:
        return None
    tokenizer = Tokenizer.from_file(str(folder / _TOKENIZER))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    weights = load_file(str(folder / _WEIGHTS))["embedding.weight"]
    return WordVectors(tokenizer, weights)
