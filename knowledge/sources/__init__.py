"""Knowledge sources (connectors), the protocol they share, and the registry that builds them from config."""

from knowledge.sources.abc import FetchFailure, FetchResult, KnownDocument, Source, Unchanged
from knowledge.sources.confluence import ConfluenceSource, ConfluenceSourceConfig
from knowledge.sources.folder import FolderSource, FolderSourceConfig
from knowledge.sources.gdrive import GoogleDriveSource, GoogleDriveSourceConfig
from knowledge.sources.github import GitHubSource, GitHubSourceConfig
from knowledge.sources.jira import JiraSource, JiraSourceConfig
from knowledge.sources.notion import NotionAccess, NotionSource, NotionSourceConfig
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource
from knowledge.sources.registry import (
    BUILTIN_CONNECTORS,
    ENTRY_POINT_GROUP,
    BuiltinSourceConfig,
    SourceConfig,
    SourceConnector,
    create_source,
    parse_source_config,
    source_connectors,
)
from knowledge.sources.saas_config import SaaSSourceConfig, SourceSecrets
from knowledge.sources.slack_channels import SlackChannelsSource, SlackChannelsSourceConfig
from knowledge.sources.source_config import AccessGrant, AccessRule, SourceAccessConfig, SourceConfigBase
from knowledge.sources.web import WebSource, WebSourceConfig

__all__ = [
    "BUILTIN_CONNECTORS",
    "ENTRY_POINT_GROUP",
    "AccessGrant",
    "AccessUpdate",
    "ConfluenceSource",
    "ConfluenceSourceConfig",
    "ExternalGroup",
    "GitHubSource",
    "GoogleDriveSource",
    "GoogleDriveSourceConfig",
    "GitHubSourceConfig",
    "JiraSource",
    "JiraSourceConfig",
    "NotionAccess",
    "NotionSource",
    "NotionSourceConfig",
    "PermissionedSource",
    "SaaSSourceConfig",
    "SourceSecrets",
    "SlackChannelsSource",
    "SlackChannelsSourceConfig",
    "AccessRule",
    "BuiltinSourceConfig",
    "FetchFailure",
    "FetchResult",
    "FolderSource",
    "FolderSourceConfig",
    "KnownDocument",
    "Source",
    "SourceAccessConfig",
    "SourceConfig",
    "SourceConfigBase",
    "SourceConnector",
    "Unchanged",
    "WebSource",
    "WebSourceConfig",
    "create_source",
    "parse_source_config",
    "source_connectors",
]
