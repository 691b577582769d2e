"""The bot file: the whole bot as one TOML document (``switchboard export`` writes it, ``switchboard apply`` reads it).

Its sections say where each part lives. Prompts, candidate prompt versions, evaluation sets and curated answers live
in the database; knowledge sources, channel settings, schedules, enabled tools and tool allow-lists live in the config
file (``SWITCHBOARD_CONFIG``), and ``apply`` writes those sections there (schedules also straight to the database).
Secrets are never in it: sources name environment variables (``token_env``), and tool endpoints' header values are
left out (``apply`` keeps the config file's own).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.evaluation import CaseSpec
from agents.schedules import ScheduleDeclaration
from bot.settings import SlackChannelSettings
from knowledge import SourceConfig
from tools import ToolsConfig

FORMAT_VERSION = 1
# Where the config-file sections go in the config file: bot-file key -> config-file key path.
CONFIG_SECTIONS: dict[str, tuple[str, ...]] = {
    "sources": ("sources",),
    "channels": ("channels",),
    "enabled_tools": ("agent", "enabled_tools"),
    "tools": ("tools",),
    "schedules": ("schedules",),
}


class PromptEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    text: str = Field(min_length=1)


class CandidatePromptEntry(BaseModel):
    """A candidate version not live yet (waiting for its evaluation gate)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = Field(ge=1)
    text: str = Field(min_length=1)
    note: str = ""


class EvaluationSetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    cases: list[CaseSpec] = Field(default_factory=list)


class CuratedEntry(BaseModel):
    """A curated answer, identified by its question."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    author: str = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    workspace: str = "default"


class BotFile(BaseModel):
    """What a bot file may hold; unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT_VERSION
    prompts: dict[str, PromptEntry] = Field(default_factory=dict)
    candidate_prompts: list[CandidatePromptEntry] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    channels: dict[str, SlackChannelSettings] = Field(default_factory=dict)
    enabled_tools: list[str] | None = None
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    schedules: list[ScheduleDeclaration] = Field(default_factory=list)
    # Present only when exported with --with-eval-sets / --with-curated; absent sections are left alone by apply.
    eval_sets: list[EvaluationSetEntry] | None = None
    curated: list[CuratedEntry] | None = None


def config_values(raw: dict[str, Any], key: str) -> Any:
    """A config-file section's raw value (as written there) for a bot-file key; None when not set."""
    value: Any = raw
    for part in CONFIG_SECTIONS[key]:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
