"""Bot: the running service: channels (Slack, phone), the HTTP server, the CLI and the composition root.

Where things live: ``cli/`` (the ``switchboard`` commands), ``http_server/`` (the one server, ``/healthz``,
``/metrics``), ``composition/`` (``Service`` and the channels, schedules and background tasks built around it),
``database/`` (embedded PostgreSQL, migrations), ``slack/``, ``phone/``, ``scheduling/``, ``mcp_server/``;
``settings.py`` holds the one ``Settings`` object. The names below are the face other code (benchmarks, tests, a
process that embeds the service) uses; they import on first use, so ``import bot.settings`` stays cheap.
"""

from typing import TYPE_CHECKING

from bot.package_faces import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from bot.cli import main
    from bot.composition.channels import Channels, start_channels
    from bot.composition.knowledge_sync import sync_configured_source
    from bot.composition.service import Service
    from bot.database.embedded_postgres import EmbeddedPostgres, start_embedded_postgres
    from bot.database.schema_migrations import head_revision, upgrade_database
    from bot.errors import BotError, SettingsError
    from bot.http_server.app import create_app
    from bot.http_server.health import HealthReport, check_health
    from bot.http_server.server import serve
    from bot.settings import Settings, load_settings
    from bot.slack.web_client import create_slack_client

__all__ = [
    "BotError",
    "Channels",
    "EmbeddedPostgres",
    "HealthReport",
    "Service",
    "Settings",
    "SettingsError",
    "__version__",
    "check_health",
    "create_app",
    "create_slack_client",
    "head_revision",
    "load_settings",
    "main",
    "serve",
    "start_channels",
    "start_embedded_postgres",
    "sync_configured_source",
    "upgrade_database",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "BotError": "bot.errors",
        "Channels": "bot.composition.channels",
        "EmbeddedPostgres": "bot.database.embedded_postgres",
        "HealthReport": "bot.http_server.health",
        "Service": "bot.composition.service",
        "Settings": "bot.settings",
        "SettingsError": "bot.errors",
        "check_health": "bot.http_server.health",
        "create_app": "bot.http_server.app",
        "create_slack_client": "bot.slack.web_client",
        "head_revision": "bot.database.schema_migrations",
        "load_settings": "bot.settings",
        "main": "bot.cli",
        "serve": "bot.http_server.server",
        "start_channels": "bot.composition.channels",
        "start_embedded_postgres": "bot.database.embedded_postgres",
        "sync_configured_source": "bot.composition.knowledge_sync",
        "upgrade_database": "bot.database.schema_migrations",
    },
)
