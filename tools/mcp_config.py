"""What an ``[[mcp_servers]]`` entry of the config file says: how to reach the server and which of its tools to offer.

Secret values (header values, child-process environment) arrive here already resolved by the service's settings;
they are ``SecretStr`` so they never show up in a repr or a log line.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tools.permissions import Role

# ``server__tool`` is what the model calls, so a server name may not contain the separator itself.
SERVER_NAME = re.compile(r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$")


class McpServerConfig(BaseModel):
    """One MCP server whose tools join the registry as ``name.tool``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=32)
    transport: Literal["stdio", "streamable_http"]
    # stdio: the server is a child process speaking MCP on its stdin and stdout.
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict)
    # streamable_http: the server's MCP endpoint, e.g. https://tickets.example.com/mcp.
    url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # Which of the server's tools to offer (their MCP names); None offers every tool it lists.
    tools: list[str] | None = None
    # Tools that only read: they run without a person's approval. Every other tool pauses the run for one.
    read_only: list[str] = Field(default_factory=list)
    required_role: Role | None = None
    # A call taking longer is abandoned; the model and the person asking are told.
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Starting the server (a child process may take seconds to import) and listing its tools.
    connect_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Text of one result longer than this is cut before anyone sees it.
    max_result_chars: int = Field(default=20_000, ge=200, le=1_000_000)
    # A server that is down (at start or later) is tried again after this, doubling up to ``retry_max_seconds``.
    retry_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    # How often a connected server is pinged, so a dead one is noticed (and reported) without waiting for a call.
    ping_seconds: float = Field(default=30.0, gt=0)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not SERVER_NAME.match(value):
            raise ValueError(
                f"MCP server name {value!r} may hold only letters, digits and single '-' or '_' between them"
            )
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _transport_settings(self) -> McpServerConfig:
        if self.transport == "stdio" and not self.command:
            raise ValueError(f"MCP server {self.name!r}: transport 'stdio' needs a command")
        if self.transport == "streamable_http" and not self.url:
            raise ValueError(f"MCP server {self.name!r}: transport 'streamable_http' needs a url")
        return self

    def offers(self, tool_name: str) -> bool:
        return self.tools is None or tool_name in self.tools

    def secret_values(self) -> list[str]:
        """Every header and environment value, so logging can redact them."""
        values = [*self.headers.values(), *self.env.values()]
        return [value.get_secret_value() for value in values if value.get_secret_value()]
