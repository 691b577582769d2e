"""Waiting for background work to show: poll a check until it holds, with a deadline and a message that says what."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T] | T],
    *,
    what: str,
    within_seconds: float = 20.0,
    every_seconds: float = 0.02,
) -> T:
    """The first truthy result of ``check`` (a function or a coroutine function), polled every ``every_seconds``.

    The bound is generous: a passing test returns as soon as the condition holds, and only a failing one waits it
    out. The failure names ``what`` and the last result, so it reads as what never happened.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_seconds
    while True:
        outcome = check()
        result = await outcome if inspect.isawaitable(outcome) else outcome
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within_seconds:g} s waiting for {what} (last: {result!r})")
        await asyncio.sleep(every_seconds)
