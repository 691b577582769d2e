"""Work the service starts beside serving (catch-ups at start), whose failures are logged rather than lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def start_background(work: Coroutine[Any, Any, T], *, name: str, failure: str) -> asyncio.Task[T]:
    """Run ``work`` as a task; if it raises, ``failure`` is logged with the traceback (nobody awaits it)."""

    def report(task: asyncio.Task[T]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(failure, exc_info=task.exception())

    task = asyncio.create_task(work, name=name)
    task.add_done_callback(report)
    return task


async def cancel_background(task: asyncio.Task[Any]) -> None:
    """Cancel a background task and wait for it to end (its outcome was already logged)."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
