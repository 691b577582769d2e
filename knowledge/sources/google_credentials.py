"""Google service-account credentials (google-auth) as an ``httpx.Auth``, so Google APIs go through the shared client.

google-auth signs the JWT grant and keeps the token; its refresh is synchronous, so it runs in a thread through a
minimal httpx transport (no ``requests`` dependency). ``subject`` is the user a domain-wide delegated service account
acts as. The key file's ``token_uri`` decides where tokens come from (a test server in tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

from knowledge.errors import SourceAuthError


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over a synchronous httpx client (token requests only)."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            with httpx.Client(timeout=timeout or self._timeout) as client:
                return _Response(client.request(method, url, content=body, headers=dict(headers or {})))
        except httpx.HTTPError as error:
            raise google.auth.exceptions.TransportError(str(error)) from error  # type: ignore[no-untyped-call]


class GoogleServiceAccountAuth(httpx.Auth):
    """Bearer tokens of a service account (optionally impersonating ``subject``), refreshed when they expire."""

    def __init__(
        self,
        *,
        source: str,
        variable: str,
        key_json: str,
        scopes: Sequence[str],
        subject: str | None,
        timeout_seconds: float,
    ) -> None:
        self._source, self._variable = source, variable
        try:
            info = json.loads(key_json)
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(scopes)
            )
        except (ValueError, KeyError, TypeError) as error:
            raise SourceAuthError(
                f"source {source!r}: {variable} does not hold a service account key (the JSON file Google "
                f"Cloud gives for a key: {type(error).__name__})"
            ) from None
        self._credentials = credentials.with_subject(subject) if subject else credentials
        self._request = _HttpxRequest(timeout_seconds)
        self._lock = asyncio.Lock()

    async def _token(self) -> str:
        async with self._lock:
            if not self._credentials.valid:
                try:
                    await asyncio.to_thread(self._credentials.refresh, self._request)
                except google.auth.exceptions.GoogleAuthError as error:
                    # The message names the grant problem (e.g. unauthorized_client), never the key.
                    raise SourceAuthError(
                        f"source {self._source!r}: Google refused the service account in {self._variable} "
                        f"({str(error).splitlines()[0][:200]}); check the key, the scopes granted to it for "
                        "domain-wide delegation, and `impersonate`"
                    ) from None
            return str(self._credentials.token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._token()}"
        yield request
