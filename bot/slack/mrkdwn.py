"""Markdown as models write it, turned into Slack's mrkdwn (which has its own bold, links and no headings)."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"!?\[([^\]\n]+)\]\((\S+?)(?:\s+\"[^\"]*\")?\)")
_BARE_ANGLE_LINK = re.compile(r"<(https?://[^>\s]+)>")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HORIZONTAL_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.MULTILINE)

# Private-use characters stand in for finished pieces while the rest of the text is rewritten.
_BOLD_MARK = "\ue000"
_SLOT = "\ue001"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as markup (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, title: str) -> str:
    """A mrkdwn link; ``|`` and ``>`` in the title would end it early, so they are replaced."""
    label = escape_mrkdwn(title).replace("|", "¦")
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{label}>"


def markdown_to_mrkdwn(markdown: str) -> str:
    """Convert Markdown (headings, bold, italics, strikethrough, links, lists, code) to Slack mrkdwn."""
    slots: list[str] = []

    def keep(piece: str) -> str:
        slots.append(piece)
        return f"{_SLOT}{len(slots) - 1}{_SLOT}"

    text = _FENCE.sub(lambda m: keep("```\n" + escape_mrkdwn(m.group(1).rstrip("\n")) + "\n```"), markdown)
    text = _INLINE_CODE.sub(lambda m: keep(escape_mrkdwn(m.group(0))), text)
    text = _LINK.sub(lambda m: keep(link(m.group(2), m.group(1))), text)
    text = _BARE_ANGLE_LINK.sub(lambda m: keep(f"<{m.group(1)}>"), text)
    text = escape_mrkdwn(text)
    text = _HORIZONTAL_RULE.sub("──────────", text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC_STAR.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = text.replace(_BOLD_MARK, "*")
    return re.sub(f"{_SLOT}(\\d+){_SLOT}", lambda m: slots[int(m.group(1))], text)
