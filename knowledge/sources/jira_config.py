"""The ``[[sources]]`` entry of ``type = "jira"``: the site, what to sync (projects or JQL) and the credentials."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN, SaaSSourceConfig


class JiraSourceConfig(SaaSSourceConfig):
    """``[[sources]]`` entry of ``type = "jira"``.

    Cloud: ``email_env`` names the variable with the account's email, ``token_env`` its API token (basic auth, REST
    v3). Data Center: ``token_env`` alone, a personal access token (bearer, REST v2).
    """

    type: Literal["jira"] = "jira"
    token_env: str = Field(default="JIRA_TOKEN", pattern=ENVIRONMENT_VARIABLE_PATTERN)
    email_env: str | None = Field(default=None, pattern=ENVIRONMENT_VARIABLE_PATTERN)
    base_url: str = Field(description="The site, e.g. https://acme.atlassian.net or https://jira.acme.example")
    projects: tuple[str, ...] = Field(default=(), description="Project keys.")
    jql: str | None = Field(default=None, description="A JQL filter instead of projects, without ORDER BY.")
    # Jira hides many emails; this maps account ids (Cloud) or usernames (Data Center) to Slack emails.
    user_emails: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("projects")
    @classmethod
    def _project_keys(cls, projects: tuple[str, ...]) -> tuple[str, ...]:
        for key in projects:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
                raise ValueError(f"projects are project keys such as OPS, got {key!r}")
        return projects

    @field_validator("jql")
    @classmethod
    def _no_order(cls, jql: str | None) -> str | None:
        if jql is not None and re.search(r"\border\s+by\b", jql, re.IGNORECASE):
            raise ValueError("jql must not have ORDER BY: the connector orders by `updated` to sync incrementally")
        return jql

    @model_validator(mode="after")
    def _scope(self) -> JiraSourceConfig:
        if bool(self.projects) == bool(self.jql):
            raise ValueError("a jira source needs exactly one of `projects` (keys) or `jql`")
        return self

    @property
    def cloud(self) -> bool:
        return self.email_env is not None

    def secret_variables(self) -> tuple[str, ...]:
        return (self.token_env,) + ((self.email_env,) if self.email_env else ())
