"""The ``switchboard`` command line: parse arguments, load settings once, run the command, report errors plainly."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from agents import AgentError
from bot import __version__
from bot.cli.agent import add_agent_commands
from bot.cli.bot_file import add_bot_file_commands
from bot.cli.curated import add_curated_commands
from bot.cli.jobs import add_jobs_commands
from bot.cli.knowledge import add_knowledge_commands
from bot.cli.prompts import add_prompts_commands
from bot.cli.tools import add_tools_commands
from bot.cli.traces import add_traces_commands
from bot.errors import BotError, SettingsError
from bot.logging_config import configure_logging, run_context
from bot.settings import Settings, load_settings
from knowledge import KnowledgeError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.http_server.server import serve

    asyncio.run(serve(settings, host=args.host, port=args.port))
    return EXIT_OK


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from bot.composition.service import Service

    async def run() -> str | None:
        service = await Service.start(settings, migrate=True)
        await service.aclose()
        from bot.database.schema_migrations import head_revision

        return head_revision()

    revision = asyncio.run(run())
    print(f"database is at revision {revision}")
    return EXIT_OK


# --- Phone line: transcripts stay in the database; this is how a person reads one. ---
def _phone_transcript(settings: Settings, args: argparse.Namespace) -> int:
    from bot.composition.service import Service
    from bot.phone import CallStore, UnknownCallError, mask_number

    async def run() -> list[str]:
        service = await Service.start(settings, migrate=False)
        try:
            store = CallStore(service.sessions)
            call = await store.get_call(args.call_sid)
            if call is None:
                raise UnknownCallError(args.call_sid)
            lines = [f"call {call.call_sid} from {mask_number(call.caller_number)} ({call.status})"]
            for turn in await store.transcript(args.call_sid):
                lines.append(f"{'Caller' if turn.speaker == 'caller' else 'Assistant'}: {turn.text}")
            return lines
        finally:
            await service.aclose()

    print("\n".join(asyncio.run(run())))
    return EXIT_OK


def _slack_manifest(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.slack import slack_manifest

    print(json.dumps(slack_manifest(args.url, assistant_view=args.assistant_view), indent=2))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description="Switchboard: a chat-ops agent over your internal knowledge."
    )
    parser.add_argument("--version", action="version", version=f"switchboard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service (applies pending migrations first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply pending migrations")
    upgrade.set_defaults(handler=_db_upgrade)

    # --- Phone line ---
    phone = commands.add_parser("phone", help="the phone line's calls")
    phone_commands = phone.add_subparsers(dest="phone_command", required=True, metavar="PHONE_COMMAND")
    transcript = phone_commands.add_parser("transcript", help="print a call's transcript (named in its intake)")
    transcript.add_argument("call_sid", metavar="CALL_SID", help="the call's Twilio CallSid")
    transcript.set_defaults(handler=_phone_transcript)

    # --- agent runtime: ask, chat, prompts ---
    add_knowledge_commands(commands)
    add_agent_commands(commands)
    add_prompts_commands(commands)
    add_traces_commands(commands)
    add_curated_commands(commands)
    add_bot_file_commands(commands)
    # --- end agent runtime
    add_tools_commands(commands)
    add_jobs_commands(commands)
    manifest = commands.add_parser(
        "slack-manifest", help="print the Slack app manifest (scopes, events, slash commands, interactivity URL)"
    )
    manifest.add_argument("--url", required=True, metavar="PUBLIC_URL", help="the service's public base URL")
    manifest.add_argument(
        "--assistant-view",
        action="store_true",
        help="the older assistant split view (assistant threads) instead of the agent messaging experience",
    )
    manifest.set_defaults(handler=_slack_manifest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    with run_context():
        try:
            return handler(settings, args)
        except (BotError, KnowledgeError, AgentError) as error:
            logger.debug("command failed", exc_info=True)
            print(f"switchboard: {error}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
