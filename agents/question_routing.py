"""Cheap rules that save model calls: which questions skip planning, and what to search for on a follow-up.

Routing rule (no model call): a question goes straight to retrieval ("direct") unless it looks like it needs a
plan or a tool other than search ("planned"): it contains a link, asks to remember, forget or do something
(send, create, open, trigger, ...), asks about the date or time, compares things, has several questions in it, or
is longer than 40 words. A direct question still gets every tool in the act loop; it only skips the planner.
"""

from __future__ import annotations

import re
from typing import Literal

Route = Literal["direct", "planned"]

PLANNED_CUES = re.compile(
    r"https?://|www\.|\b(remember|forget|note that|keep in mind|my name is|call me|i prefer|from now on|"
    r"send|post|create|open a|file a|trigger|restart|deploy|notify|schedule|book|"
    r"today|tomorrow|yesterday|what time|current time|date|"
    r"compare|versus|vs\.?|difference between|step by step|and then)\b",
    re.IGNORECASE,
)
FOLLOW_UP_START = re.compile(r"^(and|or|but|also|what about|how about|same for|then|so)\b", re.IGNORECASE)
FOLLOW_UP_PRONOUN = re.compile(r"\b(it|that|this|those|these|them|there)\b", re.IGNORECASE)
MAX_DIRECT_WORDS = 40
SHORT_FOLLOW_UP_WORDS = 6


def choose_route(question: str) -> Route:
    if question.count("?") > 1 or len(question.split()) > MAX_DIRECT_WORDS or PLANNED_CUES.search(question):
        return "planned"
    return "direct"


def search_query_for(question: str, history: list[dict[str, str]]) -> str:
    """A follow-up ("and for macOS?") is searched together with the thread's previous question."""
    previous = next((turn["content"] for turn in reversed(history) if turn.get("role") == "user"), None)
    if previous is None:
        return question
    words = question.split()
    if len(words) <= SHORT_FOLLOW_UP_WORDS or FOLLOW_UP_START.match(question) or FOLLOW_UP_PRONOUN.search(question):
        return f"{previous} {question}"
    return question
