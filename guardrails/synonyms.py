"""Words of column names that mean a lexicon word without being it, by word vectors.

A lexicon lists words ('cancellation', 'reimbursement'); names use others ('cancelation',
'reimbursed', 'refunding'). Each name word is compared with the lexicon's words, and one
that is nearly the same (cosine at least the backend's threshold) is read as that word.

Two backends, both optional and offline:

- the static word vectors shipped in the `wordllama` wheel (256 dimensions, loaded in a
  fraction of a second, milliseconds per table), threshold 0.7: it joins 'refunding',
  'cancelation', 'reimbursed', 'deaths' to the lexicon while 'payment' / 'payout' (0.43),
  'result' / 'outcome' (0.51) and 'income' (< 0.3) stay apart;
- otherwise the MiniLM sentence model of `knowledge.embeddings`, only when the process has
  already loaded it for the knowledge base (loading it here would cost seconds), at 0.8.

With neither (or with MLPILOT_EMBEDDING=hashing, as in tests) `similar_words` returns
nothing and the lexicon works alone. Chinese names are matched by the lexicon's substrings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np

from mlpilot.knowledge.word_vectors import word_vectors

WORD_VECTOR_THRESHOLD = 0.7
MINILM_THRESHOLD = 0.8
#: Words shorter than this are left alone: short words embed poorly ('no', 'at', 'dt').
MIN_LETTERS = 4

Embed = Callable[[list[str]], np.ndarray]


def _wordllama() -> Embed | None:
    """The static word vectors of the wordllama wheel (`knowledge.word_vectors`), or None."""
    vectors = word_vectors()
    return None if vectors is None else vectors.embed


def _minilm_if_loaded() -> Embed | None:
    """MiniLM, only when the knowledge base has loaded it in this process already."""
    from mlpilot.knowledge import embeddings  # pulls in chromadb: lazily

    if embeddings._load_minilm.cache_info().currsize == 0:
        return None
    return lambda words: np.asarray(embeddings.MiniLMEmbedding()(words), dtype=np.float32)


def backend() -> tuple[Embed, float, str] | None:
    """(embed, threshold, name) of the word vectors to use, or None for the lexicon alone."""
    if (os.environ.get("MLPILOT_EMBEDDING") or "").strip().lower() == "hashing":
        return None
    if (embed := _wordllama()) is not None:
        return embed, WORD_VECTOR_THRESHOLD, "word vectors"
    if (embed := _minilm_if_loaded()) is not None:
        return embed, MINILM_THRESHOLD, "MiniLM"
    return None


def similar_words(words: Iterable[str], vocabulary: Iterable[str], most: int = 3
                  ) -> dict[str, list[tuple[str, float]]]:
    """The vocabulary words each word means (cosine >= the threshold), best first, at most `most`.

    Words already in the vocabulary, and words shorter than MIN_LETTERS, are not looked up;
    words with no such neighbour are left out. Empty without a backend (`backend`).
    """
    vocabulary = sorted(set(vocabulary))
    asked = sorted({w for w in words if len(w) >= MIN_LETTERS and w.isalpha()
                    and w.isascii()} - set(vocabulary))
    chosen = backend() if asked and vocabulary else None
    if chosen is None:
        return {}
    embed, threshold, _ = chosen
    sims = embed(asked) @ embed(vocabulary).T
    found = {}
    for word, row in zip(asked, sims, strict=True):
        near = [(vocabulary[k], float(row[k])) for k in np.argsort(-row)[:most]
                if row[k] >= threshold]
        if near:
            found[word] = near
    return found
