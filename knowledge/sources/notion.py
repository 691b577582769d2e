"""Notion: the pages shared with the integration (database rows included, with their properties), one document each.

Listing is Notion's search (``POST /v1/search``), newest edit first, which returns every page and data source shared
with the integration with its ``last_edited_time`` and parent: an incremental run stops at the first result older
than the last run's start minus ``overlap_minutes``, and only pages whose ``last_edited_time`` changed have their
blocks read (``GET /v1/blocks/{id}/children``, recursively, every page of children). A complete listing every
``deletion_check_minutes`` finds pages deleted, moved to the trash or unshared. ``roots`` narrows the index to the
pages below chosen pages or databases. The well-kept async ``notion-client`` does the HTTP (its retries honour 429
``Retry-After``); its errors become the package's.

Access: Notion's API does not tell an integration who may read a page. The operator maps the workspace, top-level
pages or databases to readers in ``access_map``; a page takes the mapping of its nearest mapped ancestor (itself
first), then ``workspace``. A page no mapping covers is readable only by ``unmapped_groups`` (default the ``admins``
group of the config file), never by everyone: unmapped is closed, not open.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from notion_client import AsyncClient
from notion_client.client import ClientOptions, RetryOptions
from notion_client.errors import HTTPResponseError, RequestTimeoutError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from knowledge.documents import AccessList, SourceDocument
from knowledge.errors import SourceAuthError, SourceRateLimitedError, SourceUnavailableError
from knowledge.sources.abc import FetchFailure, KnownDocument, Unchanged
from knowledge.sources.api_client import MAX_RETRY_AFTER_SECONDS
from knowledge.sources.notion_blocks import property_text, render_block, rich_text, title_of
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource
from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN, SaaSSourceConfig, SourceSecrets

logger = logging.getLogger(__name__)

_PAGE = 100
# Block children nested deeper than this are not read (Notion pages rarely nest past five).
_MAX_DEPTH = 8
_MAX_ANCESTORS = 64
# Ids go into request paths: anything but Notion's UUID alphabet is refused before it is sent.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WORKSPACE = "workspace"


def notion_id(value: str) -> str:
    """An id as Notion writes it in URLs and APIs alike, for comparing: lowercase, no dashes."""
    return value.replace("-", "").lower()


class NotionAccess(BaseModel):
    """Who may read the pages below one mapping key: Slack user ids and group names of the config's ``[groups]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> NotionAccess:
        if not self.users and not self.groups:
            raise ValueError("an access_map entry needs `users` or `groups` (Notion pages are never mapped public)")
        return self


class NotionSourceConfig(SaaSSourceConfig):
    """``[[sources]]`` entry of ``type = "notion"``: an internal integration's token, and who reads what."""

    type: Literal["notion"] = "notion"
    token_env: str = Field(default="NOTION_TOKEN", pattern=ENVIRONMENT_VARIABLE_PATTERN)
    api_url: str = "https://api.notion.com"
    roots: tuple[str, ...] = Field(default=(), description="Page or database ids; unset: all shared pages.")
    access_map: dict[str, NotionAccess] = Field(
        default_factory=dict, description='"workspace", or a page or database id -> users and groups.'
    )
    unmapped_groups: tuple[str, ...] = Field(
        default=("admins",), description="Who reads pages no access_map entry covers; empty: nobody."
    )

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("roots")
    @classmethod
    def _ids(cls, roots: tuple[str, ...]) -> tuple[str, ...]:
        for root in roots:
            if not _ID.fullmatch(root):
                raise ValueError(f"roots are Notion page or database ids (32 hex digits), got {root!r}")
        return roots

    @field_validator("access_map")
    @classmethod
    def _keys(cls, mapping: dict[str, NotionAccess]) -> dict[str, NotionAccess]:
        for key in mapping:
            if key != WORKSPACE and not _ID.fullmatch(key):
                raise ValueError(f'access_map keys are "workspace" or page / database ids, got {key!r}')
        return mapping


@dataclass
class _Node:
    """A page or data source as the listing describes it; ``parent`` is (kind, id) as Notion gives it."""

    id: str
    kind: str
    title: str
    last_edited: str
    parent: tuple[str, str]
    url: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    in_trash: bool = False
    # A data source answers for its database too (access_map and roots may name either).
    aliases: tuple[str, ...] = ()


