"""What the end-to-end tests share: a small wiki folder synced into the real index, Switchboard started exactly as
``serve`` starts it (``Service.start`` + ``start_channels``) against it, and a scripted model that reads.

The scripted model stands in for the LLM only: it answers each step of the real agent graph the way a faithful
model would (an answer quoting the top source it was shown, citing it as ``[n]``), so everything else (retrieval,
access rules, prompts, rendering, storage) is the product's own code.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agents.prompts import SEED_DIRECTORY
from bot import sync_configured_source
from tests.agents.conftest import brain, role_of
from tests.bot.phone_calls import TOKEN
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import Responder, ScriptedModelServer, ScriptedReply
from tests.fakes.slack_api import FakeSlackApi
from tools import ToolsConfig

WIKI_URL = "https://wiki.northwind.example/"
VPN_PAGE = "it/vpn-certificate.md"
WIFI_PAGE = "it/guest-wifi.md"
RUNBOOK_PAGE = "security/incident-runbook.md"
# The restricted page's secret: it must reach the model only for readers in the `security` group.
CODE_WORD = "BLUEHERON"
PAGES = {
    VPN_PAGE: (
        "# VPN certificate rotation\n\n"
        "Rotate the VPN certificate every ninety days with the command nwvpn cert renew on your laptop.\n"
    ),
    "hr/parental-leave.md": "# Parental leave\n\nParents get sixteen weeks of paid parental leave.\n",
    WIFI_PAGE: "# Guest wifi\n\nGuests join the Northwind-Guest network with the password from reception.\n",
    RUNBOOK_PAGE: (
        "# Incident response runbook\n\n"
        f"During a security incident page the on-call responder and give the incident code word {CODE_WORD}.\n"
    ),
}
SECURITY_USER = "USEC"
INTAKE_CHANNEL = "C0INTAKE"
INTAKE_SYSTEM = (SEED_DIRECTORY / "intake_summary.md").read_text(encoding="utf-8").strip()[:60]
SOURCE_BLOCK = re.compile(r'<source n="(\d+)" title="([^"]*)"[^>]*>\n(.*?)\n</source>', re.DOTALL)


def wiki_source(folder: Path) -> dict[str, Any]:
    """The folder as a `[[sources]]` entry: public pages, the runbook readable by the `security` group only."""
    return {
        "type": "folder",
        "name": "wiki",
        "path": str(folder),
        "base_url": WIKI_URL,
        "sync_interval_minutes": 60,
        "access": [{"pattern": "security/**", "groups": ["security"]}],
    }


def reading_model(*, intake: dict[str, Any] | None = None) -> Responder:
    """A model that answers from the top source it was shown (citing it), accepts its draft on review, plans
    plainly, and writes ``intake`` as the intake note of a finished call."""
    steps = brain()

    def respond(body: dict[str, Any]) -> ScriptedReply:
        system = str(body["messages"][0]["content"]) if body["messages"][0]["role"] == "system" else ""
        if system.startswith(INTAKE_SYSTEM):
            return ScriptedReply(text=json.dumps(intake or {}))
        if role_of(body) != "act":
            return steps(body)
        shown = SOURCE_BLOCK.findall("\n".join(str(m.get("content") or "") for m in body["messages"]))
        if not shown:
            return ScriptedReply(text="That is not in the knowledge I was given.")
        number, _title, text = shown[0]
        return ScriptedReply(text=f"{text.strip()} [{number}]")

    return respond


def model_saw(model: ScriptedModelServer, text: str) -> bool:
    """Whether any chat request (any graph step, any prompt) carried ``text``; embeddings requests excluded."""
    return any(text in json.dumps(request) for request in model.requests if "messages" in request)


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    folder = tmp_path / "wiki"
    for relative, text in PAGES.items():
        page = folder / relative
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tools_config() -> ToolsConfig:
    """The ``[tools]`` settings Switchboard runs with; a test module overrides it to configure endpoints."""
    return ToolsConfig()


@asynccontextmanager
async def running_switchboard(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str, wiki: Path, **extra: Any
) -> AsyncIterator[RuntimeSlack]:
    """Switchboard as ``serve`` runs it (Slack, phone line, scheduler) over the synced wiki, the scripted model
    reading; model requests made while syncing are cleared so tests see only what answering sent. ``extra``
    settings go on top of the end-to-end ones."""
    overrides: dict[str, Any] = {
        "sources": [wiki_source(wiki)],
        "groups": {"security": [SECURITY_USER]},
        "prompt_editors": ["UEDITOR", SECURITY_USER],  # an editor may schedule runs into channels
        "twilio_auth_token": TOKEN,
        "intake_channel": INTAKE_CHANNEL,
        **extra,
    }
    async with slack_on_runtime(slack_api, scripted_model, database_url, **overrides) as harness:
        [source] = harness.service.settings.sources
        summary = await sync_configured_source(harness.service, source)
        assert summary.status == "succeeded", summary
        scripted_model.reset()
        scripted_model.responder = reading_model()
        yield harness


@pytest.fixture
async def switchboard(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    database_url: str,
    wiki: Path,
    tools_config: ToolsConfig,
) -> AsyncIterator[RuntimeSlack]:
    async with running_switchboard(slack_api, scripted_model, database_url, wiki, tools=tools_config) as harness:
        yield harness
