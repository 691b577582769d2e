"""WordLlama's mean-of-token vectors, computed from a table of per-word sums instead of tokenizing whole texts.

WordLlama embeds a text as the mean of its tokens' static vectors. Its own ``embed`` runs the Llama tokenizer's BPE
over each whole text (the tokenizer has no pre-tokenizer, so BPE's per-word cache never applies) and then pools a
padded batch: 0.4-0.6 ms a passage, the largest CPU cost of a first sync (bench/RESULTS.md, "First sync: less
Python per passage").

The same tokens come from the text's pieces. The tokenizer's normaliser prepends "▁" and turns every space into
"▁"; cut that string before each run of "▁" that follows another character. No token of the vocabulary has a "▁"
after another character (checked when the table is built), so no BPE merge crosses such a cut, and BPE of the
pieces, concatenated, is BPE of the whole text. For a text without a leading or doubled space the pieces are
simply its space-separated words, each behind one "▁". So each piece's token-vector sum and token count are
computed once and kept, and a text's vector is the sum of its pieces' rows over the sum of their counts: the
same mean, about eight times cheaper. Texts that contain one of the tokenizer's added tokens (``<s>``, ...), which
it matches before normalising, are tokenized whole, as WordLlama does.

The table keeps at most ``max_pieces`` pieces, the first it meets (in a language's long tail of words, those are
mostly the frequent ones); later new pieces are computed for their batch only.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from knowledge.errors import EmbeddingError

_SPACE = "\u2581"  # "▁", what the Llama tokenizer's normaliser turns spaces into
_PIECE = re.compile(f"{_SPACE}*[^{_SPACE}]+|{_SPACE}+")
# 128 MB of 256-dimension float32 rows at most, filled as pieces arrive: the whole vocabulary of the 100,000-passage
# benchmark (110,000 pieces) or of the 883-page handbook (83,000). Each piece past it costs a tokenizer call per batch.
DEFAULT_MAX_PIECES = 131_072


class PieceTable:
    """Mean token vectors of texts for one WordLlama model (its ``tokenizer`` and ``embedding`` matrix)."""

    def __init__(self, model: Any, max_pieces: int = DEFAULT_MAX_PIECES) -> None:
        self._vectors: np.ndarray = np.asarray(model.embedding, dtype=np.float32)
        definition = model.tokenizer.to_str()
        vocabulary = json.loads(definition)["model"]["vocab"]
        if any(_SPACE in token.lstrip(_SPACE) for token in vocabulary):
            raise EmbeddingError("this WordLlama tokenizer has tokens that span words; per-word pooling would differ")
        self._whole = Tokenizer.from_str(definition)
        self._whole.no_padding()
        self._whole.no_truncation()
        self._added = tuple(token.content for token in self._whole.get_added_tokens_decoder().values())
        self._piece_bpe = Tokenizer.from_str(definition)
        self._piece_bpe.no_padding()
        self._piece_bpe.no_truncation()
        self._piece_bpe.normalizer = None  # pieces arrive normalised
        self._max_pieces = max_pieces
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        self._sums = np.zeros((1024, self._vectors.shape[1]), dtype=np.float32)
        self._counts = np.zeros(1024, dtype=np.float32)

    def mean_vectors(self, texts: list[str]) -> np.ndarray:
        """Each text's mean token vector, unnormalised; zeros for a text without tokens."""
        with self._lock:  # the table grows in place; batches are short (tens of ms)
            return self._mean_vectors(texts)

    def _mean_vectors(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._vectors.shape[1]), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.float32)
        keyed: list[tuple[int, list[str]]] = []
        for position, text in enumerate(texts):
            if not text:
                continue
            if any(token in text for token in self._added):
                ids = self._whole.encode(text, add_special_tokens=False).ids
                if ids:
                    np.sum(self._vectors[ids], axis=0, out=out[position])
                    counts[position] = len(ids)
                continue
            keyed.append((position, _piece_keys(text)))
        if keyed:
            self._pool(keyed, out, counts)
        out /= np.maximum(counts, 1.0)[:, None]
        return out

    def _pool(self, keyed: list[tuple[int, list[str]]], out: np.ndarray, counts: np.ndarray) -> None:
        keys = [key for _, text_keys in keyed for key in text_keys]
        indexes = np.array(self._rows_of(keys), dtype=np.intp)
        start = 0
        for position, text_keys in keyed:
            end = start + len(text_keys)
            piece_rows = indexes[start:end]
            np.sum(self._sums[piece_rows], axis=0, out=out[position])
            counts[position] = self._counts[piece_rows].sum()
            start = end

    def _rows_of(self, keys: list[str]) -> list[int]:
        """The table rows of these pieces, computing the new ones.

        New pieces are kept while the table has room; once it is full they get scratch rows past the kept ones,
        which the next batch overwrites (the table never grows past one batch beyond ``max_pieces``).
        """
        rows = list(map(self._rows.get, keys))
        if None not in rows:
            return rows  # type: ignore[return-value]  # no None left
        new = [key for key in dict.fromkeys(keys) if key not in self._rows]
        first = len(self._rows)
        self._compute(new, first)
        placed = {key: first + offset for offset, key in enumerate(new)}
        for key in new[: max(self._max_pieces - first, 0)]:
            self._rows[key] = placed[key]
        return [placed[key] if row is None else row for key, row in zip(keys, rows, strict=True)]

    def _compute(self, keys: list[str], first: int) -> None:
        """Token-vector sums and token counts of pieces into rows ``first``, ``first + 1``, ...

        Key ``k`` stands for the piece "▁" + ``k``. Pieces with the same number of tokens are summed together.
        """
        needed = first + len(keys)
        if needed > len(self._counts):
            capacity = max(needed, 2 * len(self._counts))
            grown = np.zeros((capacity, self._sums.shape[1]), dtype=np.float32)
            grown[:first] = self._sums[:first]
            self._sums = grown
            self._counts = np.concatenate([self._counts[:first], np.zeros(capacity - first, dtype=np.float32)])
        encodings = self._piece_bpe.encode_batch([_SPACE + key for key in keys], add_special_tokens=False)
        by_length: dict[int, list[int]] = {}
        for offset, encoding in enumerate(encodings):
            by_length.setdefault(len(encoding.ids), []).append(offset)
        for length, offsets in by_length.items():
            rows = np.asarray(offsets, dtype=np.intp) + first
            self._counts[rows] = length
            if length:
                ids = np.array([encodings[offset].ids for offset in offsets], dtype=np.intp)
                self._sums[rows] = self._vectors[ids].sum(axis=1)
            else:
                self._sums[rows] = 0.0


def _piece_keys(text: str) -> list[str]:
    """The text's pieces, each without its leading "▁" (a key stands for "▁" + key)."""
    if text.startswith(" ") or "  " in text:
        return [piece[1:] for piece in _PIECE.findall(_SPACE + text.replace(" ", _SPACE))]
    return text.split(" ")
