"""The Slack channel: the Bolt ``AsyncApp`` with its middleware and listeners, mounted at ``POST /slack/events``
(HTTP mode) or connected over Socket Mode. Questions become answer jobs on the queue before they are acknowledged;
workers answer them (``bot.slack.answer_jobs``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agents import AgentRunner, MemoryStore, PromptStore
from agents.curated import CuratedStore
from agents.evaluation import EvaluationRunner
from bot.jobs import JobQueue
from bot.settings import Settings
from bot.slack import store
from bot.slack.answering import AnswerFlow
from bot.slack.app_home import AppHome
from bot.slack.approvals import register_approval_listeners
from bot.slack.assistant_surface import AssistantSurface
from bot.slack.commands import COMMANDS, CommandRegistry, register_builtin_commands
from bot.slack.curated_answers import register_curated_commands, register_curated_listeners
from bot.slack.evaluation_cases import register_evaluation_case_listeners
from bot.slack.event_intake import EventIntake
from bot.slack.feedback import register_feedback_listeners
from bot.slack.memory_commands import register_memory_commands
from bot.slack.middleware import install_middleware
from bot.slack.prompt_commands import register_prompt_commands
from bot.slack.routes import EVENTS_PATH
from bot.slack.schedule_commands import register_schedule_commands
from bot.slack.surface_listeners import register_surface_listeners

if TYPE_CHECKING:  # bot.scheduling posts through bot.slack.blocks: a runtime import here would be circular
    from bot.scheduling import ScheduleService

logger = logging.getLogger(__name__)


class SlackChannel:
    """Everything Slack: build it from the settings, a Web API client and the agent runner; ``start`` / ``aclose``
    around the server's lifetime; mount ``routes()`` in the ASGI app (HTTP mode)."""

    def __init__(
        self,
        settings: Settings,
        sessions: store.Sessions,
        runner: AgentRunner,
        client: AsyncWebClient,
        *,
        prompts: PromptStore | None = None,
        memory: MemoryStore | None = None,
        schedules: ScheduleService | None = None,
        evaluation: EvaluationRunner | None = None,
        queue: JobQueue,
        curated: CuratedStore | None = None,
        queue_sync: Callable[[str], Awaitable[bool]] | None = None,
        progress_interval_seconds: float = 1.0,
        count_event: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        """``prompts``, ``memory`` and ``schedules`` are the runtime's own instances (so a change applies at once);
        the ``/prompt``, ``/memory`` and ``/schedule`` subcommands over each exist only when it is given.
        ``queue_sync`` queues a sync of a configured source (App Home's **Sync** buttons).
        ``queue`` takes each question as an answer job (a worker answers it); ``count_event`` is told what became of
        each Events API delivery here (received, retried), for the service's metrics."""
        if settings.slack_signing_secret is None or client.token is None:
            raise ValueError("the Slack channel needs SLACK_SIGNING_SECRET and a Web API client with the bot token")
        self.settings = settings
        self.sessions = sessions
        self.client = client
        self.queue = queue
        # Without a shared HTTP session slack_sdk opens and closes one per API call, which costs more CPU than the
        # call itself under a burst and slows acknowledgements; the channel owns this one and closes it.
        self._http_session: aiohttp.ClientSession | None = None
        if client.session is None:
            self._http_session = client.session = aiohttp.ClientSession()
        # Answers to questions run as jobs; approvals resumed by a click and slash commands run here.
        self.flow = AnswerFlow.from_settings(
            settings,
            sessions,
            runner,
            client,
            count_event=count_event,
            progress_interval_seconds=progress_interval_seconds,
        )
        self.identity = self.flow.identity
        self.commands = CommandRegistry()
        register_builtin_commands(self.commands, sessions, prompts)
        # The token lives in the client only; Bolt reads it from there (and calls auth.test once).
        self.app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            process_before_response=True,  # listeners only schedule work, so the ack is still immediate
            name="switchboard",
        )
        # Acknowledgements store their event through a pool of their own, so they never queue for a connection
        # behind the answers running in the background (measured: that queue was most of the ack latency).
        self._claimer = store.EventClaimer(queue.database_url)
        self.intake = EventIntake(
            self._claimer,
            self.identity,
            settings.slack_signing_secret.get_secret_value(),
            count_event,
        )
        install_middleware(self.app, settings=settings, sessions=sessions, intake=self.intake, commands=self.commands)
        register_feedback_listeners(self.app, sessions)
        # The agent surface (messages tab, assistant threads) and App Home; their texts come from the prompt store.
        surface_prompts = prompts if prompts is not None else PromptStore(sessions)
        self.home = AppHome(
            settings,
            sessions,
            client,
            surface_prompts,
            list_schedules=schedules.store.list if schedules is not None else None,
            is_personal=schedules.store.is_personal if schedules is not None else lambda schedule: False,
            queue_sync=queue_sync,
        )
        register_surface_listeners(self.app, AssistantSurface(client, surface_prompts), self.home, self.flow.spawn)
        register_evaluation_case_listeners(self.app, sessions)
        register_approval_listeners(self.app, self.flow, queue)
        self._register_commands()
        if prompts is not None:
            register_prompt_commands(self.commands, self.app, prompts, runner, self.identity, evaluation)
        if memory is not None:
            register_memory_commands(self.commands, memory)
        if schedules is not None:
            register_schedule_commands(self.commands, schedules)
        if curated is not None:
            register_curated_listeners(self.app, sessions, curated)
            register_curated_commands(self.commands, curated)
        self.app.error(self._on_error)
        self._handler = AsyncSlackRequestHandler(self.app)
        self._socket_mode: Any = None

    def _register_commands(self) -> None:
        async def route(
            body: dict[str, Any],
            context: AsyncBoltContext,
            ack: AsyncAck,
            respond: AsyncRespond,
            client: AsyncWebClient,
        ) -> None:
            await self.commands.dispatch(
                body=body, context=context, ack=ack, respond=respond, client=client, spawn=self.flow.spawn
            )

        for command in COMMANDS:
            self.app.command(command)(route)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        # Bolt's error edge: the traceback goes to the log; Slack gets a plain 500 and no details.
        logger.error("Slack request failed (%s)", body.get("type") or body.get("command"), exc_info=error)

    def routes(self) -> list[Route]:
        async def slack_events(request: Request) -> Response:
            # A question is queued and acknowledged here; everything else is Bolt's (event_intake.py says why).
            intake = await self.intake.take_request(await request.body(), request.headers)
            if intake == "bolt":
                return await self._handler.handle(request)
            return Response(status_code=200 if intake == "taken" else 401)

        return [Route(EVENTS_PATH, slack_events, methods=["POST"])]

    async def start(self) -> None:
        """Connect Socket Mode if configured (HTTP mode needs nothing started)."""
        if self.settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_mode = AsyncSocketModeHandler(self.app, self.settings.slack_app_token.get_secret_value())
            await self._socket_mode.connect_async()
            logger.info("Slack: connected in Socket Mode")
        else:
            logger.info("Slack: receiving events at POST %s", EVENTS_PATH)

    async def aclose(self, grace_seconds: float = 10.0) -> None:
        """Stop taking work, let running answers finish (bounded), and close the connections."""
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
        await self.flow.drain(grace_seconds)
        await self.flow.aclose()
        if self._http_session is not None:
            await self._http_session.close()
        await self._claimer.aclose()
