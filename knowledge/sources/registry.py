"""Connector registry: ``type`` -> config model and factory, built-ins and entry-point plugins alike.

A third-party package adds a connector by exposing a :class:`SourceConnector` in the ``switchboard.sources``
entry-point group, e.g. in its pyproject.toml::

    [project.entry-points."switchboard.sources"]
    confluence = "switchboard_confluence:connector"

Its ``[[sources]]`` entries (``type = "confluence"``) are then validated by its config model and synced by the
same engine; nothing in Switchboard changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from knowledge.errors import SourceConfigError
from knowledge.sources.abc import Source
from knowledge.sources.confluence import ConfluenceSource, ConfluenceSourceConfig
from knowledge.sources.folder import FolderSource, FolderSourceConfig
from knowledge.sources.gdrive import GoogleDriveSource, GoogleDriveSourceConfig
from knowledge.sources.github import GitHubSource, GitHubSourceConfig
from knowledge.sources.jira import JiraSource, JiraSourceConfig
from knowledge.sources.notion import NotionSource, NotionSourceConfig
from knowledge.sources.saas_config import SourceSecrets
from knowledge.sources.slack_channels import SlackChannelsSource, SlackChannelsSourceConfig
from knowledge.sources.source_config import SourceConfigBase
from knowledge.sources.web import WebSource, WebSourceConfig

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "switchboard.sources"


@dataclass(frozen=True)
class SourceConnector:
    """One connector type: how its ``[[sources]]`` entry is validated and how a source is built from it."""

    type_name: str
    config_model: type[SourceConfigBase]
    create: Callable[..., Source]
    # The factory also takes the ``SourceSecrets`` its config's ``*_env`` keys name (SaaS connectors).
    takes_secrets: bool = False


BUILTIN_CONNECTORS: tuple[SourceConnector, ...] = (
    SourceConnector("folder", FolderSourceConfig, FolderSource),
    SourceConnector("web", WebSourceConfig, WebSource),
    SourceConnector("github", GitHubSourceConfig, GitHubSource, takes_secrets=True),
    SourceConnector("slack", SlackChannelsSourceConfig, SlackChannelsSource, takes_secrets=True),
    SourceConnector("confluence", ConfluenceSourceConfig, ConfluenceSource, takes_secrets=True),
    SourceConnector("jira", JiraSourceConfig, JiraSource, takes_secrets=True),
    SourceConnector("notion", NotionSourceConfig, NotionSource, takes_secrets=True),
    SourceConnector("gdrive", GoogleDriveSourceConfig, GoogleDriveSource, takes_secrets=True),
)

# The built-in configs as a pydantic discriminated union on ``type`` (for schemas and typed construction).
BuiltinSourceConfig = Annotated[
    FolderSourceConfig
    | WebSourceConfig
    | GitHubSourceConfig
    | SlackChannelsSourceConfig
    | ConfluenceSourceConfig
    | JiraSourceConfig
    | NotionSourceConfig
    | GoogleDriveSourceConfig,
    Field(discriminator="type"),
]


def source_connectors() -> dict[str, SourceConnector]:
    """Built-in connectors and those installed packages register under ``switchboard.sources``.

    Loaded on each call rather than at import, so importing knowledge never runs plugin code; a plugin that
    fails to load is logged and skipped instead of breaking every other source.
    """
    connectors = {connector.type_name: connector for connector in BUILTIN_CONNECTORS}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except Exception:
            logger.exception("source connector plugin %r failed to load; its sources are unavailable", entry_point.name)
            continue
        connector = loaded() if callable(loaded) and not isinstance(loaded, SourceConnector) else loaded
        if not isinstance(connector, SourceConnector):
            logger.error("entry point %r in %s is not a SourceConnector; ignored", entry_point.name, ENTRY_POINT_GROUP)
            continue
        if connector.type_name in connectors:
            logger.warning("source connector plugin %r replaces the connector of that type", connector.type_name)
        connectors[connector.type_name] = connector
    return connectors


def parse_source_config(value: Any) -> SourceConfigBase:
    """Validate one ``[[sources]]`` table with the config model its ``type`` names.

    Raises:
        SourceConfigError: ``type`` is missing or names no installed connector (pydantic reports it in context).
    """
    if isinstance(value, SourceConfigBase):
        return value
    if not isinstance(value, Mapping):
        raise SourceConfigError(f"a [[sources]] entry must be a table, got {type(value).__name__}")
    connectors = source_connectors()
    source_type = value.get("type")
    connector = connectors.get(source_type) if isinstance(source_type, str) else None
    if connector is None:
        raise SourceConfigError(
            f"[[sources]] entry {value.get('name', '?')!r} has type {source_type!r}; "
            f"known types: {', '.join(sorted(connectors))} (install a connector package for others)"
        )
    config: SourceConfigBase = connector.config_model.model_validate(dict(value))
    return config


# Field type for settings: any connector's config, dispatched on ``type`` through the registry (plugins included).
SourceConfig = Annotated[SourceConfigBase, BeforeValidator(parse_source_config)]


def create_source(config: SourceConfigBase, secrets: SourceSecrets | None = None) -> Source:
    """Build the source a validated config describes; SaaS sources get their tokens from ``secrets``."""
    connector = source_connectors().get(config.type)
    if connector is None or not isinstance(config, connector.config_model):
        raise SourceConfigError(f"no connector for source {config.name!r} of type {config.type!r}")
    if connector.takes_secrets:
        return connector.create(config, secrets or SourceSecrets())
    return connector.create(config)
