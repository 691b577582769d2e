"""Whether Slack and the chat model can be reached, checked in the background so ``/healthz`` never waits on them.

Each configured dependency is called on an interval with its cheapest authenticated call (Slack ``auth.test``, the
model provider's model list) and the last result is kept; ``/healthz`` reads it. A dependency that is not
configured is ``disabled``; one not checked yet is ``unknown``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import aiohttp
from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents import ChatModel, ModelError

logger = logging.getLogger(__name__)

State = Literal["ok", "unreachable", "disabled", "unknown"]
REASON_CHARS = 200

Check = Callable[[float], Awaitable[None]]


class DependencyState(BaseModel):
    state: State
    # Why it is unreachable, in a few words (never a secret: error codes and exception names).
    reason: str = ""


class DependencyUnreachableError(Exception):
    """A check's failure, with the short reason ``/healthz`` shows."""


class DependencyMonitor:
    """Checks each dependency every ``interval_seconds``, each call bounded by ``timeout_seconds``."""

    def __init__(self, checks: dict[str, Check | None], *, interval_seconds: float, timeout_seconds: float) -> None:
        """``checks`` maps a dependency's name to its check, or to None when it is not configured."""
        self._checks = {name: check for name, check in checks.items() if check is not None}
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._states = {
            name: DependencyState(state="unknown" if check is not None else "disabled")
            for name, check in checks.items()
        }
        self._task: asyncio.Task[None] | None = None

    def state(self, name: str) -> DependencyState:
        return self._states.get(name, DependencyState(state="disabled"))

    def start(self) -> None:
        if self._checks and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._check_forever(), name="dependency-checks")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def check_now(self) -> None:
        """Check every configured dependency once, concurrently, and keep the results."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._check_one(name) for name in names))
        for name, state in zip(names, results, strict=True):
            previous = self._states[name]
            if state.state != previous.state:
                log = logger.warning if state.state == "unreachable" else logger.info
                log("dependency %s is %s%s", name, state.state, f": {state.reason}" if state.reason else "")
            self._states[name] = state

    async def _check_one(self, name: str) -> DependencyState:
        try:
            async with asyncio.timeout(self._timeout):
                await self._checks[name](self._timeout)
        except TimeoutError:
            return DependencyState(state="unreachable", reason=f"no answer within {self._timeout:g} s")
        except DependencyUnreachableError as error:
            return DependencyState(state="unreachable", reason=str(error)[:REASON_CHARS])
        return DependencyState(state="ok")

    async def _check_forever(self) -> None:
        while True:
            try:
                await self.check_now()
            except Exception:
                # A bug in a check must not end the monitor; the states keep their last values.
                logger.exception("checking dependencies failed; trying again in %g s", self._interval)
            await asyncio.sleep(self._interval)


def slack_check(client: AsyncWebClient) -> Check:
    """Slack is reachable when ``auth.test`` accepts the bot token."""

    async def check(timeout_seconds: float) -> None:
        try:
            await client.auth_test()
        except SlackApiError as error:
            raise DependencyUnreachableError(f"auth.test failed: {error.response.get('error', 'error')}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise DependencyUnreachableError(f"auth.test failed: {error.__class__.__name__}") from None

    return check


def model_check(model: ChatModel) -> Check:
    """The model is reachable when its provider lists models for the configured key."""

    async def check(timeout_seconds: float) -> None:
        try:
            await model.check_reachable(timeout_seconds)
        except ModelError as error:
            raise DependencyUnreachableError(str(error)) from None

    return check
