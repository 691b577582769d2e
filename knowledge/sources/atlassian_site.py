"""What Confluence and Jira share: an Atlassian site's config keys, its authenticated API client, and the group
members read from it.

Cloud authenticates with the account's email and an API token (basic auth); Data Center with a personal access
token alone (bearer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from pydantic import Field, field_validator

from knowledge.sources.api_client import SourceApiClient
from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN, SaaSSourceConfig, SourceSecrets


class AtlassianSiteConfig(SaaSSourceConfig):
    """The keys every Atlassian source has: ``base_url``, ``email_env`` (Cloud) beside ``token_env``, and
    ``user_emails`` (the site hides many emails; this maps account ids or usernames to Slack emails)."""

    email_env: str | None = Field(default=None, pattern=ENVIRONMENT_VARIABLE_PATTERN)
    base_url: str = Field(description="The site, e.g. https://acme.atlassian.net (Confluence: .../wiki)")
    user_emails: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @property
    def cloud(self) -> bool:
        return self.email_env is not None

    def secret_variables(self) -> tuple[str, ...]:
        return (self.token_env,) + ((self.email_env,) if self.email_env else ())


def atlassian_api_client(config: AtlassianSiteConfig, secrets: SourceSecrets) -> SourceApiClient:
    """The site's API client: basic auth with the email on Cloud, the token as bearer on Data Center."""
    token = secrets.require(config.name, config.token_env)
    auth: httpx.Auth | None = None
    headers = {"Accept": "application/json"}
    if config.email_env:
        auth = httpx.BasicAuth(secrets.require(config.name, config.email_env), token)
    else:
        headers["Authorization"] = f"Bearer {token}"
    return SourceApiClient(
        source=config.name,
        base_url=config.base_url,
        headers=headers,
        token_variable=config.token_env,
        max_concurrency=config.max_concurrency,
        max_retries=config.max_retries,
        timeout_seconds=config.timeout_seconds,
        auth=auth,
    )


@dataclass
class GroupMembers:
    """The site's groups read so far in a permission sync: members by group, and why a group could not be read."""

    members: dict[str, frozenset[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
