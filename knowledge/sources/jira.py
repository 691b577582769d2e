"""Jira (Cloud and Data Center): the issues of chosen projects or of a JQL query, one document each.

An issue's document holds its summary, status, type and resolution, its description and every comment. Cloud is read
through REST v3's ``/rest/api/3/search/jql`` (``nextPageToken`` pagination; descriptions and comments in the Atlassian
Document Format), Data Center through v2's ``/rest/api/2/search`` (``startAt``; wiki markup kept as text). The search
returns each issue with its fields, so an unchanged issue (same ``updated``) costs nothing beyond its listing line,
and comments past the first page are fetched from the issue's comment endpoint.

Incremental runs ask for ``updated >= "-Nm"`` (a duration: JQL reads dates in the account's time zone, durations
in none) reaching back to the last run's start minus ``overlap_minutes``, ordered by ``updated``; the position reached
is checkpointed after every result page, and a complete listing every ``deletion_check_minutes`` finds deleted (or
moved out of scope) issues.

Access: whoever holds *Browse projects* in the project's permission scheme (groups, users, project roles, the
reporter or assignee; "anyone" is public) *and*, when the issue has a security level, is a member of that level. The
holders Jira cannot enumerate for us (application roles, custom fields) grant nobody here. When the scheme or a
level cannot be read (the account needs *Administer Jira* or the project's admin permission), the issue is readable
by nobody until it can be (fail closed).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from knowledge.documents import AccessList, SourceDocument, email_principal, external_group_principal
from knowledge.errors import SourceAuthError, SourceUnavailableError
from knowledge.sources.abc import FetchFailure, KnownDocument, Unchanged
from knowledge.sources.atlassian_document import adf_to_markdown
from knowledge.sources.atlassian_site import GroupMembers, atlassian_api_client
from knowledge.sources.jira_config import JiraSourceConfig
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource, intersect_access
from knowledge.sources.saas_config import SourceSecrets

__all__ = ["JiraSource", "JiraSourceConfig"]

logger = logging.getLogger(__name__)

_PAGE = 100
_CONTENT_FIELDS = "summary,description,comment,resolution,resolutiondate,status,issuetype,updated,created"
_ACCESS_FIELDS = "project,security,reporter,assignee,updated"
_BROWSE = "BROWSE_PROJECTS"
# Holders that grant every reader (anonymous access).
_PUBLIC = "anyone"


@dataclass
class _Issue:
    id: str
    key: str
    project: str
    updated: str
    security_level: str | None
    reporter: str | None
    assignee: str | None


@dataclass
class _Project:
    key: str
    public: bool = False
    # Holders of Browse projects; ``reporter`` / ``assignee`` are resolved per issue.
    principals: frozenset[str] = frozenset()
    issue_roles: frozenset[str] = frozenset()
    unreadable: str | None = None


@dataclass
class _Level:
    public: bool = False
    principals: frozenset[str] = frozenset()
    issue_roles: frozenset[str] = frozenset()
    unreadable: str | None = None


class JiraSource(PermissionedSource):
    """Issues of the configured projects (or JQL), with their comments, readable as Jira says."""

    def __init__(self, config: JiraSourceConfig, secrets: SourceSecrets) -> None:
        self.config = config
        self.name = config.name
        self.permission_sync_minutes = config.permission_sync_minutes
        self._api = atlassian_api_client(config, secrets)
        self._rest = "/rest/api/3" if config.cloud else "/rest/api/2"
        self._emails = {key.lower(): email for key, email in config.user_emails.items()}
        self._group_prefix = external_group_principal(self.name, "")
        self._issues: dict[str, _Issue] = {}
        self._projects: dict[str, _Project] = {}
        self._levels: dict[str, _Level] = {}
        self._groups = GroupMembers()
        self._previous: dict[str, Any] = {}

    def resume(self, checkpoint: dict[str, Any] | None) -> None:
        self._previous = dict(checkpoint or {})
        self.checkpoint = dict(self._previous)

    # --- listing ---

    def _jql(self, since: str | None = None) -> str:
        if self.config.projects:
            scope = f"project in ({', '.join(self.config.projects)})"
        else:
            scope = f"({self.config.jql})"
        if since:
            # Relative minutes, not a date: JQL reads dates in the account's time zone, durations in none.
            behind = datetime.now(UTC) - (_parse_time(since) or datetime.now(UTC))
            scope += f' AND updated >= "-{max(1, math.ceil(behind.total_seconds() / 60) + 1)}m"'
        return scope + " ORDER BY updated ASC"

    async def _search(self, jql: str, fields: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of issues a JQL search returns: ``nextPageToken`` on Cloud, ``startAt`` on Data Center."""
        params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": _PAGE}
        if self.config.cloud:
            path = f"{self._rest}/search/jql"
            while True:
                body = await self._api.get_json(path, params)
                yield list(body.get("issues") or [])
                token = body.get("nextPageToken")
                if body.get("isLast", True) or not token:
                    return
                params = {**params, "nextPageToken": token}
        path = f"{self._rest}/search"
        start = 0
        while True:
            body = await self._api.get_json(path, {**params, "startAt": start})
            issues = list(body.get("issues") or [])
            yield issues
            start += len(issues)
            if not issues or start >= int(body.get("total") or 0):
                return

    def _issue(self, raw: Mapping[str, Any]) -> _Issue:
        fields = raw.get("fields") or {}
        security = fields.get("security") or {}
        return _Issue(
            id=str(raw["id"]),
            key=str(raw.get("key") or raw["id"]),
            project=str((fields.get("project") or {}).get("key") or str(raw.get("key") or "").split("-")[0]),
            updated=str(fields.get("updated") or ""),
            security_level=str(security["id"]) if security.get("id") else None,
            reporter=self._user_principal(fields.get("reporter")),
            assignee=self._user_principal(fields.get("assignee")),
        )

    def _user_principal(self, user: Any) -> str | None:
        if not isinstance(user, Mapping):
            return None
        email = user.get("emailAddress")
        for key in ("accountId", "name", "key"):
            if not email and user.get(key):
                email = self._emails.get(str(user[key]).lower())
        return email_principal(str(email)) if email else None

    def _external_id(self, issue: _Issue) -> str:
        # The id, not the key: a moved issue gets a new key but stays the same document.
        return f"{issue.project}/issue/{issue.id}"

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
        async for raws in self._search(self._jql(listing.get("since")), f"{_CONTENT_FIELDS},{_ACCESS_FIELDS}"):
            issues = [(raw, self._issue(raw)) for raw in raws]
            changed = []
            for raw, issue in issues:
                self._issues[issue.id] = issue
                previous = known.get(self._external_id(issue))
                if previous is not None and previous.etag == issue.updated:
                    yield Unchanged(external_id=self._external_id(issue))
                else:
                    changed.append((raw, issue))
            if changed:
                await self._load_access([issue for _, issue in changed])
            for raw, issue in changed:
                yield await self._document(raw, issue)
            if issues:  # everything up to here is written: a restart lists from this update time on
                listing["since"] = _utc_iso(max((issue.updated for _, issue in issues), key=_sort_time))
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
        return {"full": False, "since": _utc_iso(synced_through - timedelta(minutes=self.config.overlap_minutes))}

    async def _document(self, raw: Mapping[str, Any], issue: _Issue) -> SourceDocument | FetchFailure:
        fields = raw.get("fields") or {}
        url = f"{self.config.base_url}/browse/{issue.key}"
        access = self.access_of(issue)
        summary = str(fields.get("summary") or "").strip() or "Untitled"
        title = f"{issue.key}: {summary}"
        try:
            comments = await self._comments(issue, fields.get("comment"))
        except SourceAuthError:
            raise
        except SourceUnavailableError as error:
            return FetchFailure(external_id=self._external_id(issue), reason=str(error), url=url, access=access)
        facts = [
            f"Status: {_name(fields.get('status')) or 'unknown'}",
            f"Type: {_name(fields.get('issuetype')) or 'issue'}",
            f"Resolution: {_name(fields.get('resolution')) or 'Unresolved'}",
        ]
        if fields.get("resolutiondate"):
            facts.append(f"Resolved: {str(fields['resolutiondate'])[:10]}")
        parts = [f"# {title}", " · ".join(facts)]
        description = adf_to_markdown(fields.get("description"))
        if description:
            parts += ["## Description", _demoted(description, 2)]
        if comments:
            parts.append("## Comments")
            for comment in comments:
                author = _name(comment.get("author"), "displayName") or "someone"
                when = str(comment.get("created") or "")[:10]
                body = adf_to_markdown(comment.get("body"))
                parts += [f"### {author}, {when}".rstrip(", "), _demoted(body, 3)]
        return SourceDocument(
            source=self.name,
            external_id=self._external_id(issue),
            title=title,
            url=url,
            content="\n\n".join(part for part in parts if part.strip()),
            updated_at=_parse_time(issue.updated),
            access=access,
            etag=issue.updated,
        )

    async def _comments(self, issue: _Issue, listed: Any) -> list[Mapping[str, Any]]:
        """The comments the search returned, or all of them from the comment endpoint when it returned a part."""
        listed = listed if isinstance(listed, Mapping) else {}
        comments = [c for c in listed.get("comments") or [] if isinstance(c, Mapping)]
        total = int(listed.get("total") or len(comments))
        if total <= len(comments):
            return comments
        comments = []
        start = 0
        while True:
            body = await self._api.get_json(
                f"{self._rest}/issue/{quote(issue.id)}/comment", {"startAt": start, "maxResults": _PAGE}
            )
            page = [c for c in body.get("comments") or [] if isinstance(c, Mapping)]
            comments += page
            start += len(page)
            if not page or start >= int(body.get("total") or 0):
                return comments

    # --- permissions ---

    async def _load_access(self, issues: Iterable[_Issue]) -> None:
        issues = list(issues)
        for key in sorted({issue.project for issue in issues}):
            await self._project(key)
        for level in sorted({issue.security_level for issue in issues if issue.security_level}):
            await self._level(level)
        await self._load_groups(self._referenced_groups())

    async def _holders(self, permissions: Iterable[Any], project: str | None) -> tuple[bool, set[str], set[str]]:
        """(public, principals, issue roles) of permission holders (``holder`` objects of schemes and levels).

        A security level's project-role holders (``project`` None) would need the issue's project roles; they grant
        nobody here, which can only hide an issue, never show it.
        """
        public, principals, issue_roles = False, set(), set()
        for entry in permissions:
            holder = (entry.get("holder") if isinstance(entry, Mapping) else None) or {}
            kind = str(holder.get("type") or "")
            parameter = str(holder.get("parameter") or "")
            if kind == _PUBLIC:
                public = True
            elif kind == "group" and parameter:
                principals.add(self._group_prefix + parameter)
            elif kind == "user":
                user = holder.get("user") or {"accountId": parameter, "name": parameter}  # expanded, with its email
                if (found := self._user_principal(user)) is not None:
                    principals.add(found)
            elif kind == "projectRole" and parameter and project is not None:
                principals |= await self._role_actors(project, parameter)
            elif kind in ("reporter", "assignee"):
                issue_roles.add(kind)
        return public, principals, issue_roles

    async def _project(self, key: str) -> _Project:
        if key in self._projects:
            return self._projects[key]
        project = _Project(key)
        self._projects[key] = project
        advice = "the account needs Administer Jira, or the project's Administer projects permission"
        response = await self._api.get(f"{self._rest}/project/{quote(key)}/permissionscheme")
        if not response.is_success:
            project.unreadable = f"the permission scheme of project {key} could not be read (HTTP "
            project.unreadable += f"{response.status_code}); {advice}"
            return project
        scheme_id = str(response.json().get("id") or "")
        response = await self._api.get(
            f"{self._rest}/permissionscheme/{quote(scheme_id)}", {"expand": "permissions,user,group"}
        )
        if not response.is_success:
            project.unreadable = f"permission scheme {scheme_id} of project {key} could not be read; {advice}"
            return project
        browse = [p for p in response.json().get("permissions") or [] if p.get("permission") == _BROWSE]
        try:
            public, principals, issue_roles = await self._holders(browse, key)
        except _RoleUnreadable as error:
            project.unreadable = f"{error}; {advice}"
            return project
        project.public, project.principals, project.issue_roles = public, frozenset(principals), frozenset(issue_roles)
        return project

    async def _role_actors(self, project: str, role: str) -> set[str]:
        response = await self._api.get(f"{self._rest}/project/{quote(project)}/role/{quote(role)}")
        if not response.is_success:
            raise _RoleUnreadable(f"role {role} of project {project} could not be read (HTTP {response.status_code})")
        found = set()
        for actor in response.json().get("actors") or []:
            if (group := actor.get("actorGroup")) or actor.get("type") == "atlassian-group-role-actor":
                name = str((group or {}).get("name") or actor.get("name") or "")
                if name:
                    found.add(self._group_prefix + name)
            elif (user := actor.get("actorUser")) or actor.get("type") == "atlassian-user-role-actor":
                person = self._user_principal({**(user or {}), "name": actor.get("name")})
                if person is not None:
                    found.add(person)
        return found

    async def _level(self, level_id: str) -> _Level:
        if level_id in self._levels:
            return self._levels[level_id]
        level = _Level()
        self._levels[level_id] = level
        members: list[Any] = []
        start = 0
        while True:
            response = await self._api.get(
                f"{self._rest}/issuesecurityschemes/level/member",
                {"levelId": level_id, "startAt": start, "maxResults": _PAGE, "expand": "holder"},
            )
            if not response.is_success:
                level.unreadable = (
                    f"the members of issue security level {level_id} could not be read (HTTP {response.status_code}); "
                    "the account needs Administer Jira"
                )
                return level
            body = response.json()
            page = list(body.get("values") or [])
            members += page
            start += len(page)
            if body.get("isLast", True) or not page:
                break
        public, principals, issue_roles = await self._holders(members, None)
        level.public, level.principals, level.issue_roles = public, frozenset(principals), frozenset(issue_roles)
        return level

    def _referenced_groups(self) -> set[str]:
        levels = [p.principals for p in self._projects.values()] + [lv.principals for lv in self._levels.values()]
        prefix = self._group_prefix
        return {p.removeprefix(prefix) for level in levels for p in level if p.startswith(prefix)}

    async def _load_groups(self, names: Iterable[str]) -> None:
        for name in sorted(set(names) - set(self._groups.members) - set(self._groups.failed)):
            members: set[str] = set()
            start = 0
            try:
                while True:
                    body = await self._api.get_json(
                        f"{self._rest}/group/member", {"groupname": name, "startAt": start, "maxResults": _PAGE}
                    )
                    page = list(body.get("values") or [])
                    members |= {p for p in (self._user_principal(user) for user in page) if p}
                    start += len(page)
                    if body.get("isLast", True) or not page:
                        break
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                self._groups.failed[name] = str(error)
                continue
            self._groups.members[name] = frozenset(members)

    def _issue_level(self, issue: _Issue, roles: frozenset[str], principals: frozenset[str]) -> frozenset[str]:
        people = {issue.reporter if role == "reporter" else issue.assignee for role in roles}
        return principals | {person for person in people if person}

    def access_of(self, issue: _Issue) -> AccessList:
        """Browse projects in the issue's project, intersected with its security level when it has one."""
        project = self._projects.get(issue.project)
        if project is None:
            return AccessList.unreadable(f"project {issue.project} was not read")
        if project.unreadable is not None:
            return AccessList.unreadable(project.unreadable)
        levels: list[frozenset[str]] = []
        if not project.public:
            levels.append(self._issue_level(issue, project.issue_roles, project.principals))
        if issue.security_level is not None:
            level = self._levels.get(issue.security_level)
            if level is None:
                return AccessList.unreadable(f"issue security level {issue.security_level} was not read")
            if level.unreadable is not None:
                return AccessList.unreadable(level.unreadable)
            if not level.public:
                levels.append(self._issue_level(issue, level.issue_roles, level.principals))
        return intersect_access(levels, self._group_prefix, self._groups.members, self._groups.failed)

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        # Permission sync starts here: one listing of every issue's project and security level, no content.
        self._issues.clear()
        self._projects.clear()
        self._levels.clear()
        self._groups = GroupMembers()
        self.groups_error = None
        async for raws in self._search(self._jql(), _ACCESS_FIELDS):
            for raw in raws:
                issue = self._issue(raw)
                self._issues[issue.id] = issue
        for key in self.config.projects:
            await self._project(key)
        await self._load_access(self._issues.values())
        if self._groups.failed:
            name, reason = next(iter(self._groups.failed.items()))
            self.groups_error = f"group {name} could not be listed ({reason}); nobody reads through it"
        for name in sorted(set(self._groups.members) | set(self._groups.failed)):
            yield ExternalGroup(
                principal=self._group_prefix + name, members=self._groups.members.get(name, frozenset())
            )

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        for external_id in external_ids:
            issue = self._issues.get(external_id.rsplit("/", 1)[-1])
            if issue is None:
                continue  # gone upstream or out of scope: the next deletion check removes it
            yield AccessUpdate(external_id=external_id, access=self.access_of(issue))

    async def aclose(self) -> None:
        await self._api.aclose()


class _RoleUnreadable(SourceUnavailableError):
    """A project role's actors could not be read: the project's access is unknown."""


def _name(value: Any, key: str = "name") -> str:
    return str(value.get(key) or "") if isinstance(value, Mapping) else ""


def _demoted(markdown: str, depth: int) -> str:
    """Headings inside a description or comment sit below the section they are in."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and (heading := re.match(r"^(#{1,6})(\s.*)$", line)):
            line = "#" * min(6, len(heading.group(1)) + depth) + heading.group(2)
        lines.append(line)
    return "\n".join(lines)


def _utc_iso(value: str | datetime) -> str:
    when = _parse_time(value) if isinstance(value, str) else value
    return (when or datetime.now(UTC)).astimezone(UTC).isoformat()


def _sort_time(value: str) -> datetime:
    return _parse_time(value) or datetime.min.replace(tzinfo=UTC)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    # Jira writes offsets without a colon (2026-11-01T10:00:00.000+0000).
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
