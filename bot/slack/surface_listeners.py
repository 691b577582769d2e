"""Listeners for the events and buttons of the agent surface and App Home.

These events are not questions: their work is a few short, idempotent Web API calls (publish a view, set the
suggested prompts, post a greeting), so it runs in this process right after the acknowledgement, like slash
commands, rather than as a queued job. A Slack retry of one repeats it harmlessly; one lost to a restart is redone
the next time the user opens the tab or a thread. (The middleware lets exactly these events through; every
question-like event is still deduplicated and queued before its acknowledgement.) We do not use Bolt's
``AsyncAssistant``: it answers the user's messages in assistant threads in its own listeners, in process, which
would bypass that queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.app_home import HOME_EDIT_PROMPT, HOME_REFRESH, HOME_SYNC_SOURCE, AppHome
from bot.slack.assistant_surface import AssistantSurface

logger = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


def register_surface_listeners(app: AsyncApp, surface: AssistantSurface, home: AppHome, spawn: Spawn) -> None:
    def later(work: Coroutine[Any, Any, None], what: str) -> None:
        async def logged() -> None:
            try:
                await work
            except Exception:  # the edge of background work: nobody waits for it, so the log must say
                logger.exception("%s failed", what)

        spawn(logged())

    async def on_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
        user_id = str(event.get("user") or "")
        if event.get("tab") == "messages":
            later(surface.messages_tab_opened(str(event.get("channel") or "")), "greeting the messages tab")
        elif user_id:
            later(home.publish(user_id, context.get("roles") or frozenset()), f"publishing App Home for {user_id}")

    async def on_thread_started(event: dict[str, Any]) -> None:
        later(surface.thread_started(event), "greeting a new assistant thread")

    async def on_context_changed(event: dict[str, Any]) -> None:
        # Which channel the user looks at beside the thread: answers in a DM use the asker's own rights anyway.
        logger.debug("assistant thread context changed: %s", (event.get("assistant_thread") or {}).get("context"))

    async def on_refresh(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        user_id = body["user"]["id"]
        later(home.publish(user_id, context.get("roles") or frozenset()), f"refreshing App Home for {user_id}")

    async def on_edit_prompt(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        # At once, not later: the trigger id opens a form only within three seconds.
        await home.open_prompt_editor(
            str(action.get("value") or ""), body["trigger_id"], context.get("roles") or frozenset()
        )

    async def on_sync_source(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        user_id = body["user"]["id"]
        name = str(action.get("value") or "")
        later(home.sync_source(user_id, name, context.get("roles") or frozenset()), f"queueing a sync of {name!r}")

    app.event("app_home_opened")(on_home_opened)
    app.event("assistant_thread_started")(on_thread_started)
    app.event("assistant_thread_context_changed")(on_context_changed)
    app.action(HOME_REFRESH)(on_refresh)
    app.action(HOME_EDIT_PROMPT)(on_edit_prompt)
    app.action(HOME_SYNC_SOURCE)(on_sync_source)
