"""The composition root: builds every long-lived part from the settings, once, and closes them in order."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentRunner, ChatModel, create_chat_model
from bot.embedded_postgres import EmbeddedPostgres, start_embedded_postgres
from bot.metrics import ServiceMetrics
from bot.schema_migrations import upgrade_database
from bot.settings import Settings
from knowledge import Embedder, create_embedder, create_engine, session_factory

logger = logging.getLogger(__name__)


@dataclass
class Service:
    """Everything a request, a job or a CLI command needs, built from one ``Settings``."""

    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    chat_model: ChatModel | None
    embedder: Embedder
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    embedded_postgres: EmbeddedPostgres | None = None
    # --- agent runtime for the channels (Slack) ---
    # Set by whoever builds the agent runtime; the Slack channel is mounted only when there is one to call.
    agent_runner: AgentRunner | None = None

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool = True) -> Service:
        """Reach the database (starting the embedded one if needed), migrate it, and build the model clients."""
        embedded: EmbeddedPostgres | None = None
        if settings.database_url is not None:
            database_url = settings.database_url.get_secret_value()
        else:
            embedded = await asyncio.to_thread(start_embedded_postgres, settings.switchboard_home)
            database_url = embedded.url
        try:
            if migrate:
                await asyncio.to_thread(upgrade_database, database_url)
            engine = create_engine(database_url)
        except BaseException:
            if embedded is not None:
                embedded.stop()
            raise
        chat_model = create_chat_model(settings.chat_model)
        if chat_model is None:
            logger.info("no chat model configured (LLM_PROVIDER=none): answers are retrieval-only")
        else:
            logger.info("chat model: %s %s", chat_model.provider, chat_model.model)
        if not settings.slack_enabled:
            logger.info("Slack is disabled: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set")
        return cls(
            settings=settings,
            database_url=database_url,
            engine=engine,
            sessions=session_factory(engine),
            chat_model=chat_model,
            embedder=create_embedder(settings.embeddings),
            embedded_postgres=embedded,
        )

    async def aclose(self) -> None:
        """Close clients, then the database pool, then the embedded server (if this process started it)."""
        if self.chat_model is not None:
            await self.chat_model.aclose()
        await self.embedder.aclose()
        await self.engine.dispose()
        if self.embedded_postgres is not None:
            await asyncio.to_thread(self.embedded_postgres.stop)
        logger.info("service stopped")
