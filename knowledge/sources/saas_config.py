"""What every permission-synced (SaaS) source's config shares, and the secrets handed to it from the settings.

Tokens never appear in the config file: each source names the environment variable that holds its token
(``token_env``), so two sources of one type can use two tokens. The settings read those variables (nothing in
``knowledge`` reads the environment) and pass them down as a ``SourceSecrets``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from knowledge.errors import SourceAuthError
from knowledge.sources.source_config import SourceConfigBase

ENVIRONMENT_VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SaaSSourceConfig(SourceConfigBase):
    """Keys shared by sources with permissions of their own (Confluence, Slack channels, GitHub)."""

    token_env: str = Field(
        pattern=ENVIRONMENT_VARIABLE_PATTERN,
        description="The environment variable holding this source's token (never the token itself).",
    )
    permission_sync_minutes: float = Field(
        default=10.0, gt=0, description="How often access lists and groups are re-read, without fetching content."
    )
    deletion_check_minutes: float = Field(
        default=360.0, gt=0, description="How often a sync lists every id to find deleted documents."
    )
    overlap_minutes: float = Field(
        default=10.0, ge=0, description="Incremental syncs re-read changes this far before the last sync's start."
    )
    max_concurrency: int = Field(default=4, ge=1, le=32, description="Requests in flight at once to this source.")
    max_retries: int = Field(default=5, ge=0, le=20, description="Retries of 429, 5xx and connection errors.")
    timeout_seconds: float = Field(default=30.0, gt=0)

    def secret_variables(self) -> tuple[str, ...]:
        """Every environment variable this source reads its credentials from."""
        return (self.token_env,)


class SourceSecrets(BaseModel):
    """Environment variables named by sources' ``*_env`` keys, read once by the settings."""

    model_config = ConfigDict(frozen=True)

    values: Mapping[str, SecretStr] = Field(default_factory=dict)

    def require(self, source: str, variable: str) -> str:
        """The variable's value, or an error that says which source needs which variable."""
        value = self.values.get(variable)
        if value is None or not value.get_secret_value():
            raise SourceAuthError(
                f"source {source!r}: environment variable {variable} is not set; put the source's token in it "
                "(see the README section of this source type for the scopes it needs)"
            )
        return value.get_secret_value()
