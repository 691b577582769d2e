"""Cutting rendered mrkdwn into pieces that fit a section (or a message) without breaking what a reader sees.

A cut never falls inside a link or mention (``<https://…|title>``, ``<@U123>``) or an escape (``&amp;``): half of
one would show as raw markup or, worse, as a different link. A code block that fits in one piece is never cut: the
piece ends before it instead. Only a code block longer than a whole piece is cut, at a line break inside it, and
then it is closed at the end of one piece and reopened at the start of the next, so both halves still read as code.
"""

from __future__ import annotations

import re
from collections.abc import Callable

FENCE = "```"
# Room to close a cut code block at the end of a piece ("\n```") and reopen it at the start of the next ("```\n").
_FENCE_ROOM = 2 * (len(FENCE) + 1)
# Live markup the bot made (links, mentions) and escapes: a cut inside one of these breaks it. An unclosed one at
# the end of a window (its end lies beyond the cut) counts too.
_UNCUTTABLE = re.compile(r"<[^<>]*(?:>|$)|&[a-zA-Z#0-9]*(?:;|$)")
_SEPARATORS = ("\n\n", "\n", " ")


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at a paragraph, then a line, then a word break.

    Never inside a link, mention or escape; never inside a code block that fits in one piece (see the module).
    """
    budget = limit - _FENCE_ROOM
    if budget < 16:
        raise ValueError(f"a piece of {limit} characters leaves no room to split in")
    pieces: list[str] = []
    rest = text.strip()
    open_code = False  # whether ``rest`` starts inside a code block the previous piece cut
    while rest:
        if len(rest) <= budget:
            pieces.append(rest)
            break
        cut, skip = _cut(rest[:budget], open_code)
        pieces.append(rest[:cut].rstrip(" "))
        rest = rest[cut:].lstrip("\n ") if skip is None else rest[cut + skip :]
        open_code ^= _inside_code(pieces[-1])
    return [piece for piece in _balance_fences(pieces) if piece.strip()]


def _cut(window: str, open_code: bool) -> tuple[int, int | None]:
    """Where to end the piece in ``window``, and how many characters to drop there inside code (None: a break
    outside code, where the whitespace around the cut goes). ``open_code``: the window starts inside a code block."""
    blocked = [(found.start(), found.end()) for found in _UNCUTTABLE.finditer(window)]

    def cuttable(position: int) -> bool:
        return position > 0 and not any(start < position < end for start, end in blocked)

    if open_code:  # as if the fence the previous piece cut were still in front
        code = [(start - len(FENCE), end - len(FENCE)) for start, end in _code_spans(FENCE + window)]
    else:
        code = _code_spans(window)

    def in_code(position: int) -> bool:
        return any(start < position < end for start, end in code)

    # Best: a break outside code, so every code block stays whole (a block that does not fit moves on whole).
    for separator in _SEPARATORS:
        found = _last(window, separator, lambda p: cuttable(p) and not in_code(p))
        if found is not None:
            return found, None
    # The window is (mostly) one code block longer than a piece: cut it at a line break (the fence that closes the
    # piece brings its own), else at a space, which is kept: inside code, whitespace is content.
    for separator, skip in (("\n", 1), (" ", 0)):
        found = _last(window, separator, lambda p: cuttable(p) and in_code(p))
        if found is not None:
            return found, skip
    # One unbroken run of characters: cut before the link or escape the window ends in, if any.
    position = len(window)
    for start, end in blocked:
        if start < position < end and start > 0:
            position = start
    return position, 0


def _last(window: str, separator: str, allowed: Callable[[int], bool]) -> int | None:
    position = window.rfind(separator)
    while position > 0:
        if allowed(position):
            return position
        position = window.rfind(separator, 0, position)
    return None


def _code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each code block in ``text``; one still open at the end runs to the end."""
    fences = [found.start() for found in re.finditer(re.escape(FENCE), text)]
    spans = []
    for index in range(0, len(fences), 2):
        start = fences[index]
        end = fences[index + 1] + len(FENCE) if index + 1 < len(fences) else len(text) + 1
        spans.append((start, end))
    return spans


def _inside_code(piece: str) -> bool:
    return piece.count(FENCE) % 2 == 1


def _balance_fences(pieces: list[str]) -> list[str]:
    """Close a code block cut at the end of one piece and reopen it at the start of the next."""
    balanced: list[str] = []
    carry = False
    for piece in pieces:
        if carry:
            piece = f"{FENCE}\n{piece}"
        carry = _inside_code(piece)
        balanced.append(f"{piece}\n{FENCE}" if carry else piece)
    return balanced
