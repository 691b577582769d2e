"""Retrieved passages arranged to be read: one section's passages in document order, adjacent ones merged.

Retrieval ranks passages by relevance, so the end of a section often comes before its beginning. A
retrieval-only answer is read as an answer, so passages of one section (same document, same heading path) are
shown together where the section's best passage ranked, in the order they appear in the document; passages that
follow each other directly are merged into one, without the overlap the chunker repeats between them.
"""

from __future__ import annotations

from typing import Any

# The chunker repeats at most this much of a passage at the start of the next one (ChunkingConfig.overlap_chars,
# with room for whitespace differences).
_MAX_OVERLAP_CHARS = 400
# A shorter common stretch is a coincidence ("the", a full stop), not the chunker's overlap.
_MIN_OVERLAP_CHARS = 12


def in_reading_order(passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Passages (as ``Passage`` dicts, best first) grouped by section and merged where adjacent.

    A merged passage keeps the first one's fields, with the joined ``text``, the union of ``also_in`` and
    ``merged`` (how many passages it holds). Passages without an ``ordinal`` stay as they are.
    """
    sections: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for index, passage in enumerate(passages):
        if passage.get("ordinal") is None:
            key: tuple[Any, ...] = ("unordered", index)
        else:
            key = (passage["document_id"], tuple(passage.get("heading_path") or ()))
        sections.setdefault(key, []).append(passage)
    arranged: list[dict[str, Any]] = []
    for members in sections.values():
        members = sorted(members, key=lambda passage: passage.get("ordinal") or 0)
        current = dict(members[0], merged=1)
        for passage in members[1:]:
            if passage["ordinal"] == current["ordinal"] + current["merged"]:
                current = _merge(current, passage)
            else:
                arranged.append(current)
                current = dict(passage, merged=1)
        arranged.append(current)
    return arranged


def _merge(first: dict[str, Any], following: dict[str, Any]) -> dict[str, Any]:
    also_in = list(first.get("also_in") or [])
    seen = {copy["url"] for copy in also_in}
    also_in += [copy for copy in following.get("also_in") or [] if copy["url"] not in seen]
    return dict(
        first,
        text=join_overlapping(first["text"], following["text"]),
        also_in=also_in,
        merged=first["merged"] + 1,
    )


def join_overlapping(first: str, following: str) -> str:
    """``following`` appended to ``first``, dropping the start of ``following`` that repeats the end of ``first``.

    Compared with whitespace collapsed: the chunker re-joins the sentences it repeats with single spaces.
    """
    head, tail = " ".join(first.split()), " ".join(following.split())
    for length in range(min(len(head), len(tail), _MAX_OVERLAP_CHARS), _MIN_OVERLAP_CHARS - 1, -1):
        if head.endswith(tail[:length]):
            rest = tail[length:].lstrip()
            return f"{head} {rest}" if rest else head
    return f"{head} {tail}"
