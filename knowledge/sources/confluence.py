"""Confluence (Cloud and Data Center): the pages of chosen spaces, and their PDF and Word attachments.

One code path for both deployments: the v1 CQL content search (``/rest/api/content/search``), which Cloud and Data
Center both serve, lists pages and attachments with their version, ancestors and read restrictions expanded in
bulk. Cloud's v2 API has no bulk form of restrictions (one request per page), which would make every permission sync
cost as many requests as there are pages; with CQL it costs one request per hundred.

Content sync lists metadata only, ordered by modification time, and fetches bodies (in batches, by ``id in (...)``)
for pages whose version changed; incremental runs list what changed since the last one (minus the overlap), a
complete listing every ``deletion_check_minutes`` finds deletions. The listing's position (the modification time
reached) is checkpointed after every page of results, so a restart never starts over.

Access: a page may be read by whoever has the space's read permission *and* is in the read restriction of the page
and of each ancestor that has one (Confluence's inheritance). One list is stored as is (groups stay groups, synced
with their members); several lists are intersected person by person through the synced group members. When the
space's permissions or a restriction cannot be read, the page is readable by nobody (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from knowledge.documents import AccessList, SourceDocument, email_principal, external_group_principal
from knowledge.errors import DocumentParseError, SourceAuthError, SourceUnavailableError
from knowledge.parsing import parse_document
from knowledge.sources.abc import FetchFailure, KnownDocument, Unchanged
from knowledge.sources.atlassian_site import AtlassianSiteConfig, GroupMembers, atlassian_api_client
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource, intersect_access
from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN, SourceSecrets

logger = logging.getLogger(__name__)

_LIST_PAGE = 100
# Confluence caps a search that expands bodies at 50 results; fewer keeps each answer small.
_BODY_BATCH = 25
_META_EXPAND = ",".join(
    [
        "version",
        "space",
        "ancestors",
        "container",
        "restrictions.read.restrictions.user",
        "restrictions.read.restrictions.group",
        "extensions",
    ]
)
_ATTACHMENT_TYPES = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
_CQL_TIME = "%Y/%m/%d %H:%M"


class ConfluenceSourceConfig(AtlassianSiteConfig):
    """``[[sources]]`` entry of ``type = "confluence"``.

    Cloud: ``email_env`` names the variable with the account's email, ``token_env`` its API token (basic auth).
    Data Center: ``token_env`` alone, a personal access token (bearer).
    """

    type: Literal["confluence"] = "confluence"
    token_env: str = Field(default="CONFLUENCE_TOKEN", pattern=ENVIRONMENT_VARIABLE_PATTERN)
    spaces: tuple[str, ...] = Field(min_length=1, description="Space keys.")
    include_attachments: bool = True
    max_attachment_bytes: int = Field(default=25_000_000, gt=0)

    @field_validator("spaces")
    @classmethod
    def _space_keys(cls, spaces: tuple[str, ...]) -> tuple[str, ...]:
        for key in spaces:
            if not re.fullmatch(r"~?[A-Za-z0-9_-]+", key):
                raise ValueError(f"spaces are space keys such as ENG, got {key!r}")
        return spaces


@dataclass
class _Item:
    """A page or attachment as the metadata listing describes it."""

    id: str
    kind: str
    title: str
    space: str
    version: str
    modified: str
    url: str
    ancestors: list[tuple[str, str]]
    # None: the item has no read restriction of its own.
    restriction: frozenset[str] | None
    container: str | None = None
    media_type: str | None = None
    download: str | None = None


@dataclass
class _Space:
    key: str
    public: bool = False
    principals: frozenset[str] = frozenset()
    unreadable: str | None = None


class ConfluenceSource(PermissionedSource):
    """Pages (and PDF/Word attachments) of the configured spaces."""

    def __init__(self, config: ConfluenceSourceConfig, secrets: SourceSecrets) -> None:
        self.config = config
        self.name = config.name
        self.permission_sync_minutes = config.permission_sync_minutes
        self._api = atlassian_api_client(config, secrets)
        self._emails = {key.lower(): email for key, email in config.user_emails.items()}
        self._items: dict[str, _Item] = {}
        self._spaces: dict[str, _Space] = {}
        self._groups = GroupMembers()
        self._previous: dict[str, Any] = {}

    def resume(self, checkpoint: dict[str, Any] | None) -> None:
        self._previous = dict(checkpoint or {})
        self.checkpoint = dict(self._previous)

    # --- listing ---

    def _cql(self, since: str | None = None) -> str:
        spaces = ", ".join(f'"{key}"' for key in self.config.spaces)
        kinds = "page, attachment" if self.config.include_attachments else "page"
        cql = f"space in ({spaces}) and type in ({kinds})"
        if since:
            cql += f' and lastmodified >= "{since}"'
        return cql + " order by lastmodified asc"

    async def _search(self, cql: str, expand: str, limit: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a CQL content search; the next page is the ``_links.next`` Confluence gives."""
        params = {"cql": cql, "expand": expand, "limit": limit}
        async for body, _ in self._api.pages("/rest/api/content/search", params, _next_link):
            yield list(body.get("results") or [])

    def _item(self, result: Mapping[str, Any]) -> _Item:
        kind = str(result.get("type") or "page")
        version = result.get("version") or {}
        links = result.get("_links") or {}
        restrictions = ((result.get("restrictions") or {}).get("read") or {}).get("restrictions") or {}
        users = (restrictions.get("user") or {}).get("results") or []
        groups = (restrictions.get("group") or {}).get("results") or []
        restriction = None
        if users or groups:
            restriction = frozenset(
                [p for p in (self._user_principal(user) for user in users) if p]
                + [external_group_principal(self.name, str(group.get("name"))) for group in groups]
            )
        container = result.get("container") or {}
        extensions = result.get("extensions") or {}
        return _Item(
            id=str(result["id"]),
            kind=kind,
            title=str(result.get("title") or "Untitled"),
            space=str((result.get("space") or {}).get("key") or ""),
            version=str(version.get("number") or ""),
            modified=str(version.get("when") or ""),
            url=self.config.base_url + str(links.get("webui") or f"/pages/viewpage.action?pageId={result['id']}"),
            ancestors=[(str(a["id"]), str(a.get("title") or "")) for a in result.get("ancestors") or []],
            restriction=restriction,
            container=str(container["id"]) if container.get("id") else None,
            media_type=str(extensions.get("mediaType") or "") or None,
            download=str(links.get("download") or "") or None,
        )

    def _user_principal(self, user: Mapping[str, Any]) -> str | None:
        email = user.get("email")
        for key in ("accountId", "username", "userKey"):
            if not email and user.get(key):
                email = self._emails.get(str(user[key]).lower())
        return email_principal(str(email)) if email else None

    async def _lookup(self, ids: Iterable[str]) -> None:
        """Metadata of items the listing did not include (ancestors and containers of changed pages)."""
        missing = sorted({key for key in ids if key not in self._items})
        for start in range(0, len(missing), _LIST_PAGE):
            batch = missing[start : start + _LIST_PAGE]
            async for results in self._search(f"id in ({', '.join(batch)})", _META_EXPAND, _LIST_PAGE):
                for result in results:
                    item = self._item(result)
                    self._items[item.id] = item

    # --- content ---

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        self.listing_complete = True
        started = datetime.now(UTC)
        listing = dict(self._previous.get("listing") or {})
        resumed = bool(listing)
        if resumed:
            self.listing_complete = False  # its first part was read by the run that stopped
        else:
            listing = {"started": started.isoformat(), **self._window(started)}
            if not listing["full"]:
                self.listing_complete = False
        async for results in self._search(self._cql(listing.get("since")), _META_EXPAND, _LIST_PAGE):
            items = [self._item(result) for result in results]
            items = [item for item in items if item.kind == "page" or item.media_type in _ATTACHMENT_TYPES]
            for item in items:
                self._items[item.id] = item
            changed = []
            for item in items:
                external_id = self._external_id(item)
                previous = known.get(external_id)
                if previous is not None and previous.etag == item.version:
                    yield Unchanged(external_id=external_id)
                else:
                    changed.append(item)
            async for result in self._documents(changed):
                yield result
            if items:  # everything up to here is written: a restart lists from this modification time on
                listing["since"] = _cql_time(max(item.modified for item in items))
                self.checkpoint = {**(self.checkpoint or {}), "listing": dict(listing)}
        finished = {"synced_through": listing["started"], "listed_at": self._previous.get("listed_at")}
        if listing.get("full") and not resumed:
            finished["listed_at"] = listing["started"]
        self.checkpoint = finished

    def _window(self, started: datetime) -> dict[str, Any]:
        listed_at = _parse_time(self._previous.get("listed_at"))
        synced_through = _parse_time(self._previous.get("synced_through"))
        due = listed_at is None or started - listed_at >= timedelta(minutes=self.config.deletion_check_minutes)
        if due or synced_through is None:
            return {"full": True, "since": None}
        return {"full": False, "since": _cql_time(synced_through - timedelta(minutes=self.config.overlap_minutes))}

    def _external_id(self, item: _Item) -> str:
        if item.kind == "attachment":
            return f"{item.space}/page/{item.container}/attachment/{item.id}"
        return f"{item.space}/page/{item.id}"

    async def _documents(self, changed: list[_Item]) -> AsyncIterator[SourceDocument | FetchFailure]:
        if not changed:
            return
        await self._lookup(
            [a for item in changed for a, _ in item.ancestors] + [i.container for i in changed if i.container]
        )
        for key in {item.space for item in changed}:
            await self._space(key)
        await self._load_groups(self._referenced_groups(changed))
        pages = [item for item in changed if item.kind == "page"]
        bodies: dict[str, str] = {}
        for start in range(0, len(pages), _BODY_BATCH):
            batch = pages[start : start + _BODY_BATCH]
            cql = f"id in ({', '.join(item.id for item in batch)})"
            async for results in self._search(cql, "body.storage", _BODY_BATCH):
                for result in results:
                    bodies[str(result["id"])] = str(
                        ((result.get("body") or {}).get("storage") or {}).get("value") or ""
                    )
        for item in pages:
            yield await self._page(item, bodies.get(item.id))
        attachments = [item for item in changed if item.kind == "attachment"]
        for document in await asyncio.gather(*(self._attachment(item) for item in attachments)):
            yield document

    def _heading_path(self, item: _Item) -> list[str]:
        return [title for _, title in item.ancestors] + [item.title]

    async def _page(self, item: _Item, body: str | None) -> SourceDocument | FetchFailure:
        external_id = self._external_id(item)
        access = self.access_of(item)
        if body is None:
            return FetchFailure(
                external_id=external_id, reason="the page's body was not returned", url=item.url, access=access
            )
        try:
            parsed = await asyncio.to_thread(
                parse_document, f"<html><body>{body}</body></html>".encode(), content_type="text/html"
            )
        except DocumentParseError as error:
            return FetchFailure(external_id=external_id, reason=error.reason, title=item.title, url=item.url)
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=item.title,
            url=item.url,
            content=_under_headings(self._heading_path(item), parsed.content),
            updated_at=_parse_time(item.modified),
            access=access,
            etag=item.version,
        )

    async def _attachment(self, item: _Item) -> SourceDocument | FetchFailure:
        external_id = self._external_id(item)
        access = self.access_of(item)
        page = self._items.get(item.container or "")
        path = self._heading_path(page) if page else []
        try:
            if item.download is None:
                raise DocumentParseError("the attachment has no download link")
            response = await self._api.get(item.download)
            if not response.is_success:
                raise DocumentParseError(f"download answered HTTP {response.status_code}")
            if len(response.content) > self.config.max_attachment_bytes:
                raise DocumentParseError(f"larger than max_attachment_bytes ({self.config.max_attachment_bytes})")
            suffix = _ATTACHMENT_TYPES[str(item.media_type)]
            name = item.title if item.title.lower().endswith(suffix) else item.title + suffix
            parsed = await asyncio.to_thread(parse_document, response.content, name=name)
        except DocumentParseError as error:
            return FetchFailure(
                external_id=external_id, reason=error.reason, title=item.title, url=item.url, access=access
            )
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=item.title,
            url=item.url,
            content=_under_headings(path + [item.title], parsed.content),
            updated_at=_parse_time(item.modified),
            access=access,
            etag=item.version,
        )

    # --- permissions ---

    async def _space(self, key: str) -> _Space:
        if key not in self._spaces:
            response = await self._api.get(f"/rest/api/space/{quote(key)}", {"expand": "permissions"})
            space = _Space(key)
            if not response.is_success:
                space.unreadable = (
                    f"the permissions of space {key} could not be read (HTTP {response.status_code}); the account "
                    "needs the space's admin permission"
                )
            else:
                self._read_space_permissions(space, response.json())
            self._spaces[key] = space
        return self._spaces[key]

    def _read_space_permissions(self, space: _Space, body: Mapping[str, Any]) -> None:
        permissions = body.get("permissions")
        if permissions is None:
            space.unreadable = f"Confluence did not list the permissions of space {space.key}"
            return
        principals: set[str] = set()
        for permission in permissions:
            operation = permission.get("operation") or {}
            if operation.get("operation") != "read" or operation.get("targetType") != "space":
                continue
            if permission.get("anonymousAccess"):
                space.public = True
            subjects = permission.get("subjects") or {}
            for user in (subjects.get("user") or {}).get("results") or []:
                if (found := self._user_principal(user)) is not None:
                    principals.add(found)
            for group in (subjects.get("group") or {}).get("results") or []:
                principals.add(external_group_principal(self.name, str(group.get("name"))))
        space.principals = frozenset(principals)

    def _referenced_groups(self, items: Iterable[_Item]) -> set[str]:
        prefix = external_group_principal(self.name, "")
        lists: list[frozenset[str]] = [space.principals for space in self._spaces.values()]
        for item in items:
            lists += [level for level in self._restriction_chain(item) if level is not None]
        return {p.removeprefix(prefix) for level in lists for p in level if p.startswith(prefix)}

    async def _load_groups(self, names: Iterable[str]) -> None:
        for name in sorted(set(names) - set(self._groups.members) - set(self._groups.failed)):
            members: set[str] = set()
            try:
                async for body, _ in self._api.pages(
                    f"/rest/api/group/{quote(name, safe='')}/member", {"limit": 200}, _next_link
                ):
                    members |= {p for p in (self._user_principal(u) for u in body.get("results") or []) if p}
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                self._groups.failed[name] = str(error)
                continue
            self._groups.members[name] = frozenset(members)

    def _restriction_chain(self, item: _Item) -> list[frozenset[str] | None]:
        """The read restrictions that apply: the item's container page (attachments), its ancestors, itself."""
        page = self._items.get(item.container or "") if item.kind == "attachment" else item
        if page is None:
            return [frozenset()]  # the container could not be read: nobody
        chain = [self._items[a].restriction if a in self._items else frozenset() for a, _ in page.ancestors]
        chain.append(page.restriction)
        if item is not page:
            chain.append(item.restriction)
        return chain

    def access_of(self, item: _Item) -> AccessList:
        """Space permission intersected with every restriction up the ancestor chain."""
        space = self._spaces.get(item.space)
        if space is None:
            return AccessList.unreadable(f"space {item.space} was not read")
        if space.unreadable is not None:
            return AccessList.unreadable(space.unreadable)
        page = self._items.get(item.container or "") if item.kind == "attachment" else item
        if page is None:
            return AccessList.unreadable(f"the page holding attachment {item.id} could not be read")
        missing = [a for a, _ in page.ancestors if a not in self._items]
        if missing:
            return AccessList.unreadable(f"the restrictions of ancestor page {missing[0]} could not be read")
        levels = [level for level in self._restriction_chain(item) if level is not None]
        if not space.public:
            levels.insert(0, space.principals)
        prefix = external_group_principal(self.name, "")
        return intersect_access(levels, prefix, self._groups.members, self._groups.failed)

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        # Permission sync starts here: one metadata listing (no bodies) of every page, kept for current_access.
        self._items.clear()
        self._spaces.clear()
        self._groups = GroupMembers()
        self.groups_error = None
        async for results in self._search(self._cql(), _META_EXPAND, _LIST_PAGE):
            for result in results:
                item = self._item(result)
                self._items[item.id] = item
        for key in self.config.spaces:
            await self._space(key)
        await self._load_groups(self._referenced_groups(self._items.values()))
        if self._groups.failed:
            name, reason = next(iter(self._groups.failed.items()))
            self.groups_error = f"group {name} could not be listed ({reason}); nobody reads through it"
        for name in sorted(set(self._groups.members) | set(self._groups.failed)):
            yield ExternalGroup(
                principal=external_group_principal(self.name, name),
                members=self._groups.members.get(name, frozenset()),
            )

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        for external_id in external_ids:
            item = self._items.get(external_id.rsplit("/", 1)[-1])
            if item is None:
                continue  # gone upstream: the next deletion check removes it
            yield AccessUpdate(external_id=external_id, access=self.access_of(item))

    async def aclose(self) -> None:
        await self._api.aclose()


def _next_link(response: httpx.Response, body: Any) -> str | None:
    """Confluence's ``_links.next``: relative to the site (``_links.base`` is the site itself)."""
    following = (body.get("_links") or {}).get("next") if isinstance(body, dict) else None
    if not following:
        return None
    context = str((body.get("_links") or {}).get("context") or "")
    following = str(following)
    return following.removeprefix(context) if context and following.startswith(context + "/") else following


def _under_headings(path: list[str], markdown: str) -> str:
    """The ancestors' titles (and the page's) as the headings above the body, the body's own headings below them."""
    depth = min(len(path), 5)
    shifted, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and (heading := re.match(r"^(#{1,6})(\s.*)$", line)):
            line = "#" * min(6, len(heading.group(1)) + depth) + heading.group(2)
        shifted.append(line)
    headings = [f"{'#' * (index + 1)} {title}" for index, title in enumerate(path[-depth:])]
    return "\n\n".join(headings + ["\n".join(shifted)])


def _cql_time(value: str | datetime) -> str:
    when = _parse_time(value) if isinstance(value, str) else value
    return (when or datetime.now(UTC)).astimezone(UTC).strftime(_CQL_TIME)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(value, _CQL_TIME)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
