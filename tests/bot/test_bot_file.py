"""The bot as one TOML file: export then apply on an empty database reproduces it (export again: the same file);
applying twice changes nothing; a bad file is refused with line numbers and changes nothing; secrets stay out."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import PromptStore
from agents.curated import CuratedStore
from agents.evaluation import CaseSpec, EvaluationSetStore
from agents.schedules import ScheduleStore
from bot import EmbeddedPostgres, upgrade_database
from bot.bot_file import BotFileApplication, BotFileError, export_bot, render_bot_file
from bot.settings import Settings
from bot.slack.schedule_destinations import SlackScheduleDestinations
from knowledge import create_engine, session_factory
from testing_support.databases import create_database, drop_database

CONFIG = """\
# The team's config file: comments outside the bot's sections survive an apply.
log_level = "INFO"

[[sources]]
type = "folder"
name = "handbook"
path = "examples/handbook"
sync_interval_minutes = 30
access = [{ pattern = "hr/*", groups = ["hr"] }]

[channels.C0HELP]
sources = ["handbook"]

[agent]
enabled_tools = ["search_knowledge", "http_request"]

[tools]
fetch_allowed_domains = ["example.com"]

[tools.endpoints.tickets]
url = "https://tickets.example.com/api"
description = "open a ticket"
headers = { Authorization = "Bearer very-secret-token" }
"""


def _settings(config_path: Path) -> Settings:
    return Settings(**tomllib.loads(config_path.read_text(encoding="utf-8")), switchboard_config=config_path)


@pytest.fixture
def empty_database(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    url = create_database(postgres_server.url)
    upgrade_database(url)
    yield url
    drop_database(postgres_server.url, url)


@pytest.fixture
async def other_engine(empty_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_database)
    yield engine
    await engine.dispose()


async def _build_bot(sessions: async_sessionmaker[AsyncSession]) -> None:
    prompts = PromptStore(sessions)
    await prompts.seed()
    await prompts.set("answer", 'Answer briefly.\nCite sources as [n]; quote """exactly""".', "U_EDITOR")
    await prompts.set("answer", "Answer briefly and kindly.\nCite sources as [n].", "U_EDITOR")
    await prompts.propose("answer", "Answer in one sentence.", "U_EDITOR", note="shorter")
    schedules = ScheduleStore(sessions, SlackScheduleDestinations())
    await schedules.add(
        when="every weekday at 9:00",
        channel="C0OPS",
        instruction="Summarise open incidents",
        owner="U_ADMIN",
        roles=("admin",),
    )
    await EvaluationSetStore(sessions).import_cases(
        "smoke", [CaseSpec(question="How do I rotate the VPN cert?", expected_facts=["vpnctl rotate"])], author="t"
    )
    await CuratedStore(sessions).add("Who approves expenses?", "Your manager, in the expenses tool.", author="U_EDITOR")


async def test_export_then_apply_on_an_empty_database_reproduces_the_bot_and_a_second_apply_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], other_engine: AsyncEngine, tmp_path: Path
) -> None:
    source_config = tmp_path / "staging.toml"
    source_config.write_text(CONFIG, encoding="utf-8")
    await _build_bot(sessions)
    exported = render_bot_file(
        await export_bot(sessions, _settings(source_config), with_eval_sets=True, with_curated=True)
    )
    assert "very-secret-token" not in exported and "Authorization" not in exported
    parsed = tomllib.loads(exported)
    assert parsed["prompts"]["answer"]["version"] == 3
    assert parsed["candidate_prompts"][0]["text"] == "Answer in one sentence."
    assert parsed["sources"][0]["sync_interval_minutes"] == 30 and parsed["channels"]["C0HELP"]["sources"]
    assert parsed["schedules"][0]["channel"] == "C0OPS" and parsed["eval_sets"][0]["name"] == "smoke"
    assert parsed["curated"][0]["question"] == "Who approves expenses?"

    target_config = tmp_path / "production.toml"
    target_config.write_text('# production\nlog_level = "INFO"\n', encoding="utf-8")
    target_sessions = session_factory(other_engine)
    application = BotFileApplication(other_engine, target_sessions, _settings(target_config), exported)
    diff = await application.diff()
    assert "Answer briefly and kindly." in diff and "sync_interval_minutes = 30" in diff
    done = await application.apply()
    assert any("prompt answer: new live version v3" in line for line in done)

    assert "# production" in target_config.read_text(encoding="utf-8")
    again = render_bot_file(
        await export_bot(target_sessions, _settings(target_config), with_eval_sets=True, with_curated=True)
    )
    assert again == exported
    # The endpoint exists in the target's config file, without the staging secret (it never left staging).
    assert "very-secret-token" not in target_config.read_text(encoding="utf-8")

    second = BotFileApplication(other_engine, target_sessions, _settings(target_config), exported)
    assert await second.diff() == ""
    config_before = target_config.read_text(encoding="utf-8")
    assert await second.apply() == []
    assert target_config.read_text(encoding="utf-8") == config_before
    history = await PromptStore(target_sessions).history("answer")
    assert [version.version for version in history] == [4, 3, 1]


async def test_a_bad_file_is_refused_with_line_numbers_and_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(CONFIG, encoding="utf-8")
    settings = _settings(config)
    before = render_bot_file(await export_bot(sessions, settings))
    engine = create_engine(str(sessions.kw["bind"].url.render_as_string(hide_password=False)))
    try:
        with pytest.raises(BotFileError, match="not valid TOML") as syntax:
            BotFileApplication(engine, sessions, settings, before + "\n[prompts\n")
        assert "line" in str(syntax.value)

        bad_values = before.replace('type = "folder"', 'type = "floppy"').replace(
            "[prompts.answer]", "[prompts.answer]\ncolour = 3"
        )
        with pytest.raises(BotFileError) as invalid:
            BotFileApplication(engine, sessions, settings, bad_values)
        lines = bad_values.splitlines()
        colour_line = next(i for i, line in enumerate(lines, 1) if line.startswith("colour"))
        assert f"line {colour_line}: prompts.answer.colour" in str(invalid.value)
        assert "sources" in str(invalid.value)

        # Valid as a file, refused half-way by the prompt store: the first change is rolled back with it.
        half_way = (
            before
            + '\n[prompts.aa_new]\nversion = 1\ntext = "A new prompt."\n'
            + ('\n[prompts.zz_bad]\nversion = 1\ntext = "   "\n')
        )
        application = BotFileApplication(engine, sessions, settings, half_way)
        with pytest.raises(BotFileError, match="nothing changed"):
            await application.apply()
        assert render_bot_file(await export_bot(sessions, settings)) == before
        assert config.read_text(encoding="utf-8") == CONFIG
    finally:
        await engine.dispose()
