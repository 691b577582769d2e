"""The channels the service runs beside its health routes: Slack, the phone line, MCP clients, the scheduler and
the work on the job queue.

Built once per ``serve`` from the started ``Service``; each registers its own shutdown on the caller's exit stack,
so they stop in reverse order of starting, before the service closes the database.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from starlette.routing import BaseRoute

from bot.composition.background_tasks import cancel_background, start_background
from bot.composition.job_work import start_job_work
from bot.composition.knowledge_sync import (
    queue_source_sync,
    schedule_resyncs,
    start_catch_up_sync,
    sync_configured_source,
)
from bot.composition.service import Service
from bot.composition.trace_retention import schedule_trace_retention
from bot.http_server.dependency_checks import DependencyMonitor, model_check, slack_check
from bot.mcp_server.endpoint import McpEndpoint
from bot.phone import PhoneConfig, PhoneLine
from bot.scheduling import Scheduling, build_scheduling
from bot.slack import SlackChannel
from bot.slack.identity import IdentityResolver
from bot.slack.kb_commands import register_kb_commands
from bot.slack.web_client import create_slack_client
from knowledge import knowledge_status

logger = logging.getLogger(__name__)


@dataclass
class Channels:
    routes: list[BaseRoute]
    phone_line: PhoneLine
    scheduling: Scheduling
    slack: SlackChannel | None


async def start_channels(service: Service, stack: AsyncExitStack) -> Channels:
    """Build and start every channel; their shutdown is pushed onto ``stack``."""
    settings = service.settings
    runner = service.runner
    slack_client = create_slack_client(settings)
    routes: list[BaseRoute] = []

    # Reachability of Slack and the model, checked in the background for /healthz.
    dependencies = DependencyMonitor(
        {
            "slack": None if slack_client is None else slack_check(slack_client),
            "model": None if service.chat_model is None else model_check(service.chat_model),
        },
        interval_seconds=settings.health_check_interval_seconds,
        timeout_seconds=settings.health_check_timeout_seconds,
    )
    dependencies.start()
    stack.push_async_callback(dependencies.aclose)
    service.dependencies = dependencies

    # Phone line: /phone/voice, /phone/gather, /phone/status.
    phone_line = PhoneLine(
        PhoneConfig.from_settings(settings),
        service.sessions,
        runner=runner,
        chat_model=service.chat_model,
        slack=slack_client,
        prompts=runner.prompts,
        queue=service.queue,
    )
    stack.push_async_callback(phone_line.aclose)
    routes += phone_line.routes()
    # Intakes a crash or a failed Slack post left behind are queued again, in the background while it answers.
    intake_catch_up = start_background(
        phone_line.intakes.queue_pending(), name="phone-intake-catch-up", failure="queueing phone intakes failed"
    )
    stack.push_async_callback(cancel_background, intake_catch_up)

    # MCP clients: POST /mcp (search_knowledge, ask, list_sources) with a bearer token; the SDK's session manager
    # runs until the service stops.
    mcp = McpEndpoint(
        settings,
        service.sessions,
        runner,
        service.retriever,
        IdentityResolver(settings, slack_client, service.sessions),
    )
    await mcp.start()
    stack.push_async_callback(mcp.aclose)
    routes += mcp.routes()

    # Scheduler: scheduled agent runs and periodic system jobs, each occurrence once across replicas.
    scheduling = await build_scheduling(service, agent_runner=runner, slack=slack_client)
    schedule_resyncs(service, scheduling)
    schedule_trace_retention(service, scheduling)
    await scheduling.start()
    stack.push_async_callback(scheduling.stop)
    if settings.sync_overdue_on_start:
        catch_up = start_catch_up_sync(service)
        stack.push_async_callback(cancel_background, catch_up)

    # Slack: POST /slack/events (HTTP mode) or a Socket Mode connection when SLACK_APP_TOKEN is set.
    slack: SlackChannel | None = None
    if slack_client is not None:
        slack = SlackChannel(
            settings,
            service.sessions,
            runner,
            slack_client,
            prompts=runner.prompts,
            memory=runner.memory,
            schedules=scheduling.schedules,
            queue=service.queue,
            count_event=service.metrics.count_slack_event,
            evaluation=service.evaluation_runner(),
            curated=runner.curated,
            queue_sync=lambda name: queue_source_sync(service, name, "manual"),
        )
        register_kb_commands(
            slack.commands,
            settings.sources,
            read_status=lambda: knowledge_status(service.sessions),
            sync=lambda config: sync_configured_source(service, config),
            reader=settings.reader,
        )
        await slack.start()
        stack.push_async_callback(slack.aclose, settings.shutdown_grace_seconds)
        routes += slack.routes()

    # Jobs (answers, scheduled runs, syncs, intakes, approval resumes): worker processes this one supervises, this
    # process, or elsewhere.
    await start_job_work(service, stack)

    return Channels(routes=routes, phone_line=phone_line, scheduling=scheduling, slack=slack)
