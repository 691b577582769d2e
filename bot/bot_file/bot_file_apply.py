"""``switchboard apply FILE``: make the bot what a bot file says, as a diff first, then in one transaction.

* Reading: a TOML syntax error or a value the bot cannot use is reported with its line number, and nothing changes.
* The diff is the current export against the file (same rendering), so it shows exactly what would change.
* Applying runs every store's own method inside one database transaction (each store's transactions become
  savepoints of it) and commits only if all succeed; the config-file sections are written to a temporary file
  first and moved over the config file only after the commit. Prompts whose text differs get a new version (never
  an edit in place), numbered as in the file when the history is shorter; parts already as the file says are left
  alone, so applying the same file twice changes nothing.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentError, PromptNotFoundError, PromptStore
from agents.curated import CuratedStore
from agents.evaluation import EvaluationSetStore
from agents.schedules import ScheduleStore
from bot.bot_file.bot_file_export import export_bot, read_config_file, render_bot_file, without_secrets
from bot.bot_file.bot_file_models import CONFIG_SECTIONS, BotFile, config_values
from bot.errors import BotError
from bot.settings import Settings
from bot.slack.schedule_destinations import SlackScheduleDestinations
from knowledge import Embedder, KnowledgeError

APPLY_AUTHOR = "switchboard apply"


class BotFileError(BotError, ValueError):
    """A bot file cannot be applied; the message lists each problem with its line number."""


def parse_bot_file(text: str, *, origin: str = "bot file") -> tuple[BotFile, dict[str, Any]]:
    """The validated bot file and its raw content.

    Raises:
        BotFileError: TOML syntax errors or unusable values, each with its line number.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BotFileError(f"{origin} is not valid TOML: {error}") from None
    try:
        return BotFile.model_validate(raw), raw
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            path = [part for part in detail["loc"] if not (isinstance(part, str) and "[" in part)]
            line = locate(text, path)
            where = ".".join(str(part) for part in path) or "(top level)"
            problems.append(f"{origin}, line {line}: {where}: {detail['msg']}")
        raise BotFileError("\n".join(problems)) from None


