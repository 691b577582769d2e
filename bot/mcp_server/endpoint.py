"""``/mcp``: Switchboard as an MCP server (streamable HTTP) for desktop assistants and IDEs.

It offers ``search_knowledge``, ``ask`` and ``list_sources``. Every request carries a bearer token issued by
``switchboard tokens create``; the token's user is the reader, with exactly the groups and roles the settings give
that Slack user id. No token, or an unknown, revoked or expired one: 401 (the SDK's bearer-auth middleware), and
the log records only the attempt. Stateless mode: any replica answers any request, and each request is checked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.server import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agents import AgentAnswer, AgentRequest, AgentRuntime, Asker
from bot.composition.background_tasks import start_background
from bot.errors import BotError
from bot.mcp_server.tokens import McpTokenStore
from bot.settings import Settings
from bot.slack.identity import IdentityResolver
from knowledge import Retriever, SearchQuery, knowledge_status

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
EXCERPT_CHARS = 1_200


class McpAuthError(BotError, PermissionError):
    """A tool ran without an authenticated token holder (the route's auth middleware should make this impossible)."""


class FoundPassage(BaseModel):
    title: str
    url: str
    source: str
    heading_path: list[str] = Field(default_factory=list)
    text: str


class SearchResults(BaseModel):
    passages: list[FoundPassage]


class SourceEntry(BaseModel):
    name: str
    type: str
    last_sync: str | None = Field(description="When the latest sync finished (ISO 8601), or None if never synced.")
    last_sync_status: str | None = None


class SourceList(BaseModel):
    sources: list[SourceEntry]


class _TokenVerifier:
    """The SDK's ``TokenVerifier``: a token is valid while it is stored, unrevoked and unexpired."""

    def __init__(self, tokens: McpTokenStore) -> None:
        self._tokens = tokens

    async def verify_token(self, token: str) -> AccessToken | None:
        holder = await self._tokens.holder(token)
        if holder is None:
            return None
        return AccessToken(
            token=holder.token_id,  # what a handler may see: the id, never the secret
            client_id=holder.user_id,
            scopes=[],
            expires_at=int(holder.expires_at.timestamp()),
        )


class _RefusalLog:
    """Logs a refused request (never its token) before the SDK answers it with 401."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not isinstance(scope.get("user"), AuthenticatedUser):
            presented = any(name.lower() == b"authorization" for name, _ in scope["headers"])
            reason = "an unknown, revoked or expired token" if presented else "no bearer token"
            client = scope.get("client") or ("unknown", 0)
            logger.warning("MCP request refused: %s (from %s)", reason, client[0])
        await self._app(scope, receive, send)


class McpEndpoint:
    """The MCP server and its route; between ``start()`` and ``aclose()`` the SDK's session manager runs."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        runner: AgentRuntime,
        retriever: Retriever,
        identity: IdentityResolver,
    ) -> None:
        self._settings = settings
        self._identity = identity
        self._sessions = sessions
        self._runner = runner
        self._retriever = retriever
        self.tokens = McpTokenStore(sessions)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # FastMCP's constructor calls logging.basicConfig, which adds a handler to a root logger that has none; the
        # service configures logging once, in its entry point, so any handler added here is taken off again
        # (and the root level restored).
        root = logging.getLogger()
        root_handlers, root_level = list(root.handlers), root.level
        self._server = FastMCP(
            name="switchboard",
            instructions="Search the company's internal knowledge and ask questions answered from it, with sources.",
            stateless_http=True,
            json_response=True,
            # Requests are authenticated by bearer token, which a DNS-rebinding page cannot present; the Host
            # check would refuse the service's public name behind a proxy.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        for handler in set(root.handlers) - set(root_handlers):
            root.removeHandler(handler)
        root.setLevel(root_level)
        self._server.add_tool(self.search_knowledge, name="search_knowledge", structured_output=True)
        self._server.add_tool(self.ask, name="ask")
        self._server.add_tool(self.list_sources, name="list_sources", structured_output=True)
        self._server.streamable_http_app()  # creates the session manager the route hands requests to

    def routes(self) -> list[Route]:
        handler: ASGIApp = StreamableHTTPASGIApp(self._server.session_manager)
        guarded = RequireAuthMiddleware(AuthContextMiddleware(handler), required_scopes=[])
        app = AuthenticationMiddleware(_RefusalLog(guarded), backend=BearerAuthBackend(_TokenVerifier(self.tokens)))
        return [Route(MCP_PATH, endpoint=app, methods=["GET", "POST", "DELETE"])]

    async def start(self) -> None:
        """Run the SDK's session manager in a task of its own: its anyio task group must be entered and left in
        one task, whichever task later stops the service."""
        started = asyncio.Event()

        async def run() -> None:
            async with self._server.session_manager.run():
                started.set()
                await self._stopping.wait()

        self._task = start_background(run(), name="mcp-session-manager", failure="the MCP session manager failed")
        await started.wait()

    async def aclose(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _asker(self) -> Asker:
        """The token's person, read exactly as Slack reads them (see ``IdentityResolver``)."""
        access = get_access_token()
        if access is None:
            raise McpAuthError("this MCP request carries no valid bearer token")
        return await self._identity.person(access.client_id, "mcp")

    async def search_knowledge(self, query: str, limit: int = 6) -> SearchResults:
        """Search the company's internal knowledge (docs, wikis, runbooks) and return the most relevant passages,
        each with its title and link. Only documents you may read are searched."""
        asker = await self._asker()
        found = await self._retriever.search(
            SearchQuery(text=query[:500], scope=asker.scope, limit=max(1, min(limit, 20)))
        )
        logger.info("MCP search_knowledge by %s: %d passages", asker.user_id, len(found))
        return SearchResults(
            passages=[
                FoundPassage(
                    title=p.title, url=p.url, source=p.source, heading_path=p.heading_path, text=p.text[:EXCERPT_CHARS]
                )
                for p in found
            ]
        )

    async def ask(self, question: str) -> str:
        """Ask a question; Switchboard answers from the internal knowledge with its sources as links."""
        asker = await self._asker()
        request = AgentRequest(question=question, thread_id=f"mcp:{asker.user_id}:{uuid.uuid4().hex}", asker=asker)
        answer = await self._runner.answer(request)
        logger.info("MCP ask by %s answered (trace %s)", asker.user_id, answer.trace_id)
        return answer_markdown(answer)

    async def list_sources(self) -> SourceList:
        """List the knowledge sources Switchboard searches, with when each was last synced."""
        await self._asker()
        status = {entry.source: entry for entry in (await knowledge_status(self._sessions)).sources}
        entries = []
        for source in self._settings.sources:
            run = status[source.name].last_run if source.name in status else None
            entries.append(
                SourceEntry(
                    name=source.name,
                    type=source.type,
                    last_sync=run.finished_at.isoformat() if run is not None and run.finished_at else None,
                    last_sync_status=run.status if run is not None else None,
                )
            )
        return SourceList(sources=entries)


def answer_markdown(answer: AgentAnswer) -> str:
    """The answer, its notes, and its sources as Markdown links; the trace id lets people report a bad answer."""
    parts = [answer.text]
    parts += [f"_{note}_" for note in answer.notes]
    if answer.citations:
        links = "\n".join(f"{n}. {_markdown_link(c.title, c.url)}" for n, c in enumerate(answer.citations, 1))
        parts.append(f"Sources:\n{links}")
    parts.append(f"(trace {answer.trace_id})")
    return "\n\n".join(parts)


def _markdown_link(title: str, url: str) -> str:
    """A link whose title and URL (both from documents, so untrusted) cannot break out of the Markdown syntax."""
    text = " ".join(title.split()).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    return f"[{text}]({target})"
