"""``[[sources]]`` entries are validated by their connector's config model and built through one registry,
including connectors that other packages register under the ``switchboard.sources`` entry-point group."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from knowledge.documents import AccessList, SourceDocument
from knowledge.errors import SourceAuthError
from knowledge.sources import (
    FolderSource,
    FolderSourceConfig,
    GoogleDriveSourceConfig,
    JiraSource,
    JiraSourceConfig,
    NotionSource,
    NotionSourceConfig,
    SourceConfig,
    SourceSecrets,
    WebSource,
    WebSourceConfig,
    create_source,
)

HANDBOOK_SOURCES = """
[[sources]]
type = "folder"
name = "handbook"
path = "examples/handbook"
base_url = "https://handbook.northwind.example/"
ignore = ["drafts/**", "*.tmp"]
access = [
  { pattern = "hr/compensation-bands.md", groups = ["hr"] },
  { pattern = "security/incident-response-runbook.md", groups = ["security"] },
]

[[sources]]
type = "web"
name = "engineering-docs"
sitemap_url = "https://docs.northwind.example/sitemap.xml"
allowed_path_prefix = "/engineering/"
max_pages = 200
delay_seconds = 1.0
sync_interval_minutes = 30
"""


class ConfigFile(BaseModel):
    sources: list[SourceConfig] = []


def test_sources_from_toml_are_validated_by_type_and_built_by_the_registry() -> None:
    config = ConfigFile.model_validate(tomllib.loads(HANDBOOK_SOURCES))

    handbook, docs = config.sources
    assert isinstance(handbook, FolderSourceConfig) and isinstance(docs, WebSourceConfig)
    assert handbook.access_for("hr/compensation-bands.md") == AccessList.restricted(groups=["hr"])
    assert handbook.access_for("it/vpn.md").public
    assert docs.scope().path_prefix == "/engineering/" and docs.sync_interval_minutes == 30
    assert isinstance(create_source(handbook), FolderSource)
    assert isinstance(create_source(docs), WebSource)


SAAS_SOURCES = """
[[sources]]
type = "jira"
name = "ops-tickets"
base_url = "https://acme.atlassian.net"
projects = ["OPS", "IT"]
email_env = "JIRA_EMAIL"

[[sources]]
type = "notion"
name = "wiki-notion"
access_map = { workspace = { groups = ["engineering"] }, "1f2e3d4c5b6a79881f2e3d4c5b6a7988" = { groups = ["hr"] } }

[[sources]]
type = "gdrive"
name = "team-drive"
folders = ["1AbCdEfGhIjKlMnOpQrStUvWxYz012345"]
credentials_env = "GOOGLE_KEY"
impersonate = "it-admin@acme.example"
"""


def test_jira_notion_and_drive_entries_are_validated_and_name_their_secret_variables() -> None:
    jira, notion, drive = ConfigFile.model_validate(tomllib.loads(SAAS_SOURCES)).sources

    assert isinstance(jira, JiraSourceConfig) and jira.secret_variables() == ("JIRA_TOKEN", "JIRA_EMAIL")
    assert isinstance(notion, NotionSourceConfig) and notion.secret_variables() == ("NOTION_TOKEN",)
    assert isinstance(drive, GoogleDriveSourceConfig) and drive.secret_variables() == ("GOOGLE_KEY",)
    secrets = SourceSecrets(values={name: SecretStr("x") for name in ("JIRA_TOKEN", "JIRA_EMAIL", "NOTION_TOKEN")})
    assert isinstance(create_source(jira, secrets), JiraSource)
    assert isinstance(create_source(notion, secrets), NotionSource)
    with pytest.raises(SourceAuthError, match="GOOGLE_KEY"):
        create_source(drive, secrets)


def test_unknown_types_and_misspelt_fields_are_reported_with_what_to_do() -> None:
    with pytest.raises(
        ValidationError, match="known types: confluence, folder, gdrive, github, jira, notion, slack, web"
    ):
        ConfigFile.model_validate({"sources": [{"type": "sharepoint", "name": "sp"}]})
    with pytest.raises(ValidationError, match="ignores"):
        ConfigFile.model_validate({"sources": [{"type": "folder", "name": "h", "path": ".", "ignores": ["x"]}]})


PLUGIN_MODULE = """
from typing import Literal

from knowledge.documents import SourceDocument
from knowledge.sources import Source, SourceConfigBase, SourceConnector


class NotesConfig(SourceConfigBase):
    type: Literal["notes"] = "notes"
    notes: list[str]


class NotesSource(Source):
    def __init__(self, config: NotesConfig) -> None:
        self.name = config.name
        self.notes = config.notes

    async def fetch(self, known):
        for number, note in enumerate(self.notes):
            yield SourceDocument(
                source=self.name, external_id=str(number), title=note, url=f"https://notes.example/{number}",
                content=note,
            )


connector = SourceConnector("notes", NotesConfig, NotesSource)
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A connector package 'installed' the way pip does it: a module plus dist-info with an entry point."""
    (tmp_path / "switchboard_notes_connector.py").write_text(textwrap.dedent(PLUGIN_MODULE), encoding="utf-8")
    dist_info = tmp_path / "switchboard_notes_connector-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: switchboard-notes-connector\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[switchboard.sources]\nnotes = switchboard_notes_connector:connector\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("switchboard_notes_connector", None)


async def test_a_connector_registered_by_entry_point_plugs_in_without_changes(installed_plugin: None) -> None:
    config = ConfigFile.model_validate({"sources": [{"type": "notes", "name": "notes", "notes": ["Lunch at 12"]}]})

    source = create_source(config.sources[0])
    documents = [document async for document in source.fetch({})]

    assert type(config.sources[0]).__name__ == "NotesConfig"
    assert len(documents) == 1
    assert isinstance(documents[0], SourceDocument) and documents[0].title == "Lunch at 12"