def locate(text: str, path: Sequence[str | int]) -> int:
    """The line (1-based) where ``path`` (``["sources", 1, "type"]``) is written in ``text``, as near as the TOML
    layout lets us tell: the table header of the entry, then the key inside it."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    best = 1
    prefix: list[str] = []
    index = 0
    while index < len(path):
        part = path[index]
        if isinstance(part, int):
            index += 1
            continue
        prefix.append(str(part))
        following = path[index + 1] if index + 1 < len(path) else None
        dotted = re.escape(".".join(prefix))
        if isinstance(following, int):
            headers = [n for n in range(start, end) if re.match(rf"\s*\[\[\s*{dotted}\s*\]\]", lines[n])]
            if following < len(headers):
                start = headers[following]
                end = next((n for n in range(start + 1, len(lines)) if re.match(r"\s*\[", lines[n])), len(lines))
                best = start + 1
                prefix = []
                index += 2
                continue
        found = next(
            (
                n
                for n in range(start, end)
                if re.match(rf"\s*\[+\s*{dotted}\s*\]+", lines[n])
                or re.match(rf"\s*{re.escape(str(part))}\s*=", lines[n])
            ),
            None,
        )
        if found is not None:
            best = found + 1
            start = found
            if lines[found].lstrip().startswith("["):
                end = next((n for n in range(found + 1, len(lines)) if re.match(r"\s*\[", lines[n])), len(lines))
                prefix = []
        index += 1
    return best


def bot_file_diff(current: str, wanted: str, *, name: str) -> str:
    """A unified diff from the bot as it is to the bot as the file says; empty when they agree."""
    lines = difflib.unified_diff(
        current.splitlines(keepends=True), wanted.splitlines(keepends=True), fromfile="current bot", tofile=name
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class BotFileApplication:
    """One ``apply``: the file, the bot as it is, and the diff between them; ``apply`` carries it out."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        text: str,
        *,
        embedder: Embedder | None = None,
        origin: str = "bot file",
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._settings = settings
        self._embedder = embedder
        self._origin = origin
        self.bot_file, self._raw = parse_bot_file(text, origin=origin)
        self._text = text

    async def diff(self) -> str:
        current = await export_bot(
            self._sessions,
            self._settings,
            embedder=self._embedder,
            with_eval_sets=self.bot_file.eval_sets is not None,
            with_curated=self.bot_file.curated is not None,
        )
        wanted = self._wanted()
        wanted["prompts"] = await self._resulting_prompt_versions(current.get("prompts") or {})
        return bot_file_diff(render_bot_file(current), render_bot_file(wanted), name=self._origin)

    async def _resulting_prompt_versions(self, current: dict[str, Any]) -> dict[str, Any]:
        """The file's prompts with the version each will have once applied: an unchanged text keeps its live
        version (whatever the file says), a changed one gets the next version or the file's, whichever is higher."""
        store = PromptStore(self._sessions)
        resulting: dict[str, Any] = {}
        for name, entry in self.bot_file.prompts.items():
            text = entry.text.strip()
            now = current.get(name)
            if now is not None and now["text"] == text:
                resulting[name] = {"version": now["version"], "text": text}
                continue
            latest = (await store.history(name))[0].version if now is not None else 0
            resulting[name] = {"version": max(latest + 1, entry.version), "text": text}
        return dict(sorted(resulting.items()))

    def _wanted(self) -> dict[str, Any]:
        """The file's content in export form (so its rendering compares line by line with an export)."""
        wanted = dict(self._raw)
        wanted.setdefault("candidate_prompts", [])
        wanted.setdefault("schedules", [])
        wanted["schedules"] = sorted(
            (
                {
                    "when": " ".join(s.when.split()),
                    "channel": s.channel,
                    "instruction": s.instruction,
                    "owner": s.owner,
                    "timezone": s.timezone or self._settings.schedule_default_timezone,
                }
                for s in self.bot_file.schedules
            ),
            key=lambda s: (s["channel"], s["instruction"], s["when"], s["owner"]),
        )
        ordered: dict[str, Any] = {k: wanted[k] for k in ("format", "prompts", "candidate_prompts") if k in wanted}
        ordered.update({key: without_secrets(key, wanted[key]) for key in CONFIG_SECTIONS if key in wanted})
        ordered.update({key: value for key, value in wanted.items() if key not in ordered})
        return ordered

    async def apply(self) -> list[str]:
        """Carry the changes out in one transaction; returns what was done, one line per change."""
        done: list[str] = []
        config_text = self._new_config_text()
        async with self._engine.connect() as connection:
            transaction = await connection.begin()
            sessions = async_sessionmaker(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            try:
                done += await self._apply_prompts(sessions)
                done += await self._apply_schedules(sessions)
                if self.bot_file.eval_sets is not None:
                    done += await self._apply_eval_sets(sessions)
                if self.bot_file.curated is not None:
                    done += await self._apply_curated(sessions)
                staged = self._stage_config(config_text)
            except (AgentError, KnowledgeError, ValueError) as error:
                await transaction.rollback()
                raise BotFileError(f"{self._origin} was not applied (nothing changed): {error}") from error
            except BaseException:
                await transaction.rollback()
                raise
            await transaction.commit()
        if staged is not None:
            config_path, temporary = staged
            os.replace(temporary, config_path)
            done.append(f"config file {config_path}: sources, channels, tools and schedules updated")
        return done

    async def _apply_prompts(self, sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        store = PromptStore(sessions)
        done = []
        for name, entry in sorted(self.bot_file.prompts.items()):
            try:
                live = await store.get(name)
            except PromptNotFoundError:
                live = None
            if live is not None and live.text == entry.text.strip():
                continue
            try:
                made = await store.set(
                    name, entry.text, APPLY_AUTHOR, note=f"applied from {self._origin}", version_at_least=entry.version
                )
            except AgentError as error:
                raise BotFileError(f"line {locate(self._text, ['prompts', name])}: {error}") from error
            done.append(f"prompt {name}: new live version v{made.version}")
        for candidate in self.bot_file.candidate_prompts:
            history = await store.history(candidate.name)
            live_version = next(version.version for version in history if version.live)
            if any(v.version > live_version and v.text == candidate.text.strip() for v in history):
                continue
            made = await store.propose(
                candidate.name, candidate.text, APPLY_AUTHOR, note=candidate.note, version_at_least=candidate.version
            )
            done.append(f"prompt {candidate.name}: candidate version v{made.version} (not live)")
        return done

    async def _apply_schedules(self, sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        store = ScheduleStore(
            sessions, SlackScheduleDestinations(), default_timezone=self._settings.schedule_default_timezone
        )
        before = {(s.channel, s.instruction, s.when, s.owner, s.timezone) for s in await store.enabled_schedules()}
        # Every schedule becomes a declared one: those made in chat and kept by the file are declared instead.
        for schedule in await store.enabled_schedules():
            if schedule.origin == "chat":
                await store.remove(schedule.id, by=APPLY_AUTHOR, roles=("admin",))
        await store.sync_declarations(self.bot_file.schedules)
        after = {(s.channel, s.instruction, s.when, s.owner, s.timezone) for s in await store.enabled_schedules()}
        return [f"schedule removed: {s[2]} in {s[0]}: {s[1][:60]}" for s in sorted(before - after)] + [
            f"schedule added: {s[2]} in {s[0]}: {s[1][:60]}" for s in sorted(after - before)
        ]

    async def _apply_eval_sets(self, sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        store = EvaluationSetStore(sessions)
        done = []
        for entry in self.bot_file.eval_sets or []:
            summary = await store.import_cases(entry.name, entry.cases, author=APPLY_AUTHOR)
            keys = {case.case_key() for case in entry.cases}
            retired = [c.case_key() for c in await store.cases(entry.name) if c.case_key() not in keys]
            for key in retired:
                await store.retire_case(entry.name, key)
            if summary.added or summary.changed or retired:
                done.append(
                    f"evaluation set {entry.name}: {summary.added} added, {summary.changed} changed, "
                    f"{len(retired)} retired"
                )
        return done

    async def _apply_curated(self, sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        store = CuratedStore(sessions, self._embedder)
        existing = {(a.workspace_id, a.live.question): a for a in await store.list_answers()}
        done = []
        wanted = set()
        for entry in self.bot_file.curated or []:
            key = (entry.workspace, entry.question.strip())
            wanted.add(key)
            current = existing.get(key)
            if current is None:
                made = await store.add(
                    entry.question,
                    entry.answer,
                    author=entry.author,
                    sources=entry.sources,
                    channels=entry.channels,
                    workspace_id=entry.workspace,
                )
                done.append(f"curated answer #{made.id} added: {entry.question[:60]}")
            elif (
                current.live.answer != entry.answer.strip()
                or [s.url for s in current.live.sources] != entry.sources
                or sorted(current.channels) != sorted(entry.channels)
            ):
                made = await store.edit(
                    current.id, author=entry.author, answer=entry.answer, sources=entry.sources, channels=entry.channels
                )
                done.append(f"curated answer #{made.id}: new version v{made.live.version}")
        for key, answer in existing.items():
            if key not in wanted:
                await store.retire(answer.id, author=APPLY_AUTHOR)
                done.append(f"curated answer #{answer.id} retired: {answer.live.question[:60]}")
        return done

    def _config_path(self) -> Path:
        configured = self._settings.switchboard_config
        return Path(configured) if configured is not None else Path("switchboard.toml")

    def _new_config_text(self) -> str | None:
        """The config file with the bot file's config sections in it; None when it already has them."""
        path = self._config_path()
        original = path.read_text(encoding="utf-8") if path.exists() else ""
        current = read_config_file(self._settings)
        document = tomlkit.parse(original)
        changed = False
        for key, location in CONFIG_SECTIONS.items():
            wanted = self._raw.get(key)
            if key == "schedules":
                wanted = [s.model_dump(exclude_none=True) for s in self.bot_file.schedules] or None
            if key == "tools" and isinstance(wanted, dict):
                wanted = _keep_headers(wanted, config_values(current, "tools") or {})
            if wanted == config_values(current, key):
                continue
            changed = True
            container: Any = document
            for part in location[:-1]:
                if part not in container:
                    container[part] = tomlkit.table()
                container = container[part]
            if wanted is None:
                container.pop(location[-1], None)
            else:
                container[location[-1]] = wanted
        if not changed:
            return None
        return tomlkit.dumps(document)

    def _stage_config(self, config_text: str | None) -> tuple[Path, Path] | None:
        """Check the new config file and write it next to the old one, to be moved over it after the commit."""
        if config_text is None:
            return None
        try:
            Settings(**tomllib.loads(config_text))
        except ValidationError as error:
            raise BotFileError(f"the config file would not be valid: {error}") from None
        path = self._config_path()
        handle, temporary = tempfile.mkstemp(prefix=".switchboard-apply-", suffix=".toml", dir=path.parent or ".")
        with os.fdopen(handle, "w", encoding="utf-8") as written:
            written.write(config_text)
        return path, Path(temporary)


def _keep_headers(wanted: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The file's ``[tools]`` with each endpoint's secret headers taken from the config file as it is."""
    merged = dict(wanted)
    endpoints = {name: dict(value) for name, value in (wanted.get("endpoints") or {}).items()}
    for name, endpoint in endpoints.items():
        headers = ((current.get("endpoints") or {}).get(name) or {}).get("headers")
        if headers:
            endpoint["headers"] = headers
    if endpoints:
        merged["endpoints"] = endpoints
    return merged
