"""Near-duplicate passages: a MinHash signature stored per passage at index time, compared at query time.

Real knowledge bases copy text: an FAQ pasted into three pages, a policy paragraph repeated in every policy, the
same page in Confluence and in a Drive doc. Shown three times, a copy crowds distinct information out of an answer.

Each passage's visible words (link destinations and bare URLs left out, so copies whose relative links resolved to
different absolute URLs still match) are cut into overlapping word 3-grams ("shingles"); the signature keeps, for
each of 64 fixed hash functions, the smallest hash over the shingles. The share of equal positions in two
signatures estimates the Jaccard similarity of their shingle sets (standard error at most 0.0625), so comparing
the twenty-odd candidates of a search costs microseconds and needs no second query. Hand-written rather than a
library: it is a few lines of numpy, and the MinHash packages pull in SciPy for LSH tuning we do not use.

Collapsing happens after the access filter, over passages the readers may all read: the representative kept is
the best-ranked readable copy, and the copies it names are readable too.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

SIGNATURE_SIZE = 64
SHINGLE_WORDS = 3
# Estimated Jaccard similarity from which two passages count as copies. Measured on the Sourcegraph handbook
# (bench/near_duplicates.py, bench/RESULTS.md): pairs above it are the same text with small edits (a step
# renumbered, a team name swapped); below it they share a boilerplate sentence or two but say different things.
DEFAULT_NEAR_DUPLICATE_SIMILARITY = 0.7

_LINK_DESTINATION = re.compile(r"\]\([^)]*\)")
_BARE_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_WORD = re.compile(r"\w+")

# Fixed seeds: signatures stored by one process are compared by another, so the hash functions never change.
_SEEDS = np.random.default_rng(0x5357424D48).integers(0, 2**63, size=(2, SIGNATURE_SIZE), dtype=np.uint64)
_MULTIPLIERS = _SEEDS[0] | np.uint64(1)
_OFFSETS = _SEEDS[1]
_WORD_MIXERS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))
_MIXER_ARRAY = np.array(_WORD_MIXERS, dtype=np.uint64)
# Passages signed together: their shingles' 64 hashes (8 bytes each) stay within a few MB.
_SIGNING_BATCH = 64

T = TypeVar("T")


def visible_words(markdown: str) -> list[str]:
    """The lower-cased words a reader sees: link targets and URLs are not part of what a passage says."""
    text = _LINK_DESTINATION.sub("]", markdown) if "](" in markdown else markdown
    if "://" in text:
        text = _BARE_URL.sub(" ", text)
    return _WORD.findall(text.lower())


def passage_signature(markdown: str) -> list[int] | None:
    """The MinHash signature of a passage's text (signed 32-bit integers), or None when it has no words."""
    return passage_signatures([markdown])[0]


def passage_signatures(passages: Sequence[str]) -> list[list[int] | None]:
    """``passage_signature`` of each passage, computed for the whole batch in a few numpy operations.

    A first sync signs every passage it writes, so this is on its critical path: a batch signed at once costs a
    fraction of its passages signed one at a time. The values are the same.
    """
    signatures: list[list[int] | None] = [None] * len(passages)
    words = [visible_words(passage) for passage in passages]
    for start in range(0, len(passages), _SIGNING_BATCH):
        _sign(words[start : start + _SIGNING_BATCH], signatures, start)
    return signatures


def _sign(words: list[list[str]], signatures: list[list[int] | None], offset: int) -> None:
    lengths = np.fromiter(map(len, words), dtype=np.intp, count=len(words))
    flat = [word for passage in words for word in passage]
    hashes = np.fromiter((zlib.crc32(word.encode()) for word in flat), dtype=np.uint64, count=len(flat))
    # The shingle starting at each word of the batch, over the next SHINGLE_WORDS words (zeros past the end).
    padded = np.concatenate([hashes, np.zeros(SHINGLE_WORDS - 1, dtype=np.uint64)])
    shingles = np.zeros(len(hashes), dtype=np.uint64)
    for position, mixer in enumerate(_WORD_MIXERS):
        shingles ^= padded[position : position + len(hashes)] * mixer
    ends = np.cumsum(lengths)
    starts = ends - lengths
    for index in np.flatnonzero((lengths > 0) & (lengths < SHINGLE_WORDS)).tolist():
        # Fewer words than a shingle: one shingle of all of them.
        start, words_in = int(starts[index]), int(lengths[index])
        shingles[start] = np.bitwise_xor.reduce(hashes[start : start + words_in] * _MIXER_ARRAY[:words_in])
    counts = np.where(lengths >= SHINGLE_WORDS, lengths - SHINGLE_WORDS + 1, np.minimum(lengths, 1))
    signed = np.flatnonzero(counts)
    if not len(signed):
        return
    # Each signed passage's own shingles, back to back.
    first = np.repeat(starts[signed] - np.concatenate([[0], np.cumsum(counts[signed])[:-1]]), counts[signed])
    own = shingles[first + np.arange(int(counts[signed].sum()))]
    # Multiply-shift hashing: one hash function per signature position, the minimum over the shingles kept. The
    # shift commutes with the minimum, so it is applied to the 64 minima only.
    permuted = own[:, None] * _MULTIPLIERS[None, :] + _OFFSETS[None, :]
    segment_starts = np.concatenate([[0], np.cumsum(counts[signed])[:-1]])
    minima = np.minimum.reduceat(permuted, segment_starts, axis=0) >> np.uint64(32)
    for index, row in zip(signed.tolist(), minima.astype(np.uint32).view(np.int32).tolist(), strict=True):
        signatures[offset + index] = row


def signature_similarity(first: Sequence[int], second: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two passages' shingle sets: the share of equal signature positions."""
    if len(first) != len(second) or not first:
        return 0.0
    return float(np.mean(np.asarray(first) == np.asarray(second)))


@dataclass
class CollapsedGroup(Generic[T]):
    """A representative item and the near-duplicates folded into it, best-ranked first."""

    representative: T
    copies: list[T] = field(default_factory=list)


def collapse_near_duplicates(
    ranked: Sequence[T], signature_of: Callable[[T], Sequence[int] | None], threshold: float
) -> list[CollapsedGroup[T]]:
    """Fold each item into the first better-ranked item it nearly duplicates; order of representatives is kept.

    Items without a signature (indexed before signatures existed, or without words) are never folded.
    """
    groups: list[CollapsedGroup[T]] = []
    kept_signatures: list[np.ndarray] = []
    kept_groups: list[CollapsedGroup[T]] = []
    for item in ranked:
        signature = signature_of(item)
        if signature is not None and len(signature) == SIGNATURE_SIZE and kept_signatures:
            shares = (np.vstack(kept_signatures) == np.asarray(signature)).mean(axis=1)
            best = int(np.argmax(shares))
            if shares[best] >= threshold:
                kept_groups[best].copies.append(item)
                continue
        group = CollapsedGroup(representative=item)
        groups.append(group)
        if signature is not None and len(signature) == SIGNATURE_SIZE:
            kept_signatures.append(np.asarray(signature))
            kept_groups.append(group)
    return groups
