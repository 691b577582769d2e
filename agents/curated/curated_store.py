"""Curated answers: an expert's correction of an answer, stored versioned (who, when, why) like prompts.

Each one keeps its live question's match keys (stemmed lexemes and an embedding) next to it, so matching a new
question reads one table. Every cited source is resolved to an indexed document when the correction is written and
its content hash kept: a later change of that document sends the answer to review (``needs_review``), where it is
not served until an editor edits or re-confirms it. Each change is mirrored as a reference case in the ``curated``
evaluation set, so prompt changes are also measured against what experts said.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.curated.curated_tables import CuratedAnswerRow, CuratedAnswerVersionRow
from agents.errors import CuratedAnswerInputError, CuratedAnswerNotFoundError
from agents.evaluation import CaseSpec, EvaluationSetStore
from knowledge import Embedder, cited_documents_by_id, find_cited_documents, text_lexemes

logger = logging.getLogger(__name__)

CuratedStatus = Literal["active", "needs_review", "retired"]
EVALUATION_SET = "curated"
MAX_ANSWER_CHARS = 3_000
MAX_QUESTION_CHARS = 2_000


class CuratedSource(BaseModel):
    """A document a curated answer cites, as it was when the correction was written."""

    url: str
    title: str
    source: str
    document_id: int
    content_hash: str


class CuratedVersion(BaseModel):
    version: int
    question: str
    answer: str
    sources: list[CuratedSource] = Field(default_factory=list)
    author: str
    note: str = ""
    origin_trace_id: str | None = None
    created_at: datetime


class CuratedAnswer(BaseModel):
    """A curated answer with its live version and how often it was served."""

    id: int
    workspace_id: str
    status: CuratedStatus
    review_reason: str = ""
    channels: list[str] = Field(default_factory=list)
    hit_count: int = 0
    last_used_at: datetime | None = None
    created_by: str
    created_at: datetime
    live: CuratedVersion

    @property
    def case_key(self) -> str:
        """Its reference case's key in the ``curated`` evaluation set."""
        return f"curated-{self.id}"


class CuratedCandidate(BaseModel):
    """A curated answer as the matcher sees it: the live version plus its match keys."""

    answer: CuratedAnswer
    lexemes: list[str]
    embedding: list[float] | None
    embedder: str


