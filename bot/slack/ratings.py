"""Ratings of answers (👍 / 👎 with an optional comment), kept with the prompt versions and sources the answer used,
and the per-version statistics ``/prompt stats`` shows."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Integer, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.evaluation import wilson_interval
from bot.slack.store import find_answer
from bot.slack.tables import SlackFeedback

Sessions = async_sessionmaker[AsyncSession]


class PromptVersionRatings(BaseModel):
    """How answers made with one version of a prompt were rated."""

    version: int
    up: int
    down: int
    comments: int

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def approval_interval(self) -> tuple[float, float]:
        """The 95% Wilson interval of the share of 👍: a handful of ratings gives a wide one, as it should."""
        return wilson_interval(self.up, self.total)


class RatingComment(BaseModel):
    """What a rater wrote with a 👎, for the latest-comments list of ``/prompt stats``."""

    version: int
    user_id: str
    comment: str
    at: datetime


async def record_rating(sessions: Sessions, trace_id: str, user_id: str, rating: int) -> None:
    """Store or change ``user_id``'s rating (+1 / -1) of the answer ``trace_id``; one rating per user per answer."""
    if rating not in (1, -1):
        raise ValueError(f"a rating is +1 or -1, got {rating}")
    # A changed mind starts over: a comment given with the old rating no longer applies.
    await _upsert(sessions, trace_id, user_id, rating=rating, comment=None, on_conflict=("rating", "comment"))


async def record_comment(sessions: Sessions, trace_id: str, user_id: str, comment: str) -> None:
    """Attach what was wrong (from the 👎 modal) to the user's rating of that answer."""
    await _upsert(sessions, trace_id, user_id, rating=-1, comment=comment, on_conflict=("comment",))


async def _upsert(
    sessions: Sessions, trace_id: str, user_id: str, *, rating: int, comment: str | None, on_conflict: tuple[str, ...]
) -> None:
    answer = await find_answer(sessions, trace_id)
    now = datetime.now(UTC)
    values = {
        "trace_id": trace_id,
        "user_id": user_id,
        "rating": rating,
        "comment": comment,
        "prompt_versions": dict(answer.prompt_versions) if answer is not None else {},
        "source_urls": list(answer.source_urls) if answer is not None else [],
        "updated_at": now,
    }
    changed = {name: values[name] for name in on_conflict} | {"updated_at": now}
    async with sessions.begin() as session:
        await session.execute(
            insert(SlackFeedback)
            .values(**values)
            .on_conflict_do_update(index_elements=[SlackFeedback.trace_id, SlackFeedback.user_id], set_=changed)
        )


async def find_rating(sessions: Sessions, trace_id: str, user_id: str) -> SlackFeedback | None:
    async with sessions() as session:
        return await session.get(SlackFeedback, (trace_id, user_id))


async def rating_stats(sessions: Sessions, prompt_name: str) -> list[PromptVersionRatings]:
    """Ratings per version of ``prompt_name``, oldest version first (what ``/prompt stats NAME`` shows)."""
    version = SlackFeedback.prompt_versions[prompt_name].astext.cast(Integer)
    query = (
        select(
            version.label("version"),
            func.count().filter(SlackFeedback.rating > 0),
            func.count().filter(SlackFeedback.rating < 0),
            func.count(SlackFeedback.comment),
        )
        .where(SlackFeedback.prompt_versions.has_key(prompt_name))
        .group_by(version)
        .order_by(version)
    )
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return [PromptVersionRatings(version=row[0], up=row[1], down=row[2], comments=row[3]) for row in rows]


async def latest_comments(sessions: Sessions, prompt_name: str, limit: int = 3) -> list[RatingComment]:
    """The newest comments on answers made with any version of ``prompt_name``."""
    version = SlackFeedback.prompt_versions[prompt_name].astext.cast(Integer)
    query = (
        select(version, SlackFeedback.user_id, SlackFeedback.comment, SlackFeedback.updated_at)
        .where(SlackFeedback.prompt_versions.has_key(prompt_name), SlackFeedback.comment.is_not(None))
        .order_by(SlackFeedback.updated_at.desc())
        .limit(limit)
    )
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return [RatingComment(version=row[0], user_id=row[1], comment=row[2] or "", at=row[3]) for row in rows]
