"""GitHub: Markdown, reStructuredText and text files under chosen paths of chosen repositories, optionally issues.

Files are listed with one git-tree request per repository and compared by blob SHA (stored as the document's
``etag``), so an unchanged file costs nothing and a restarted first sync skips every file it already wrote.
Issues are read incrementally (``since`` the last sync, minus the overlap window) from a stored checkpoint; the
complete issue listing that finds deletions runs every ``deletion_check_minutes``.

Access: a public repository is public; a private one is readable by its collaborators (as emails) and its teams
(synced as groups), as far as the token can list them; when it cannot, by nobody (fail closed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import pathspec
from pydantic import Field, field_validator

from knowledge.documents import AccessList, SourceDocument, email_principal, external_group_principal
from knowledge.errors import DocumentParseError, SourceAuthError, SourceUnavailableError
from knowledge.parsing import parse_document, title_from_name
from knowledge.sources.abc import FetchFailure, KnownDocument, Unchanged
from knowledge.sources.api_client import SourceApiClient, link_header_next
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource
from knowledge.sources.saas_config import SaaSSourceConfig, SourceSecrets

logger = logging.getLogger(__name__)

_PAGE = 100
_TEXT_MEDIA_TYPE = {".rst": "text/plain", ".txt": "text/plain"}


class GitHubSourceConfig(SaaSSourceConfig):
    """``[[sources]]`` entry of ``type = "github"`` (github.com, or GitHub Enterprise Server by ``api_url``)."""

    type: Literal["github"] = "github"
    token_env: str = Field(default="GITHUB_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    repos: tuple[str, ...] = Field(min_length=1, description="Repositories as owner/name.")
    paths: tuple[str, ...] = Field(
        default=("*.md", "*.markdown", "*.rst", "*.txt"),
        min_length=1,
        description="gitignore-style patterns of files to index, against the path in the repository.",
    )
    branch: str | None = Field(default=None, description="Branch to read; unset: each repository's default branch.")
    include_issues: bool = False
    api_url: str = "https://api.github.com"
    # GitHub keeps most emails private; this maps logins to the emails people have in Slack.
    user_emails: dict[str, str] = Field(default_factory=dict)

    @field_validator("repos")
    @classmethod
    def _owner_slash_name(cls, repos: tuple[str, ...]) -> tuple[str, ...]:
        for repo in repos:
            owner, _, name = repo.partition("/")
            if not owner or not name or "/" in name:
                raise ValueError(f"repos must be written owner/name, got {repo!r}")
        return repos

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")


@dataclass
class _Repository:
    full_name: str
    html_url: str
    branch: str
    private: bool
    teams: list[str] = field(default_factory=list)


class GitHubSource(PermissionedSource):
    """Files (and optionally issues) of the configured repositories."""

    def __init__(self, config: GitHubSourceConfig, secrets: SourceSecrets) -> None:
        self.config = config
        self.name = config.name
        self.permission_sync_minutes = config.permission_sync_minutes
        token = secrets.require(config.name, config.token_env)
        self._api = SourceApiClient(
            source=config.name,
            base_url=config.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            token_variable=config.token_env,
            max_concurrency=config.max_concurrency,
            max_retries=config.max_retries,
            timeout_seconds=config.timeout_seconds,
        )
        self._paths = pathspec.GitIgnoreSpec.from_lines(config.paths)
        self._repositories: dict[str, _Repository] = {}
        self._access: dict[str, AccessList] = {}
        self._emails: dict[str, str | None] = {login.lower(): email for login, email in config.user_emails.items()}
        self._previous: dict[str, Any] = {}

    def resume(self, checkpoint: dict[str, Any] | None) -> None:
        self._previous = dict(checkpoint or {})
        self.checkpoint = dict(self._previous)

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        self.listing_complete = True
        started = datetime.now(UTC)
        for full_name in self.config.repos:
            try:
                repository = await self._repository(full_name)
                access = await self._repository_access(repository)
                async for result in self._files(repository, access, known):
                    yield result
                if self.config.include_issues:
                    async for result in self._issues(repository, access, known, started):
                        yield result
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                if len(self.config.repos) == 1:
                    raise
                logger.warning("source %s: repository %s skipped: %s", self.name, full_name, error)
                self.listing_complete = False

    # --- files ---

    async def _files(
        self, repository: _Repository, access: AccessList, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        tree = await self._api.get_json(
            f"/repos/{repository.full_name}/git/trees/{quote(repository.branch, safe='')}", {"recursive": "1"}
        )
        if tree.get("truncated"):
            logger.warning(
                "source %s: the tree of %s is truncated; nothing is deleted", self.name, repository.full_name
            )
            self.listing_complete = False
        wanted = [
            entry
            for entry in tree.get("tree", [])
            if entry.get("type") == "blob" and self._paths.match_file(str(entry.get("path", "")))
        ]
        changed = []
        for entry in wanted:
            external_id = f"{repository.full_name}/{entry['path']}"
            previous = known.get(external_id)
            if previous is not None and previous.etag == entry["sha"]:
                yield Unchanged(external_id=external_id)
            else:
                changed.append(entry)
        step = self.config.max_concurrency * 4
        for start in range(0, len(changed), step):
            batch = changed[start : start + step]
            for result in await asyncio.gather(*(self._file(repository, access, entry) for entry in batch)):
                yield result

    async def _file(
        self, repository: _Repository, access: AccessList, entry: dict[str, Any]
    ) -> SourceDocument | FetchFailure:
        path = str(entry["path"])
        external_id = f"{repository.full_name}/{path}"
        url = f"{repository.html_url}/blob/{quote(repository.branch)}/{quote(path)}"
        blob = await self._api.get_json(f"/repos/{repository.full_name}/git/blobs/{entry['sha']}")
        try:
            data = base64.b64decode(blob.get("content", ""), validate=False)
            suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
            parsed = await asyncio.to_thread(parse_document, data, name=path, content_type=_TEXT_MEDIA_TYPE.get(suffix))
        except (DocumentParseError, binascii.Error, ValueError) as error:
            reason = getattr(error, "reason", str(error))
            return FetchFailure(external_id=external_id, reason=reason, title=path, url=url)
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=parsed.title or title_from_name(path.rsplit("/", 1)[-1]),
            url=url,
            content=parsed.content,
            access=access,
            etag=str(entry["sha"]),
        )

    # --- issues ---

    async def _issues(
        self,
        repository: _Repository,
        access: AccessList,
        known: Mapping[str, KnownDocument],
        started: datetime,
    ) -> AsyncIterator[SourceDocument | Unchanged]:
        state = dict(self._previous.get(repository.full_name) or {})
        listing_started, full_listing = self._issue_listing(state, started)
        params: dict[str, Any] | None = None
        if state.get("cursor"):  # continue the listing an earlier run was interrupted in
            # The cursor URL carries its whole query; httpx would replace it by any params given.
            url = str(state["cursor"])
            # Its first pages were read by that run, so this run's listing is not complete.
            self.listing_complete = False
        else:
            url = f"/repos/{repository.full_name}/issues"
            params = {"state": "all", "sort": "updated", "direction": "asc", "per_page": _PAGE}
            since = _parse_time(state.get("since"))
            if not full_listing and since is not None:
                params["since"] = (since - timedelta(minutes=self.config.overlap_minutes)).isoformat()
                self.listing_complete = False
        async for page, next_url in self._api.pages(url, params, link_header_next):
            for issue in page:
                if "pull_request" in issue:
                    continue
                external_id = f"{repository.full_name}/issues/{issue['number']}"
                previous = known.get(external_id)
                if previous is not None and previous.last_modified == issue.get("updated_at"):
                    yield Unchanged(external_id=external_id)
                    continue
                yield await self._issue(repository, access, issue, external_id)
            # Everything before the next page is covered: a restart continues there, never from the start.
            progress = {"cursor": next_url, "listing_started": listing_started, "listing_full": full_listing}
            self._set_checkpoint(repository.full_name, {**state, **progress})
        finished = {"since": listing_started}
        if full_listing and not state.get("cursor"):
            finished["listed_at"] = listing_started
        elif state.get("listed_at"):
            finished["listed_at"] = state["listed_at"]
        self._set_checkpoint(repository.full_name, finished)

    def _issue_listing(self, state: Mapping[str, Any], started: datetime) -> tuple[str, bool]:
        """When the listing this run performs started, and whether it lists every issue (to find deletions)."""
        if state.get("cursor"):
            return str(state["listing_started"]), bool(state.get("listing_full"))
        since = _parse_time(state.get("since"))
        reference = _parse_time(state.get("listed_at")) or since
        due = reference is None or started - reference >= timedelta(minutes=self.config.deletion_check_minutes)
        return started.isoformat(), since is None or due

    def _set_checkpoint(self, repository: str, state: dict[str, Any]) -> None:
        self.checkpoint = {**(self.checkpoint or {}), repository: state}

    async def _issue(
        self, repository: _Repository, access: AccessList, issue: dict[str, Any], external_id: str
    ) -> SourceDocument:
        parts = [f"# {issue.get('title') or 'Untitled issue'}", "", str(issue.get("body") or "")]
        if issue.get("comments"):
            path = f"/repos/{repository.full_name}/issues/{issue['number']}/comments"
            async for comments, _ in self._api.pages(path, {"per_page": _PAGE}, link_header_next):
                for comment in comments:
                    author = (comment.get("user") or {}).get("login", "someone")
                    parts += ["", f"## Comment by {author}", "", str(comment.get("body") or "")]
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=f"{repository.full_name}#{issue['number']}: {issue.get('title') or ''}".strip(),
            url=str(issue.get("html_url") or f"{repository.html_url}/issues/{issue['number']}"),
            content="\n".join(parts),
            updated_at=_parse_time(issue.get("updated_at")),
            access=access,
            last_modified=issue.get("updated_at"),
        )

    # --- permissions ---

    async def _repository(self, full_name: str) -> _Repository:
        if full_name not in self._repositories:
            response = await self._api.get(f"/repos/{full_name}")
            if response.status_code in (403, 404):
                raise SourceUnavailableError(
                    f"source {self.name!r}: repository {full_name} is not visible to the token in "
                    f"{self.config.token_env} (HTTP {response.status_code}); check the name and the token's access"
                )
            body = response.json()
            self._repositories[full_name] = _Repository(
                full_name=full_name,
                html_url=str(body["html_url"]),
                branch=self.config.branch or str(body.get("default_branch") or "main"),
                private=bool(body.get("private")) or body.get("visibility") in ("private", "internal"),
            )
        return self._repositories[full_name]

    async def _repository_access(self, repository: _Repository) -> AccessList:
        """Public, or the collaborators' emails and the teams; unreadable when the token cannot list collaborators."""
        if repository.full_name in self._access:
            return self._access[repository.full_name]
        if not repository.private:
            access = AccessList()
        else:
            access = await self._private_access(repository)
        self._access[repository.full_name] = access
        return access

    async def _private_access(self, repository: _Repository) -> AccessList:
        logins: list[str] = []
        path = f"/repos/{repository.full_name}/collaborators"
        try:
            async for page, _ in self._api.pages(path, {"affiliation": "all", "per_page": _PAGE}, link_header_next):
                logins += [str(user["login"]) for user in page]
        except SourceUnavailableError as error:
            return AccessList.unreadable(
                f"the token in {self.config.token_env} cannot list the collaborators of {repository.full_name} "
                f"({error}); it needs read access to the repository's collaborators"
            )
        teams_response = await self._api.get(f"/repos/{repository.full_name}/teams", {"per_page": _PAGE})
        owner = repository.full_name.split("/", 1)[0]
        repository.teams = (
            [f"{owner}/{team['slug']}" for team in teams_response.json()] if teams_response.is_success else []
        )
        emails = [email for email in await asyncio.gather(*(self._email(login) for login in logins)) if email]
        if len(emails) < len(logins):
            logger.info(
                "source %s: %d of %d collaborators of %s have no known email (user_emails) and cannot be matched",
                self.name,
                len(logins) - len(emails),
                len(logins),
                repository.full_name,
            )
        groups = [external_group_principal(self.name, team) for team in repository.teams]
        return AccessList.restricted(principals=[email_principal(email) for email in emails] + groups)

    async def _email(self, login: str) -> str | None:
        key = login.lower()
        if key not in self._emails:
            response = await self._api.get(f"/users/{quote(login)}")
            self._emails[key] = response.json().get("email") if response.is_success else None
        return self._emails[key]

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        # Permission sync starts here: forget what an earlier pass read, so visibility and teams are current.
        self._repositories.clear()
        self._access.clear()
        self.groups_error = None
        for full_name in self.config.repos:
            repository = await self._repository(full_name)
            await self._repository_access(repository)
            for team in repository.teams:
                org, slug = team.split("/", 1)
                logins: list[str] = []
                try:
                    path = f"/orgs/{org}/teams/{slug}/members"
                    async for page, _ in self._api.pages(path, {"per_page": _PAGE}, link_header_next):
                        logins += [str(user["login"]) for user in page]
                except SourceUnavailableError as error:
                    self.groups_error = f"team {team} could not be listed ({error}); nobody reads through it"
                    logins = []
                emails = await asyncio.gather(*(self._email(login) for login in logins))
                yield ExternalGroup(
                    principal=external_group_principal(self.name, team),
                    members=frozenset(email_principal(email) for email in emails if email),
                )

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        for full_name in self.config.repos:
            prefix = f"{full_name}/"
            ids = [external_id for external_id in external_ids if external_id.startswith(prefix)]
            if not ids:
                continue
            try:
                access = await self._repository_access(await self._repository(full_name))
            except SourceUnavailableError as error:
                access = AccessList.unreadable(f"repository {full_name} could not be read: {error}")
            for external_id in ids:
                yield AccessUpdate(external_id=external_id, access=access)

    async def aclose(self) -> None:
        await self._api.aclose()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
