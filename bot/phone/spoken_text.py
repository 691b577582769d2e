"""Turn an agent's written answer (Markdown, links, code) into a few sentences that sound right on a call.

A caller cannot click a link or read a code block: links keep their words, URLs and code blocks are dropped, sources
are named by title, and the whole is cut at a sentence boundary so the caller is not read an essay. On an English line,
ISO dates ("2026-12-02", which speech engines read digit group by digit group) are said as "December 2, 2026", and
"e.g." / "i.e." as the words they stand for.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence

from agents import Citation
from bot.markdown_rendering import markdown_to_plain_lines

_REFERENCE_MARK = re.compile(r"\[\^?\d+\]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# host.tld/path without a scheme, e.g. "handbook.example.com/pto"
_BARE_URL = re.compile(r"\b[\w-]+(?:\.[A-Za-z][\w-]*)+/\S*")
# Raw HTML stays text in the parse; a caller must not hear its tags.
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_LEFTOVER_SYMBOLS = re.compile(r"[|#`<>\[\]{}\\_^~*]")
_SPACES = re.compile(r"\s+")
_EMPTY_PARENS = re.compile(r"\(\s*[,;:]?\s*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

MAX_SOURCES_NAMED = 2

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z)?)?\b")
_LATIN_ABBREVIATIONS = {"e.g.": "for example", "i.e.": "that is"}
_ABBREVIATION = re.compile("|".join(re.escape(key) for key in _LATIN_ABBREVIATIONS), re.IGNORECASE)


def _say_date(match: re.Match[str]) -> str:
    year, month, day, hour, minute, utc = match.groups()
    if not 1 <= int(month) <= 12 or not 1 <= int(day) <= 31:
        return match.group(0)
    said = f"{calendar.month_name[int(month)]} {int(day)}, {year}"
    if hour is not None and int(hour) < 24 and int(minute) < 60:
        said += f" at {int(hour)}:{minute}" + (" UTC" if utc else "")
    return said


def said_naturally(text: str, language: str = "en-US") -> str:
    """Dates and Latin abbreviations as a person would say them; only on English lines (others are left as is)."""
    if not language.lower().startswith("en"):
        return text
    text = _ISO_DATE.sub(_say_date, text)
    return _ABBREVIATION.sub(lambda match: _LATIN_ABBREVIATIONS[match.group(0).lower()], text)


def to_spoken_text(
    text: str, citations: Sequence[Citation] = (), *, max_chars: int = 600, language: str = "en-US"
) -> str:
    """Plain sentences for ``<Say>``: no Markdown, URLs or code; dates said; sources named; at most ``max_chars``.

    The Markdown is parsed by the same renderer as Slack's (``bot.markdown_rendering``); each paragraph, heading,
    list item or table row becomes a sentence.
    """
    lines = []
    for line in markdown_to_plain_lines(text):
        line = _HTML_TAG.sub(" ", _BARE_URL.sub("", _URL.sub("", _REFERENCE_MARK.sub("", line)))).strip()
        line = said_naturally(line, language)
        if line:
            lines.append(line if line[-1] in ".!?:;," else line + ".")
    text = _LEFTOVER_SYMBOLS.sub(" ", " ".join(lines))
    text = _EMPTY_PARENS.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\s+([.,!?;:])", r"\1", text)
    sources = named_sources(citations)
    budget = max_chars - (len(sources) + 1 if sources else 0)
    text = _cap(text, max(budget, max_chars // 2))
    return f"{text} {sources}".strip() if sources else text


def named_sources(citations: Sequence[Citation]) -> str:
    """``Source: Handbook.``: at most two titles, said after the answer."""
    titles: list[str] = []
    for citation in citations:
        title = _SPACES.sub(" ", _LEFTOVER_SYMBOLS.sub(" ", _URL.sub("", citation.title))).strip()
        if title and title not in titles:
            titles.append(title)
    if not titles:
        return ""
    named = titles[:MAX_SOURCES_NAMED]
    label = "Source" if len(named) == 1 else "Sources"
    return f"{label}: {' and '.join(named)}."


def _cap(text: str, max_chars: int) -> str:
    """Cut at the last sentence end that fits; a single long sentence is cut at a word boundary."""
    if len(text) <= max_chars:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > max_chars:
            break
        kept = candidate
    if kept:
        return kept
    words = text[:max_chars].rsplit(" ", 1)[0].rstrip(",;:")
    return words + "."


_SYMBOLS_ONLY = re.compile(r"^[\W_]+$")
_LAST_SPACE = re.compile(r"\s(?=\S*$)")


class SpokenStream:
    """Streamed model text made speakable word by word, so the caller hears the first words without waiting.

    A word is passed on once the space after it arrives (a URL or ``[1]`` split across deltas is only judged
    whole): links, reference marks, tags and Markdown symbols are dropped, the words themselves kept.
    """

    def __init__(self, language: str = "en-US") -> None:
        self._pending = ""
        self._spoken_any = False
        self._language = language

    def feed(self, delta: str) -> str:
        """The speakable text of the words this delta completes (may be empty)."""
        self._pending += delta
        split = _LAST_SPACE.search(self._pending)
        if split is None:
            return ""
        complete, self._pending = self._pending[: split.start()], self._pending[split.end() :]
        return self._speakable(complete)

    def flush(self) -> str:
        """What is left once the model is done."""
        rest, self._pending = self._pending, ""
        return self._speakable(rest)

    def _speakable(self, text: str) -> str:
        words = []
        for word in text.split():
            word = _HTML_TAG.sub("", _BARE_URL.sub("", _URL.sub("", _REFERENCE_MARK.sub("", word))))
            word = _LEFTOVER_SYMBOLS.sub("", said_naturally(word, self._language))
            if word and not _SYMBOLS_ONLY.match(word):
                words.append(word)
        if not words:
            return ""
        spoken = " ".join(words)
        if self._spoken_any:
            spoken = " " + spoken
        self._spoken_any = True
        return spoken
