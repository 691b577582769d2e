"""``switchboard export``: the bot as one readable TOML document, the same for the same bot (no timestamps, stable
order), so two exports diff cleanly and a file kept in git changes only where the bot did."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tomlkit.items import AoT, Table

from agents import PromptStore
from agents.curated import EVALUATION_SET, CuratedStore
from agents.evaluation import EvaluationSetStore
from agents.schedules import ScheduleStore
from bot.bot_file.bot_file_models import CONFIG_SECTIONS, FORMAT_VERSION, config_values
from bot.settings import Settings
from bot.slack.schedule_destinations import SlackScheduleDestinations
from knowledge import Embedder

HEADER = (
    "Switchboard bot definition, written by `switchboard export`; change it and run `switchboard apply FILE`.\n"
    "Secrets are not in it: sources name the environment variables that hold tokens, and tool endpoints'\n"
    "header values stay in the config file. Prompts: `version` is the live version the text was exported from."
)


def read_config_file(settings: Settings) -> dict[str, Any]:
    """The config file as written (not as validated, so an export repeats what its author wrote); {} without one."""
    path = settings.switchboard_config
    if path is None or not Path(path).exists():
        return {}
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


def without_secrets(key: str, value: Any) -> Any:
    """A config section with secret values removed (tool endpoints' headers)."""
    if key != "tools" or not isinstance(value, dict):
        return value
    cleaned = copy.deepcopy(value)
    for endpoint in (cleaned.get("endpoints") or {}).values():
        if isinstance(endpoint, dict):
            endpoint.pop("headers", None)
    return cleaned


async def export_bot(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    with_eval_sets: bool = False,
    with_curated: bool = False,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bot file's content as plain data (what ``render_bot_file`` writes)."""
    raw = read_config_file(settings) if config is None else config
    document: dict[str, Any] = {"format": FORMAT_VERSION}
    prompts = PromptStore(sessions)
    document["prompts"] = {}
    candidates: list[dict[str, Any]] = []
    for summary in await prompts.list_prompts():
        live = await prompts.get(summary.name)
        document["prompts"][summary.name] = {"version": live.version, "text": live.text}
        for version in reversed(await prompts.history(summary.name)):
            if version.version > live.version:
                entry = {"name": version.name, "version": version.version, "text": version.text}
                candidates.append({**entry, "note": version.note} if version.note else entry)
    document["candidate_prompts"] = candidates
    for key in CONFIG_SECTIONS:
        if key == "schedules":
            continue
        value = config_values(raw, key)
        if value is not None:
            document[key] = without_secrets(key, value)
    schedules = ScheduleStore(
        sessions, SlackScheduleDestinations(), default_timezone=settings.schedule_default_timezone
    )
    declared = [
        {
            "when": schedule.when,
            "channel": schedule.channel,
            "instruction": schedule.instruction,
            "owner": schedule.owner,
            "timezone": schedule.timezone,
        }
        for schedule in await schedules.enabled_schedules()
    ]
    document["schedules"] = sorted(declared, key=lambda s: (s["channel"], s["instruction"], s["when"], s["owner"]))
    if with_eval_sets:
        document["eval_sets"] = await _evaluation_sets(sessions)
    if with_curated:
        curated = await CuratedStore(sessions, embedder).list_answers()
        entries = [
            {
                "question": answer.live.question,
                "answer": answer.live.answer,
                "author": answer.live.author,
                "sources": [source.url for source in answer.live.sources],
                "channels": sorted(answer.channels),
                "workspace": answer.workspace_id,
            }
            for answer in curated
        ]
        document["curated"] = sorted(entries, key=lambda e: (e["workspace"], e["question"]))
    return document


async def _evaluation_sets(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Every evaluation set but ``curated`` (that one mirrors the curated answers and follows them)."""
    store = EvaluationSetStore(sessions)
    sets = []
    for summary in await store.sets():
        if summary.name == EVALUATION_SET:
            continue
        cases = []
        for case in await store.cases(summary.name):
            entry: dict[str, Any] = {"key": case.case_key(), "question": case.question}
            if case.expected_facts:
                entry["expected_facts"] = case.expected_facts
            if case.expected_sources:
                entry["expected_sources"] = case.expected_sources
            if case.reference_answer:
                entry["reference_answer"] = case.reference_answer
            entry["answerable"] = case.answerable
            cases.append(entry)
        sets.append({"name": summary.name, "cases": cases})
    return sets


def render_bot_file(document: dict[str, Any]) -> str:
    """TOML with multi-line strings for texts, tables for records and arrays of tables for lists of records."""
    rendered = tomlkit.document()
    for line in HEADER.splitlines():
        rendered.add(tomlkit.comment(line))
    rendered.add(tomlkit.nl())
    scalars = {k: v for k, v in document.items() if not _is_table_like(v)}
    for key, value in scalars.items():
        rendered.add(key, _item(value))
    for key, value in document.items():
        if key in scalars:
            continue
        rendered.add(tomlkit.nl())
        rendered.add(key, _item(value))
    return tomlkit.dumps(rendered)


def _is_table_like(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and bool(value) and isinstance(value[0], dict))


def _item(value: Any) -> Any:
    if isinstance(value, str):
        return tomlkit.string(value, multiline="\n" in value)
    if isinstance(value, dict):
        table: Table = tomlkit.table()
        for key, inner in value.items():
            table.add(key, _item(inner))
        return table
    if isinstance(value, list) and value and all(isinstance(entry, dict) for entry in value):
        array: AoT = tomlkit.aot()
        for entry in value:
            array.append(_item(entry))
        return array
    if isinstance(value, list):
        items = tomlkit.array()
        for entry in value:
            items.append(_item(entry))
        return items
    return value