class CuratedStore:
    """Write, version, list and retire curated answers; the CLI, Slack and the matcher share it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], embedder: Embedder | None = None) -> None:
        self._sessions = sessions
        self._embedder = embedder
        self._cases = EvaluationSetStore(sessions)

    async def add(
        self,
        question: str,
        answer: str,
        *,
        author: str,
        sources: Sequence[str] = (),
        channels: Sequence[str] = (),
        workspace_id: str = "default",
        note: str = "",
        origin_trace_id: str | None = None,
    ) -> CuratedAnswer:
        """Store a new curated answer (version 1).

        Raises:
            CuratedAnswerInputError: empty or too long text, or a source that is not in the knowledge index.
        """
        question, answer = _checked(question, answer)
        cited = await self._resolve(sources)
        lexemes, embedding = await self._match_keys(question)
        async with self._sessions.begin() as session:
            row = CuratedAnswerRow(
                workspace_id=workspace_id,
                status="active",
                live_version=1,
                channels=list(dict.fromkeys(channels)),
                question_lexemes=lexemes,
                question_embedding=embedding,
                embedder=self._embedder.name if self._embedder is not None and embedding is not None else "",
                created_by=author,
            )
            session.add(row)
            await session.flush()
            session.add(_version_row(row.id, 1, question, answer, cited, author, note, origin_trace_id))
            curated_id = row.id
        logger.info("curated answer #%d added by %s", curated_id, author)
        stored = await self.get(curated_id)
        await self._mirror_case(stored)
        return stored

    async def edit(
        self,
        curated_id: int,
        *,
        author: str,
        answer: str | None = None,
        question: str | None = None,
        sources: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        note: str = "",
    ) -> CuratedAnswer:
        """Append a version (unchanged parts carried over) and make it live; this also ends a review, since the
        editor has looked at it again, so the sources' current content hashes are recorded.

        Raises:
            CuratedAnswerNotFoundError, CuratedAnswerInputError.
        """
        current = await self.get(curated_id)
        new_question, new_answer = _checked(question or current.live.question, answer or current.live.answer)
        references = list(sources) if sources is not None else [source.url for source in current.live.sources]
        cited = await self._resolve(references)
        lexemes, embedding = await self._match_keys(new_question)
        async with self._sessions.begin() as session:
            row = await session.get(CuratedAnswerRow, curated_id, with_for_update=True)
            if row is None:
                raise CuratedAnswerNotFoundError(curated_id)
            latest = await session.scalar(
                select(func.max(CuratedAnswerVersionRow.version)).where(CuratedAnswerVersionRow.curated_id == row.id)
            )
            version = (latest or 0) + 1
            session.add(_version_row(row.id, version, new_question, new_answer, cited, author, note, None))
            row.live_version = version
            row.status = "active"
            row.review_reason = ""
            row.question_lexemes = lexemes
            row.question_embedding = embedding
            row.embedder = self._embedder.name if self._embedder is not None and embedding is not None else ""
            if channels is not None:
                row.channels = list(dict.fromkeys(channels))
            row.updated_at = datetime.now(UTC)
        logger.info("curated answer #%d v%d by %s", curated_id, version, author)
        stored = await self.get(curated_id)
        await self._mirror_case(stored)
        return stored

    async def confirm(self, curated_id: int, *, author: str) -> CuratedAnswer:
        """An editor checked a flagged answer against its changed sources and it still holds: a new version with
        the same text and the sources' current hashes, served again."""
        return await self.edit(curated_id, author=author, note="reviewed: still right after its sources changed")

    async def retire(self, curated_id: int, *, author: str) -> CuratedAnswer:
        """Never serve it again (its history stays); its reference case leaves the evaluation set."""
        async with self._sessions.begin() as session:
            row = await session.get(CuratedAnswerRow, curated_id, with_for_update=True)
            if row is None:
                raise CuratedAnswerNotFoundError(curated_id)
            row.status = "retired"
            row.updated_at = datetime.now(UTC)
        logger.info("curated answer #%d retired by %s", curated_id, author)
        retired = await self.get(curated_id)
        await self._cases.retire_case(EVALUATION_SET, retired.case_key)
        return retired

    async def flag(self, curated_id: int, reason: str) -> None:
        """Send an active answer to review (a cited source changed or disappeared); it is not served meanwhile."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(CuratedAnswerRow)
                .where(CuratedAnswerRow.id == curated_id, CuratedAnswerRow.status == "active")
                .values(status="needs_review", review_reason=reason[:500], updated_at=datetime.now(UTC))
            )
        logger.warning("curated answer #%d needs review: %s", curated_id, reason)

    async def record_hit(self, curated_id: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(CuratedAnswerRow)
                .where(CuratedAnswerRow.id == curated_id)
                .values(hit_count=CuratedAnswerRow.hit_count + 1, last_used_at=datetime.now(UTC))
            )

    async def get(self, curated_id: int) -> CuratedAnswer:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(CuratedAnswerRow, CuratedAnswerVersionRow)
                    .join(
                        CuratedAnswerVersionRow,
                        (CuratedAnswerVersionRow.curated_id == CuratedAnswerRow.id)
                        & (CuratedAnswerVersionRow.version == CuratedAnswerRow.live_version),
                    )
                    .where(CuratedAnswerRow.id == curated_id)
                )
            ).first()
        if found is None:
            raise CuratedAnswerNotFoundError(curated_id)
        return _answer(*found)

    async def list_answers(
        self, *, include_retired: bool = False, workspace_id: str | None = None
    ) -> list[CuratedAnswer]:
        """Every curated answer, oldest first."""
        return [candidate.answer for candidate in await self._rows(include_retired, workspace_id, active_only=False)]

    async def candidates(self, workspace_id: str) -> list[CuratedCandidate]:
        """The active answers of a workspace with their match keys."""
        return await self._rows(False, workspace_id, active_only=True)

    async def history(self, curated_id: int) -> list[CuratedVersion]:
        """Every version, newest first."""
        await self.get(curated_id)
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CuratedAnswerVersionRow)
                .where(CuratedAnswerVersionRow.curated_id == curated_id)
                .order_by(CuratedAnswerVersionRow.version.desc())
            )
            return [_version(row) for row in rows]

    async def review_changed_sources(self) -> list[CuratedAnswer]:
        """Flag every active answer whose cited document changed or left the index; returns those flagged."""
        flagged: list[CuratedAnswer] = []
        for answer in await self.list_answers():
            if answer.status != "active":
                continue
            reason = await self.changed_source(answer)
            if reason is not None:
                await self.flag(answer.id, reason)
                flagged.append(await self.get(answer.id))
        return flagged

    async def changed_source(self, answer: CuratedAnswer) -> str | None:
        """Why ``answer`` must be reviewed (a cited document changed or was removed), or None."""
        current = await cited_documents_by_id(self._sessions, [source.document_id for source in answer.live.sources])
        for source in answer.live.sources:
            document = current.get(source.document_id)
            if document is None:
                return f"its source {source.url} is no longer in the knowledge index"
            if document.content_hash != source.content_hash:
                return f"its source {source.url} changed since the correction"
        return None

    async def _rows(
        self, include_retired: bool, workspace_id: str | None, *, active_only: bool
    ) -> list[CuratedCandidate]:
        query = select(CuratedAnswerRow, CuratedAnswerVersionRow).join(
            CuratedAnswerVersionRow,
            (CuratedAnswerVersionRow.curated_id == CuratedAnswerRow.id)
            & (CuratedAnswerVersionRow.version == CuratedAnswerRow.live_version),
        )
        if active_only:
            query = query.where(CuratedAnswerRow.status == "active")
        elif not include_retired:
            query = query.where(CuratedAnswerRow.status != "retired")
        if workspace_id is not None:
            query = query.where(CuratedAnswerRow.workspace_id == workspace_id)
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(CuratedAnswerRow.id))).all()
        return [
            CuratedCandidate(
                answer=_answer(row, version),
                lexemes=list(row.question_lexemes),
                embedding=list(row.question_embedding) if row.question_embedding is not None else None,
                embedder=row.embedder,
            )
            for row, version in rows
        ]

    async def _resolve(self, references: Sequence[str]) -> list[CuratedSource]:
        wanted = [reference.strip() for reference in references if reference.strip()]
        found = await find_cited_documents(self._sessions, wanted)
        missing = [reference for reference in wanted if reference not in found]
        if missing:
            raise CuratedAnswerInputError(
                "these sources are not in the knowledge index: " + ", ".join(missing[:5]) + "; cite an indexed "
                "document by its URL or path (as the bot's answers link them), or leave sources empty"
            )
        unique: dict[int, CuratedSource] = {}
        for reference in wanted:
            document = found[reference]
            unique.setdefault(
                document.document_id,
                CuratedSource(
                    url=document.url,
                    title=document.title,
                    source=document.source,
                    document_id=document.document_id,
                    content_hash=document.content_hash,
                ),
            )
        return list(unique.values())

    async def _match_keys(self, question: str) -> tuple[list[str], list[float] | None]:
        (lexemes,) = await text_lexemes(self._sessions, [question])
        if self._embedder is None:
            return lexemes, None
        (embedding,) = await self._embedder.embed([question])
        return lexemes, [float(value) for value in embedding]

    async def _mirror_case(self, answer: CuratedAnswer) -> None:
        case = CaseSpec(
            key=answer.case_key,
            question=answer.live.question,
            reference_answer=answer.live.answer,
            expected_sources=[source.url for source in answer.live.sources],
            answerable=True,
            origin_trace_id=answer.live.origin_trace_id,
        )
        await self._cases.add_case(EVALUATION_SET, case, author=answer.live.author)


def _checked(question: str, answer: str) -> tuple[str, str]:
    question, answer = question.strip(), answer.strip()
    if not question:
        raise CuratedAnswerInputError("the question of a curated answer is empty")
    if not answer:
        raise CuratedAnswerInputError("the curated answer is empty: write the answer the bot should give")
    if len(question) > MAX_QUESTION_CHARS:
        raise CuratedAnswerInputError(f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
    if len(answer) > MAX_ANSWER_CHARS:
        raise CuratedAnswerInputError(f"the answer is {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}")
    return question, answer


def _version_row(
    curated_id: int,
    version: int,
    question: str,
    answer: str,
    sources: list[CuratedSource],
    author: str,
    note: str,
    origin_trace_id: str | None,
) -> CuratedAnswerVersionRow:
    return CuratedAnswerVersionRow(
        curated_id=curated_id,
        version=version,
        question=question,
        answer=answer,
        sources=[source.model_dump() for source in sources],
        author=author,
        note=note,
        origin_trace_id=origin_trace_id,
    )


def _version(row: CuratedAnswerVersionRow) -> CuratedVersion:
    return CuratedVersion(
        version=row.version,
        question=row.question,
        answer=row.answer,
        sources=[CuratedSource.model_validate(source) for source in row.sources],
        author=row.author,
        note=row.note,
        origin_trace_id=row.origin_trace_id,
        created_at=row.created_at,
    )


def _answer(row: CuratedAnswerRow, version: CuratedAnswerVersionRow) -> CuratedAnswer:
    return CuratedAnswer(
        id=row.id,
        workspace_id=row.workspace_id,
        status=row.status,
        review_reason=row.review_reason,
        channels=list(row.channels),
        hit_count=row.hit_count,
        last_used_at=row.last_used_at,
        created_by=row.created_by,
        created_at=row.created_at,
        live=_version(version),
    )
