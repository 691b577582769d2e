"""What the built-in tools are allowed to reach; built by the service's settings from the config file."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from knowledge import NetworkPolicy

FETCH_NETWORKS_SETTING = "tools.fetch_allowed_networks"


class HttpEndpoint(BaseModel):
    """A named HTTP endpoint the ``http_request`` tool may call. The model sees only the name and description."""

    model_config = ConfigDict(frozen=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    description: str = ""
    # Header values are secrets (tokens): sent with the request, never shown to the model or logged.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


class ToolsConfig(BaseModel):
    """Limits and allow-lists for the built-in tools (config-file section ``[tools]``)."""

    model_config = ConfigDict(frozen=True)

    # ``fetch_url`` refuses every host that is not one of these domains or a subdomain of one; empty disables it.
    fetch_allowed_domains: list[str] = Field(default_factory=list)
    # ``fetch_url`` connects only to public addresses; these networks (``10.1.0.0/16``, ``127.0.0.1``) are allowed
    # too. Loopback, private, link-local and cloud metadata addresses are refused unless listed here.
    fetch_allowed_networks: list[str] = Field(default_factory=list)
    fetch_max_bytes: int = Field(default=200_000, ge=1_000, le=10_000_000)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    endpoints: dict[str, HttpEndpoint] = Field(default_factory=dict)
    # Any tool call taking longer is abandoned and reported to the model as an error.
    call_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Tool output longer than this is cut before the model sees it.
    result_max_chars: int = Field(default=8_000, ge=200)

    @field_validator("fetch_allowed_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"expected a network like 10.1.0.0/16 or an address, got {value!r}") from None
        return values

    def fetch_network_policy(self) -> NetworkPolicy:
        """The addresses ``fetch_url`` may connect to, for every redirect hop."""
        return NetworkPolicy(allowed_networks=tuple(self.fetch_allowed_networks), setting=FETCH_NETWORKS_SETTING)

    def secret_values(self) -> list[str]:
        """Every endpoint header value, so logging can redact them."""
        return [
            value.get_secret_value()
            for endpoint in self.endpoints.values()
            for value in endpoint.headers.values()
            if value.get_secret_value()
        ]
