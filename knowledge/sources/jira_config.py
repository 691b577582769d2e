"""The ``[[sources]]`` entry of ``type = "jira"``: the site, what to sync (projects or JQL) and the credentials."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from knowledge.sources.atlassian_site import AtlassianSiteConfig
from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN


class JiraSourceConfig(AtlassianSiteConfig):
    """``[[sources]]`` entry of ``type = "jira"``.

    Cloud: ``email_env`` names the variable with the account's email, ``token_env`` its API token (basic auth, REST
    v3). Data Center: ``token_env`` alone, a personal access token (bearer, REST v2).
    """

    type: Literal["jira"] = "jira"
    token_env: str = Field(default="JIRA_TOKEN", pattern=ENVIRONMENT_VARIABLE_PATTERN)
    projects: tuple[str, ...] = Field(default=(), description="Project keys.")
    jql: str | None = Field(default=None, description="A JQL filter instead of projects, without ORDER BY.")

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