class NotionSource(PermissionedSource):
    """Pages shared with the integration (or below ``roots``), readable as ``access_map`` says."""

    def __init__(self, config: NotionSourceConfig, secrets: SourceSecrets) -> None:
        self.config = config
        self.name = config.name
        self.permission_sync_minutes = config.permission_sync_minutes
        options = ClientOptions(
            auth=secrets.require(config.name, config.token_env),
            base_url=config.api_url,
            timeout_ms=int(config.timeout_seconds * 1000),
            # A logger of its own: the client sets its level, and logs each 404 of an unshared parent as a warning.
            logger=logging.getLogger(f"{__name__}.client"),
            log_level=logging.ERROR,
            retry=RetryOptions(
                max_retries=config.max_retries,
                initial_retry_delay_ms=500,
                max_retry_delay_ms=int(MAX_RETRY_AFTER_SECONDS * 1000),
            ),
        )
        self._client = AsyncClient(options)
        self._access_map = {
            (key if key == WORKSPACE else notion_id(key)): grant for key, grant in config.access_map.items()
        }
        self._roots = {notion_id(root) for root in config.roots}
        self._nodes: dict[str, _Node] = {}
        # Ancestors that could not be read (not shared with the integration): the chain stops there.
        self._unreachable: set[str] = set()
        self._previous: dict[str, Any] = {}

    def resume(self, checkpoint: dict[str, Any] | None) -> None:
        self._previous = dict(checkpoint or {})
        self.checkpoint = dict(self._previous)

    # --- requests ---

    async def _call(self, request: Awaitable[Any], what: str, *, missing_ok: bool = False) -> Any:
        """One API call through notion-client; its errors as the package's (None: not found, when allowed)."""
        try:
            return await request
        except HTTPResponseError as error:
            if error.status == 401:
                raise SourceAuthError(
                    f"source {self.name!r}: Notion refused the token in {self.config.token_env} (HTTP 401); check "
                    f"that {self.config.token_env} holds the internal integration's secret"
                ) from None
            if missing_ok and error.status in (403, 404):
                return None
            if error.status == 429:
                raise SourceRateLimitedError(
                    f"source {self.name!r}: still rate limited by Notion after {self.config.max_retries} retries; "
                    "the next sync goes on"
                ) from None
            raise SourceUnavailableError(
                f"source {self.name!r}: {what} answered HTTP {error.status} ({error.code})"
            ) from None
        except (RequestTimeoutError, httpx.TransportError) as error:
            raise SourceUnavailableError(f"source {self.name!r}: {what} failed ({type(error).__name__})") from error

    async def _search(self, since: datetime | None) -> AsyncIterator[_Node]:
        """Every shared page and data source, newest edit first; stops at the first edited before ``since``."""
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {
                "sort": {"direction": "descending", "timestamp": "last_edited_time"},
                "page_size": _PAGE,
            }
            if cursor:
                body["start_cursor"] = cursor
            answer = await self._call(self._client.search(**body), "search")
            for result in answer.get("results") or []:
                node = self._node(result)
                if node is None:
                    continue
                if since is not None and (_parse_time(node.last_edited) or since) < since:
                    return
                yield node
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return

    def _node(self, result: Mapping[str, Any]) -> _Node | None:
        kind = str(result.get("object") or "")
        node_id = str(result.get("id") or "")
        if kind not in ("page", "data_source", "database") or not _ID.fullmatch(node_id):
            return None
        parent = result.get("database_parent") if kind == "data_source" else result.get("parent")
        parent = parent if isinstance(parent, Mapping) else {}
        parent_kind = str(parent.get("type") or WORKSPACE)
        parent_id = WORKSPACE if parent_kind == WORKSPACE else str(parent.get(parent_kind) or "")
        properties = dict(result.get("properties") or {})
        title = title_of(properties) if kind == "page" else rich_text(result.get("title")).strip()
        aliases: tuple[str, ...] = ()
        if kind == "data_source":
            database = (result.get("parent") or {}).get("database_id")
            aliases = (notion_id(str(database)),) if database else ()
        node = _Node(
            id=node_id,
            kind=kind,
            title=title or "Untitled",
            last_edited=str(result.get("last_edited_time") or ""),
            parent=(parent_kind, parent_id),
            url=str(result.get("url") or ""),
            properties=properties,
            in_trash=bool(result.get("in_trash") or result.get("archived")),
            aliases=aliases,
        )
        self._nodes[notion_id(node_id)] = node
        for alias in aliases:
            self._nodes.setdefault(alias, node)
        return node

    async def _parent_node(self, kind: str, parent_id: str) -> _Node | None:
        """The parent of a page, fetched when the listing did not include it; None when it cannot be read."""
        key = notion_id(parent_id)
        if key in self._nodes:
            return self._nodes[key]
        if key in self._unreachable or not _ID.fullmatch(parent_id):
            return None
        if kind == "page_id":
            found = await self._call(self._client.pages.retrieve(page_id=parent_id), "a page", missing_ok=True)
        elif kind == "data_source_id":
            found = await self._call(
                self._client.data_sources.retrieve(data_source_id=parent_id), "a data source", missing_ok=True
            )
        elif kind == "database_id":
            found = await self._call(
                self._client.databases.retrieve(database_id=parent_id), "a database", missing_ok=True
            )
        elif kind == "block_id":
            found = await self._call(self._client.blocks.retrieve(block_id=parent_id), "a block", missing_ok=True)
            if found is not None:  # a block is not a node: its page is the parent that counts
                parent = found.get("parent") or {}
                parent_kind = str(parent.get("type") or WORKSPACE)
                if parent_kind == WORKSPACE:
                    return None
                return await self._parent_node(parent_kind, str(parent.get(parent_kind) or ""))
        else:
            found = None
        node = self._node(found) if isinstance(found, Mapping) else None
        if node is None:
            self._unreachable.add(key)
        return node

    async def _chain(self, node: _Node) -> list[str]:
        """The node's id (and aliases) and its ancestors' ids, nearest first, as far as they can be read."""
        chain = [notion_id(node.id), *node.aliases]
        current: _Node | None = node
        for _ in range(_MAX_ANCESTORS):
            if current is None or current.parent[0] == WORKSPACE:
                break
            kind, parent_id = current.parent
            chain.append(notion_id(parent_id))
            current = await self._parent_node(kind, parent_id)
            if current is not None:
                chain += current.aliases
        return chain

    # --- content ---

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        started = datetime.now(UTC)
        since = self._since(started)
        self.listing_complete = since is None
        async for node in self._search(since):
            if node.kind != "page" or node.in_trash:
                continue
            chain = await self._chain(node)
            if self._roots and not self._roots & set(chain):
                continue
            external_id = f"page/{notion_id(node.id)}"
            previous = known.get(external_id)
            if previous is not None and previous.etag == node.last_edited:
                yield Unchanged(external_id=external_id)
                continue
            yield await self._document(node, external_id, self._access(chain))
        listed_at = started.isoformat() if since is None else self._previous.get("listed_at")
        self.checkpoint = {"synced_through": started.isoformat(), "listed_at": listed_at}

    def _since(self, started: datetime) -> datetime | None:
        listed_at = _parse_time(self._previous.get("listed_at"))
        synced_through = _parse_time(self._previous.get("synced_through"))
        due = listed_at is None or started - listed_at >= timedelta(minutes=self.config.deletion_check_minutes)
        if due or synced_through is None:
            return None
        return synced_through - timedelta(minutes=self.config.overlap_minutes)

    async def _document(self, node: _Node, external_id: str, access: AccessList) -> SourceDocument | FetchFailure:
        try:
            blocks = await self._children(node.id, 0)
        except SourceAuthError:
            raise
        except SourceUnavailableError as error:
            return FetchFailure(
                external_id=external_id, reason=str(error), title=node.title, url=node.url, access=access
            )
        facts = [
            f"- {name}: {text}"
            for name, value in node.properties.items()
            if isinstance(value, Mapping) and value.get("type") != "title" and (text := property_text(value))
        ]
        parts = [f"# {node.title}", "\n".join(facts), *blocks]
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=node.title,
            url=node.url or f"https://www.notion.so/{notion_id(node.id)}",
            content="\n\n".join(part for part in parts if part.strip()),
            updated_at=_parse_time(node.last_edited),
            access=access,
            etag=node.last_edited,
        )

    async def _children(self, block_id: str, depth: int) -> list[str]:
        """The block's children rendered, each page of them read (``has_more`` / ``next_cursor``)."""
        rendered: list[str] = []
        cursor: str | None = None
        while True:
            query: dict[str, Any] = {"block_id": block_id, "page_size": _PAGE}
            if cursor:
                query["start_cursor"] = cursor
            answer = await self._call(self._client.blocks.children.list(**query), "the blocks of a page")
            for block in answer.get("results") or []:
                kind = str(block.get("type") or "")
                child_id = str(block.get("id") or "")
                nested: list[str] = []
                descend = kind not in ("child_page", "child_database") and depth < _MAX_DEPTH
                if block.get("has_children") and descend and _ID.fullmatch(child_id):
                    nested = await self._children(child_id, depth + 1)
                text = render_block(block, nested)
                if text.strip():
                    rendered.append(text)
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return _merge_list_items(rendered)

    # --- permissions ---

    def _access(self, chain: Sequence[str]) -> AccessList:
        for key in [*chain, WORKSPACE]:
            grant = self._access_map.get(key)
            if grant is not None:
                return AccessList.restricted(users=grant.users, groups=grant.groups)
        if self.config.unmapped_groups:
            return AccessList.restricted(groups=self.config.unmapped_groups)
        return AccessList.unreadable("no access_map entry covers this page (and unmapped_groups is empty)")

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        # Notion has no groups an integration can read; permission sync starts with a listing (no blocks) here.
        self._nodes.clear()
        self._unreachable.clear()
        self.groups_error = None
        async for _ in self._search(None):
            pass
        return
        yield  # an async generator that yields nothing

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        for external_id in external_ids:
            node = self._nodes.get(external_id.rsplit("/", 1)[-1])
            if node is None or node.kind != "page" or node.in_trash:
                continue  # gone upstream: the next deletion check removes it
            yield AccessUpdate(external_id=external_id, access=self._access(await self._chain(node)))

    async def aclose(self) -> None:
        await self._client.aclose()


def _merge_list_items(blocks: list[str]) -> list[str]:
    """Consecutive list items as one list (Notion makes each item a block of its own)."""
    merged: list[str] = []
    for text in blocks:
        is_item = re.match(r"^(- |1\. )", text) is not None
        if merged and is_item and re.match(r"^(- |1\. )", merged[-1]):
            merged[-1] += "\n" + text
        else:
            merged.append(text)
    return merged


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
