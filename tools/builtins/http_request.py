"""Call one of the HTTP endpoints named in the config file; its URL and secret headers never reach the model."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, Field

from tools.abc import Tool, ToolContext
from tools.errors import ToolRefusedError


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
        async with httpx.AsyncClient(timeout=endpoint.timeout_seconds) as client:
            response = await client.request(
                endpoint.method,
                endpoint.url,
                headers=headers,
                params=arguments.query,
                json=arguments.body if endpoint.method in ("POST", "PUT", "PATCH") else None,
            )
        limit = context.settings.fetch_max_bytes
        text = response.text[:limit]
        return f"HTTP {response.status_code} from endpoint {arguments.endpoint}\n\n{text}"
