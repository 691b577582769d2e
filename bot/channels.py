"""The channels the service runs beside its health routes: the phone line and the scheduler (Slack joins here).

Built once per ``serve`` from the started ``Service``; each registers its own shutdown on the caller's exit stack,
so they stop in reverse order of starting, before the service closes the database.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from starlette.routing import Route

from bot.phone import PhoneConfig, PhoneLine
from bot.scheduling import Scheduling, build_scheduling
from bot.service import Service
from bot.slack_client import create_slack_client


@dataclass
class Channels:
    routes: list[Route]
    phone_line: PhoneLine
    scheduling: Scheduling


async def start_channels(service: Service, stack: AsyncExitStack) -> Channels:
    """Build and start every channel; their shutdown is pushed onto ``stack``."""
    settings = service.settings
    slack = create_slack_client(settings)

    runner = service.runner
    # Phone line: /phone/voice, /phone/gather, /phone/status.
    phone_line = PhoneLine(
        PhoneConfig.from_settings(settings),
        service.sessions,
        runner=runner,
        chat_model=service.chat_model,
        slack=slack,
        prompts=runner.prompts,
    )
    stack.push_async_callback(phone_line.aclose)

    # Scheduler: scheduled agent runs and periodic system jobs, each occurrence once across replicas.
    scheduling = await build_scheduling(service, agent_runner=runner, slack=slack)
    await scheduling.start()
    stack.push_async_callback(scheduling.stop)

    return Channels(routes=phone_line.routes(), phone_line=phone_line, scheduling=scheduling)
