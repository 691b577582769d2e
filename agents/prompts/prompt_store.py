"""Prompts as data: named, versioned records with exactly one live version each, seeded from the bundled files.

Every change appends a version (who, when, why) and moves the live pointer in the same transaction. A rollback
copies the old text into a new version rather than re-pointing at the old row, so the history reads as a straight
line of what was live when. The one exception to "live = newest": a candidate stored by ``propose`` for an
evaluation gate, which stays not live until ``promote`` (or a later version) passes it.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.errors import PromptNotFoundError, PromptValidationError
from agents.prompts.prompt_tables import PromptRow, PromptVersionRow

logger = logging.getLogger(__name__)

SEED_DIRECTORY = Path(__file__).parent
SEED_AUTHOR = "switchboard (seed)"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_PROMPT_CHARS = 20_000


class PromptVersion(BaseModel):
    """One version of a prompt."""

    name: str
    version: int
    text: str
    author: str
    note: str
    created_at: datetime
    live: bool


class PromptSummary(BaseModel):
    """A prompt name with its live version, for listings."""

    name: str
    live_version: int
    versions: int
    updated_by: str
    updated_at: datetime


class PromptStore:
    """The prompt API the CLI, Slack's ``/prompt`` and the agent runtime share."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        seed_directory: Path = SEED_DIRECTORY,
        *,
        live_cache_seconds: float = 0.0,
    ) -> None:
        """``live_cache_seconds`` lets ``live_prompts`` (the per-run lookup) reuse what it read that recently;
        another replica's change then takes effect within that time, this store's own changes at once."""
        self._sessions = sessions
        self._seed_directory = seed_directory
        self._seeded = False
        self._live_cache_seconds = live_cache_seconds
        self._live_cache: tuple[float, dict[str, PromptVersion]] | None = None

    async def seed(self) -> list[str]:
        """Create version 1 of every bundled prompt that does not exist yet; returns the names created.

        Safe to run concurrently from several replicas: inserts that lose the race do nothing.
        """
        created: list[str] = []
        async with self._sessions.begin() as session:
            for path in sorted(self._seed_directory.glob("*.md")):
                name = path.stem
                exists = await session.scalar(select(PromptRow.name).where(PromptRow.name == name))
                if exists:
                    continue
                text = path.read_text(encoding="utf-8").strip()
                await session.execute(
                    insert(PromptVersionRow)
                    .values(name=name, version=1, text=text, author=SEED_AUTHOR, note=f"seeded from {path.name}")
                    .on_conflict_do_nothing()
                )
                result = await session.execute(
                    insert(PromptRow)
                    .values(name=name, live_version=1, updated_by=SEED_AUTHOR)
                    .on_conflict_do_nothing()
                    .returning(PromptRow.name)
                )
                if result.scalar() is not None:
                    created.append(name)
        if created:
            logger.info("seeded prompts: %s", ", ".join(created))
        self._seeded = True
        return created

    async def _ensure_seeded(self) -> None:
        if not self._seeded:
            await self.seed()

    async def list_prompts(self) -> list[PromptSummary]:
        await self._ensure_seeded()
        async with self._sessions() as session:
            counts = (
                select(PromptVersionRow.name, func.count().label("versions")).group_by(PromptVersionRow.name).subquery()
            )
            rows = await session.execute(
                select(PromptRow, counts.c.versions)
                .join(counts, counts.c.name == PromptRow.name)
                .order_by(PromptRow.name)
            )
            return [
                PromptSummary(
                    name=row.name,
                    live_version=row.live_version,
                    versions=versions,
                    updated_by=row.updated_by,
                    updated_at=row.updated_at,
                )
                for row, versions in rows.all()
            ]

    async def get(self, name: str, version: int | None = None) -> PromptVersion:
        """The live version of ``name``, or a specific ``version``.

        Raises:
            PromptNotFoundError: naming the prompts or versions that exist.
        """
        await self._ensure_seeded()
        async with self._sessions() as session:
            live = await self._live_version(session, name)
            wanted = live if version is None else version
            row = await session.scalar(
                select(PromptVersionRow).where(PromptVersionRow.name == name, PromptVersionRow.version == wanted)
            )
            if row is None:
                latest = await session.scalar(
                    select(func.max(PromptVersionRow.version)).where(PromptVersionRow.name == name)
                )
                raise PromptNotFoundError(f"prompt {name!r} has no version {wanted}; versions are v1 to v{latest}")
            return _version(row, live)

    async def live_prompts(
        self, names: Iterable[str], overrides: dict[str, int] | None = None
    ) -> dict[str, PromptVersion]:
        """The versions a run uses: the live ones, or the pinned version where ``overrides`` says.

        Raises:
            PromptNotFoundError: a name or pinned version does not exist.
        """
        await self._ensure_seeded()
        wanted = list(dict.fromkeys(names))
        overrides = overrides or {}
        live = await self._live_versions()
        found = {
            name: live[name]
            for name in wanted
            if name in live and overrides.get(name, live[name].version) == live[name].version
        }
        pinned = {name: overrides[name] for name in wanted if name not in found and name in overrides}
        if pinned:
            async with self._sessions() as session:
                rows = await session.scalars(select(PromptVersionRow).where(PromptVersionRow.name.in_(list(pinned))))
                for row in rows:
                    if row.version == pinned[row.name]:
                        found[row.name] = _version(row, live[row.name].version if row.name in live else -1)
        missing = [name for name in wanted if name not in found]
        if missing:
            described = ", ".join(f"{n} v{overrides[n]}" if n in overrides else n for n in missing)
            raise PromptNotFoundError(f"prompts not found: {described}; see `switchboard prompts list`")
        return found

    async def _live_versions(self) -> dict[str, PromptVersion]:
        now = time.monotonic()
        if self._live_cache is not None and now - self._live_cache[0] < self._live_cache_seconds:
            return self._live_cache[1]
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PromptVersionRow).join(
                    PromptRow,
                    (PromptRow.name == PromptVersionRow.name) & (PromptRow.live_version == PromptVersionRow.version),
                )
            )
            live = {row.name: _version(row, row.version) for row in rows}
        self._live_cache = (now, live)
        return live

    async def set(
        self, name: str, text: str, author: str, note: str = "", *, version_at_least: int = 1
    ) -> PromptVersion:
        """Store ``text`` as the next version of ``name`` and make it live (creating the prompt if new).

        ``version_at_least`` numbers the new version so (when the history is shorter), as ``switchboard apply``
        does to keep a bot file's version numbers when copying a bot to another database.

        Raises:
            PromptValidationError: the name or text is not acceptable.
        """
        return await self._append(name, text, author, note, make_live=True, version_at_least=version_at_least)

    async def propose(
        self, name: str, text: str, author: str, note: str = "", *, version_at_least: int = 1
    ) -> PromptVersion:
        """Store ``text`` as the next version of an existing prompt without making it live (a candidate that an
        evaluation gate must pass first; ``promote`` makes it live)."""
        await self.get(name)
        return await self._append(name, text, author, note, make_live=False, version_at_least=version_at_least)

    async def promote(self, name: str, version: int, author: str) -> PromptVersion:
        """Make a candidate version live; only a version newer than the live one (older ones come back through
        ``rollback``, so the history stays a straight line).

        Raises:
            PromptValidationError: the version is not newer than the live one.
        """
        candidate = await self.get(name, version)
        async with self._sessions.begin() as session:
            live = await session.scalar(select(PromptRow).where(PromptRow.name == name).with_for_update())
            if live is None or live.live_version >= version:
                current = live.live_version if live is not None else 0
                raise PromptValidationError(
                    f"prompt {name!r} v{version} is not newer than the live v{current}; use rollback for old versions"
                )
            live.live_version = version
            live.updated_by = author
            live.updated_at = datetime.now(UTC)
        self._live_cache = None
        logger.info("prompt %s v%d made live by %s", name, version, author)
        return candidate.model_copy(update={"live": True})

    async def _append(
        self, name: str, text: str, author: str, note: str, *, make_live: bool, version_at_least: int = 1
    ) -> PromptVersion:
        if not _NAME.match(name):
            raise PromptValidationError(
                f"prompt name {name!r} must be lowercase letters, digits and underscores, starting with a letter"
            )
        text = text.strip()
        if not text:
            raise PromptValidationError(f"the new text for prompt {name!r} is empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise PromptValidationError(f"prompt {name!r} is {len(text)} characters; the limit is {MAX_PROMPT_CHARS}")
        await self._ensure_seeded()
        async with self._sessions.begin() as session:
            live = await session.scalar(select(PromptRow).where(PromptRow.name == name).with_for_update())
            next_version = 1 if live is None else await self._next_version(session, name)
            next_version = max(next_version, version_at_least)
            row = PromptVersionRow(name=name, version=next_version, text=text, author=author, note=note)
            session.add(row)
            await session.flush()
            if live is None:
                session.add(PromptRow(name=name, live_version=next_version, updated_by=author))
            elif make_live:
                live.live_version = next_version
                live.updated_by = author
                live.updated_at = datetime.now(UTC)
            live_version = next_version if live is None or make_live else live.live_version
            await session.flush()
            await session.refresh(row)
        self._live_cache = None
        logger.info("prompt %s v%d %s by %s", name, next_version, "set" if make_live else "proposed", author)
        return _version(row, live_version)

    async def history(self, name: str) -> list[PromptVersion]:
        """Every version of ``name``, newest first."""
        await self._ensure_seeded()
        async with self._sessions() as session:
            live = await self._live_version(session, name)
            rows = await session.scalars(
                select(PromptVersionRow).where(PromptVersionRow.name == name).order_by(PromptVersionRow.version.desc())
            )
            return [_version(row, live) for row in rows]

    async def diff(self, name: str, from_version: int, to_version: int | None = None) -> str:
        """A unified diff from one version to another (the live one if ``to_version`` is None)."""
        old = await self.get(name, from_version)
        new = await self.get(name, to_version)
        lines = difflib.unified_diff(
            old.text.splitlines(keepends=True),
            new.text.splitlines(keepends=True),
            fromfile=f"{name} v{old.version}",
            tofile=f"{name} v{new.version}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    async def rollback(self, name: str, version: int, author: str) -> PromptVersion:
        """Make the text of ``version`` live again, as a new version noted "rollback to vN"."""
        old = await self.get(name, version)
        return await self.set(name, old.text, author, note=f"rollback to v{version}")

    async def _live_version(self, session: AsyncSession, name: str) -> int:
        live = await session.scalar(select(PromptRow.live_version).where(PromptRow.name == name))
        if live is None:
            names = ", ".join(await session.scalars(select(PromptRow.name).order_by(PromptRow.name)))
            raise PromptNotFoundError(f"no prompt named {name!r}; prompts are: {names}")
        return live

    async def _next_version(self, session: AsyncSession, name: str) -> int:
        latest = await session.scalar(select(func.max(PromptVersionRow.version)).where(PromptVersionRow.name == name))
        return (latest or 0) + 1


def _version(row: PromptVersionRow, live_version: int) -> PromptVersion:
    return PromptVersion(
        name=row.name,
        version=row.version,
        text=row.text,
        author=row.author,
        note=row.note,
        created_at=row.created_at,
        live=row.version == live_version,
    )
