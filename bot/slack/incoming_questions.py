"""What a Slack event says when it may be a question: who asked, where, in which thread, with which files."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

# Message subtypes that are a person writing something; edits, deletions, joins and bot posts are not questions.
QUESTION_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


class IncomingQuestion(BaseModel):
    """The parts of an Events API payload the answer needs."""

    event_id: str
    kind: str
    team_id: str
    channel_id: str
    channel_type: str | None = None
    user_id: str
    text: str = ""
    ts: str
    thread_ts: str | None = None
    files: list[dict[str, Any]] = []

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> IncomingQuestion:
        event = body["event"]
        return cls(
            event_id=body["event_id"],
            kind=event["type"],
            team_id=body.get("team_id") or event.get("team") or "default",
            channel_id=event["channel"],
            channel_type=event.get("channel_type"),
            user_id=event["user"],
            text=event.get("text") or "",
            ts=event["ts"],
            thread_ts=event.get("thread_ts"),
            files=list(event.get("files") or []),
        )

    @property
    def reply_thread_ts(self) -> str:
        """A top-level question starts a thread under itself; a reply stays in its thread."""
        return self.thread_ts or self.ts

    @property
    def is_thread_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def question_text(self, bot_user_id: str | None) -> str:
        text = _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), self.text)
        return " ".join(text.split())


def is_person_message(event: dict[str, Any]) -> bool:
    """A message written by a person (not a bot, not an edit or deletion)."""
    return (
        event.get("type") in ("message", "app_mention")
        and not event.get("bot_id")
        and event.get("subtype") in QUESTION_SUBTYPES
        and bool(event.get("user"))
    )
