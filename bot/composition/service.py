"""The composition root: builds every long-lived part from the settings, once, and closes them in order."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentPersistence, AgentRuntime, ChatModel, create_chat_model
from agents.evaluation import EvaluationRunner, EvaluationRunStore, EvaluationSetStore, GraderRegistry
from bot.database.embedded_postgres import EmbeddedPostgres, start_embedded_postgres
from bot.database.schema_migrations import upgrade_database
from bot.errors import BotError
from bot.http_server.dependency_checks import DependencyMonitor
from bot.http_server.metrics import ServiceMetrics
from bot.jobs import JobQueue
from bot.scheduling.cluster_scheduler import ClusterScheduler
from bot.settings import Settings
from knowledge import (
    BackendPriority,
    Embedder,
    HybridRetriever,
    SyncEngine,
    create_embedder,
    create_engine,
    session_factory,
)
from tools import McpToolSource, ToolRegistry

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
    # A job worker's: the PostgreSQL backends of its connections run at its niceness (knowledge/backend_priority.py).
    backend_priority: BackendPriority | None = None
    # Set by ``bot.scheduling.build_scheduling`` when ``serve`` runs the scheduler; /healthz reports its state.
    scheduler: ClusterScheduler | None = None
    # Set by ``bot.composition.channels.start_channels``: the background reachability checks /healthz reports.
    dependencies: DependencyMonitor | None = None

    # The one job queue (durable work across replicas); opened by ``start``.
    queue: JobQueue = field(init=False)
    # The knowledge index: what the agent searches, and what keeps it in step with the sources.
    retriever: HybridRetriever = field(init=False)
    sync_engine: SyncEngine = field(init=False)
    # --- agent runtime ---
    agent_persistence: AgentPersistence | None = None
    agent_runner: AgentRuntime | None = None
    # --- end agent runtime
    # The ``[[mcp_servers]]``: connected in the background; their tools join the agent's registry when up.
    mcp_tools: McpToolSource | None = None

    def __post_init__(self) -> None:
        self.retriever = HybridRetriever(self.sessions, self.embedder, self.settings.retrieval)
        self.sync_engine = SyncEngine(self.sessions, self.embedder)
        self.queue = JobQueue(self.database_url, backend_priority=self.backend_priority)

    @property
    def runner(self) -> AgentRuntime:
        """The agent runtime; present on every service built by ``Service.start``."""
        if self.agent_runner is None:
            raise BotError("the agent runtime is not running: build the service with Service.start()")
        return self.agent_runner

    @classmethod
    def on_database(
        cls,
        settings: Settings,
        database_url: str,
        engine: AsyncEngine,
        *,
        chat_model: ChatModel | None = None,
        agent_runner: AgentRuntime | None = None,
        embedded_postgres: EmbeddedPostgres | None = None,
        backend_priority: BackendPriority | None = None,
    ) -> Service:
        """The service on a database that is already reachable and migrated, embedding as the settings say.

        ``start`` builds the production service through it; a process that brings its own agent runner (a
        benchmark, a test harness) builds its service through it too, so every process is wired the same way.
        """
        return cls(
            settings=settings,
            database_url=database_url,
            engine=engine,
            sessions=session_factory(engine),
            chat_model=chat_model,
            embedder=create_embedder(settings.embeddings),
            embedded_postgres=embedded_postgres,
            agent_runner=agent_runner,
            backend_priority=backend_priority,
        )

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool = True, backend_niceness: int = 0) -> Service:
        """Reach the database (starting the embedded one if needed), migrate it, and build the model clients.

        ``backend_niceness`` (a job worker's own niceness): its connections' backends run that much nicer too, when
        PostgreSQL is on this machine.
        """
        backend_priority = BackendPriority(backend_niceness) if backend_niceness > 0 else None
        embedded: EmbeddedPostgres | None = None
        if settings.database_url is not None:
            database_url = settings.database_url.get_secret_value()
        else:
            embedded = await asyncio.to_thread(
                start_embedded_postgres, settings.switchboard_home, settings.embedded_postgres_fallback_root
            )
            database_url = embedded.url
        try:
            if migrate:
                await asyncio.to_thread(upgrade_database, database_url)
            engine = create_engine(database_url, backend_priority=backend_priority)
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
        service = cls.on_database(
            settings,
            database_url,
            engine,
            chat_model=chat_model,
            embedded_postgres=embedded,
            backend_priority=backend_priority,
        )
        try:
            await service.queue.open()
            await service._start_agent_runtime()
        except BaseException:
            await service.aclose()
            raise
        return service

    # --- agent runtime ---
    async def _start_agent_runtime(self) -> None:
        """Open the checkpointer and memory store (their ``setup()`` is idempotent), seed prompts, build the runner."""
        self.agent_persistence = await AgentPersistence.open(
            self.database_url, self.embedder, backend_priority=self.backend_priority
        )
        registry = ToolRegistry.from_entry_points(enabled=self.settings.agent.enabled_tools)
        self.mcp_tools = McpToolSource(self.settings.mcp_servers, registry)
        self.mcp_tools.start()
        self.agent_runner = AgentRuntime(
            sessions=self.sessions,
            checkpointer=self.agent_persistence.checkpointer,
            store=self.agent_persistence.store,
            retriever=self.retriever,
            chat_model=self.chat_model,
            tools=registry,
            tools_config=self.settings.tools,
            config=self.settings.agent,
            on_run=self.metrics.observe_run,
            embedder=self.embedder,
        )
        await self.agent_runner.prompts.seed()
        logger.info(
            "agent runtime ready (%s); tools: %s", self.agent_runner.mode, ", ".join(self.agent_runner.tools.names())
        )

    # --- end agent runtime

    def evaluation_runner(self) -> EvaluationRunner:
        """Evaluation runs over this service's runtime, index and model (the CLI and ``/prompt test --eval``)."""
        runner = self.runner
        config = self.settings.evaluation
        return EvaluationRunner(
            sets=EvaluationSetStore(self.sessions),
            runs=EvaluationRunStore(self.sessions),
            runner=runner,
            prompts=runner.prompts,
            traces=runner.traces,
            graders=GraderRegistry.from_entry_points(enabled=config.graders),
            model=self.chat_model,
            retriever=self.retriever,
            config=config,
        )

    async def aclose(self) -> None:
        """Close clients, then the database pool, then the embedded server (if this process started it)."""
        if self.mcp_tools is not None:
            await self.mcp_tools.aclose()
        if self.agent_persistence is not None:
            await self.agent_persistence.aclose()
        if self.chat_model is not None:
            await self.chat_model.aclose()
        await self.embedder.aclose()
        await self.queue.aclose()
        await self.engine.dispose()
        if self.embedded_postgres is not None:
            await asyncio.to_thread(self.embedded_postgres.stop)
        logger.info("service stopped")
