"""One HTTP client for SaaS REST APIs: bounded concurrency, retries that honour 429 ``Retry-After``, link pagination.

httpx with the documented REST shapes rather than vendor SDKs: the SDKs for GitHub and Confluence are synchronous
(they would have to run in threads) and each retries and paginates its own way; this keeps one async client, one
retry policy (tenacity) and one place where a refused token becomes an error naming the source and its variable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from knowledge.errors import SourceAuthError, SourceRateLimitedError, SourceUnavailableError

logger = logging.getLogger(__name__)

# Longest wait one Retry-After (or rate-limit reset) may impose before the run gives up and the next one retries.
MAX_RETRY_AFTER_SECONDS = 120.0
_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_MAX_SECONDS = 30.0


class _RetryableResponse(Exception):  # noqa: N818 - internal signal to tenacity, never escapes
    def __init__(self, response: httpx.Response, wait_seconds: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.wait_seconds = wait_seconds


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds a 429/503 (or GitHub's exhausted rate limit) asks us to wait; None when it does not say."""
    header = response.headers.get("retry-after")
    if header:
        if header.strip().isdigit():
            return float(header.strip())
        try:
            return max(0.0, parsedate_to_datetime(header).timestamp() - (now or time.time()))
        except (TypeError, ValueError):
            return None
    reset = response.headers.get("x-ratelimit-reset")
    if response.headers.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
        return max(0.0, float(reset) - (now or time.time()))
    return None


def _is_rate_limited(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    # GitHub answers an exhausted primary rate limit with 403 and remaining = 0.
    return response.status_code == 403 and response.headers.get("x-ratelimit-remaining") == "0"


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    if isinstance(error, _RetryableResponse) and error.wait_seconds is not None:
        return min(error.wait_seconds, MAX_RETRY_AFTER_SECONDS)
    return float(min(_BACKOFF_BASE_SECONDS * 2 ** (state.attempt_number - 1), _BACKOFF_MAX_SECONDS))


class SourceApiClient:
    """GET JSON from one source's API with its token; every request goes through one semaphore and one retry policy.

    ``401`` raises ``SourceAuthError`` naming the source and the token's variable; other 4xx answers are returned
    to the caller, who knows whether a ``403`` or ``404`` means "forbidden to this token" or "gone".
    """

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        headers: Mapping[str, str],
        token_variable: str,
        max_concurrency: int = 4,
        max_retries: int = 5,
        timeout_seconds: float = 30.0,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.source = source
        self.token_variable = token_variable
        self._client = httpx.AsyncClient(
            base_url=base_url, headers=dict(headers), timeout=timeout_seconds, auth=auth, follow_redirects=True
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_retries = max_retries

    async def get(self, url: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """One GET, retried on 429 (after ``Retry-After``), 5xx and connection errors."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._max_retries + 1),
                wait=_wait,
                retry=retry_if_exception_type((httpx.TransportError, _RetryableResponse)),
                reraise=True,
            ):
                with attempt:
                    async with self._slots:
                        response = await self._client.get(url, params=params)
                    if _is_rate_limited(response) or response.status_code >= 500:
                        raise _RetryableResponse(response, retry_after_seconds(response))
        except _RetryableResponse as error:
            status = error.response.status_code
            if _is_rate_limited(error.response):
                raise SourceRateLimitedError(
                    f"source {self.source!r}: still rate limited (HTTP {status}) after {self._max_retries} retries; "
                    "the next sync continues from its checkpoint"
                ) from None
            raise SourceUnavailableError(
                f"source {self.source!r}: {error.response.request.url.path} answered HTTP {status} "
                f"after {self._max_retries} retries"
            ) from None
        except httpx.TransportError as error:
            raise SourceUnavailableError(
                f"source {self.source!r}: {type(error).__name__} reaching {self._client.base_url} ({error})"
            ) from error
        if response.status_code == 401:
            raise SourceAuthError(
                f"source {self.source!r}: the API refused the token in {self.token_variable} (HTTP 401); "
                f"check that {self.token_variable} holds a valid, unexpired token with the scopes the README lists"
            )
        return response

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET that must succeed; any other answer than 2xx is an error naming the path and status."""
        response = await self.get(url, params)
        if not response.is_success:
            raise SourceUnavailableError(
                f"source {self.source!r}: {response.request.url.path} answered HTTP {response.status_code}"
                + (" (the token may lack a scope)" if response.status_code == 403 else "")
            )
        return response.json()

    async def pages(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        next_url: Callable[[httpx.Response, Any], str | None],
    ) -> AsyncIterator[tuple[Any, str | None]]:
        """Each page's JSON body with the URL of the page after it (None on the last): the one pagination loop."""
        current: str | None = url
        current_params = params
        while current is not None:
            response = await self.get(current, current_params)
            if not response.is_success:
                raise SourceUnavailableError(
                    f"source {self.source!r}: {response.request.url.path} answered HTTP {response.status_code}"
                )
            body = response.json()
            following = next_url(response, body)
            yield body, following
            current, current_params = following, None

    async def aclose(self) -> None:
        await self._client.aclose()


def link_header_next(response: httpx.Response, body: Any) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header (GitHub's pagination)."""
    return response.links.get("next", {}).get("url")
