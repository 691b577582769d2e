"""Call one of the HTTP endpoints named in the config file; its URL and secret headers never reach the model.

The operator chose each endpoint's URL, so it may point inside the network. What the model cannot do is take the
call anywhere else: a redirect to another host is refused (the secret headers would go along), the connection goes
only to the addresses the configured host resolves to (or public ones), and the response is read only up to
``fetch_max_bytes``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import httpx
from pydantic import BaseModel, Field

from knowledge import BlockedAddressError, NetworkPolicy, guarded_transport, permitted_addresses
from tools.abc import Tool, ToolContext
from tools.builtins.limited_reading import read_at_most
from tools.config import HttpEndpoint
from tools.errors import ToolRefusedError

MAX_REDIRECTS = 3
# Used only to resolve an endpoint's configured host: the operator chose it, so none of its addresses is refused.
_ANY_ADDRESS = NetworkPolicy(allowed_networks=("0.0.0.0/0", "::/0"))


class HttpRequestArguments(BaseModel):
    endpoint: str = Field(min_length=1, description="The name of a configured endpoint.")
    body: dict[str, Any] | None = Field(default=None, description="JSON body to send (for POST, PUT, PATCH).")
    query: dict[str, str] | None = Field(default=None, description="Query-string parameters to add.")


class HttpRequestTool(Tool[HttpRequestArguments]):
    name = "http_request"
    description = (
        "Call a named HTTP endpoint that the administrators configured (for example to open a ticket or trigger "
        "a job) and return its status and response. A person approves each call before it runs."
    )
    arguments = HttpRequestArguments
    side_effects = True

    def describe(self, context: ToolContext) -> str:
        endpoints = context.settings.endpoints
        if not endpoints:
            return self.description + " No endpoints are configured, so it cannot be used."
        listing = "; ".join(
            f"{name} ({e.method}): {e.description or 'no description'}" for name, e in endpoints.items()
        )
        return f"{self.description} Endpoints: {listing}."

    def summarize_call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        endpoint = context.settings.endpoints.get(str(arguments.get("endpoint")))
        if endpoint is None:
            return f"call the unknown endpoint {arguments.get('endpoint')!r} (it will be refused)"
        body = f" with body {json.dumps(arguments['body'], sort_keys=True)}" if arguments.get("body") else ""
        return f"call {arguments['endpoint']}: {endpoint.method} {endpoint.url}{body}"

    async def run(self, arguments: HttpRequestArguments, context: ToolContext) -> str:
        endpoint = context.settings.endpoints.get(arguments.endpoint)
        if endpoint is None:
            names = ", ".join(context.settings.endpoints) or "none"
            raise ToolRefusedError(f"no endpoint named {arguments.endpoint!r}; configured endpoints: {names}")
        headers = {name: value.get_secret_value() for name, value in endpoint.headers.items()}
        origin = _origin(endpoint.url)

        async def same_origin_only(request: httpx.Request) -> None:
            # The secret headers go with every hop (httpx keeps custom headers across hosts): never leave the host.
            if _origin(str(request.url)) != origin:
                raise ToolRefusedError(
                    f"endpoint {arguments.endpoint} redirected to another host ({request.url.host}); "
                    "the redirect was not followed"
                )

        try:
            policy = await _endpoint_policy(endpoint, arguments.endpoint)
            async with (
                httpx.AsyncClient(
                    transport=guarded_transport(policy),
                    timeout=endpoint.timeout_seconds,
                    follow_redirects=True,
                    max_redirects=MAX_REDIRECTS,
                    event_hooks={"request": [same_origin_only]},
                ) as client,
                client.stream(
                    endpoint.method,
                    endpoint.url,
                    headers=headers,
                    params=arguments.query,
                    json=arguments.body if endpoint.method in ("POST", "PUT", "PATCH") else None,
                ) as response,
            ):
                text, truncated = await read_at_most(response, context.settings.fetch_max_bytes)
        except BlockedAddressError as error:
            raise ToolRefusedError(f"endpoint {arguments.endpoint} was not called: {error}") from None
        except httpx.TooManyRedirects:
            raise ToolRefusedError(
                f"endpoint {arguments.endpoint} redirected more than {MAX_REDIRECTS} times; stopped"
            ) from None
        suffix = f"\n[cut at {context.settings.fetch_max_bytes} bytes]" if truncated else ""
        return f"HTTP {response.status_code} from endpoint {arguments.endpoint}\n\n{text}{suffix}"


def _origin(url: str) -> tuple[str, str, int]:
    parts = httpx.URL(url)
    return parts.scheme, parts.host, _port(parts)


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def _endpoint_policy(endpoint: HttpEndpoint, name: str) -> NetworkPolicy:
    """Public addresses, plus exactly the addresses the endpoint's configured host has now.

    The operator chose the host, so it may be internal; pinning its addresses means a name that later resolves
    elsewhere inside the network (DNS rebinding) is refused at connect time.
    """
    url = httpx.URL(endpoint.url)
    addresses = await permitted_addresses(url.host, _port(url), _ANY_ADDRESS)
    return NetworkPolicy(
        allowed_networks=tuple(ipaddress.ip_network(address) for address in addresses),
        setting=f"tools.endpoints.{name}.url",
    )
