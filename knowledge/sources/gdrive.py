"""Google Drive: Docs, Sheets, Slides, PDFs and Word files in chosen folders (and their subfolders) or shared drives.

Drive v3 REST through the shared API client, with a service account's tokens from google-auth. Docs are exported as
Markdown (headings kept), Sheets as CSV rendered as a table (Drive exports the first sheet), Slides as text; PDFs and
Word files are downloaded and parsed like any other. Every file's ``version`` is its etag: an unchanged file is never
exported again.

Incremental: a complete listing (``files.list``, per folder or per shared drive) runs first and every
``deletion_check_minutes``; before it, the Drive changes feed's start token is stored, and runs in between read only
``changes.list`` from that token, keeping the changes inside the configured folders or drives.

Access from each file's permissions: users by email; groups by their email as synced groups, with members from the
Directory API when the credentials allow (``sync_groups``; else nobody reads through the group); "anyone at a
domain" as the domain principal every reader with an email at that domain holds; "anyone with the link" as the
configured ``domain`` unless ``public_links``. Permissions that cannot be read hide the file (fail closed).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator

from knowledge.documents import (
    AccessList,
    SourceDocument,
    domain_principal,
    email_principal,
    external_group_principal,
)
from knowledge.errors import DocumentParseError, SourceAuthError, SourceUnavailableError
from knowledge.parsing import parse_document
from knowledge.sources.abc import FetchFailure, KnownDocument, Unchanged
from knowledge.sources.api_client import SourceApiClient
from knowledge.sources.google_credentials import GoogleServiceAccountAuth
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource
from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN, SaaSSourceConfig, SourceSecrets

logger = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/drive.readonly",)
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
_FOLDER = "application/vnd.google-apps.folder"
# mime type -> (export mime type or None for a download, the name suffix the parser reads it by)
_FORMATS: dict[str, tuple[str | None, str]] = {
    "application/vnd.google-apps.document": ("text/markdown", ".md"),
    "application/vnd.google-apps.spreadsheet": ("text/csv", ".csv"),
    "application/vnd.google-apps.presentation": ("text/plain", ".txt"),
    "application/pdf": (None, ".pdf"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (None, ".docx"),
}
_PERMISSION_FIELDS = "permissions(id,type,role,emailAddress,domain,allowFileDiscovery)"
_FILE_FIELDS = f"id,name,mimeType,version,modifiedTime,webViewLink,parents,driveId,size,trashed,{_PERMISSION_FIELDS}"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class GoogleDriveSourceConfig(SaaSSourceConfig):
    """``[[sources]]`` entry of ``type = "gdrive"``: folders and shared drives read with a service account."""

    type: Literal["gdrive"] = "gdrive"
    token_env: str = Field(default="GOOGLE_SERVICE_ACCOUNT_JSON", pattern=ENVIRONMENT_VARIABLE_PATTERN)
    credentials_env: str | None = Field(
        default=None,
        pattern=ENVIRONMENT_VARIABLE_PATTERN,
        description="The variable holding the service account's JSON key; unset: token_env.",
    )
    folders: tuple[str, ...] = Field(default=(), description="Folder ids; their subfolders are included.")
    shared_drives: tuple[str, ...] = Field(default=(), description="Shared drive ids.")
    impersonate: str | None = Field(default=None, description="The user a domain-wide delegated account acts as.")
    domain: str | None = Field(default=None, description="Your Workspace domain; unset: impersonate's domain.")
    public_links: bool = Field(default=False, description='"Anyone with the link" is public, not the domain.')
    sync_groups: bool = Field(default=True, description="Read group members from the Directory API.")
    max_file_bytes: int = Field(default=25_000_000, gt=0)
    api_url: str = "https://www.googleapis.com"

    @field_validator("folders", "shared_drives")
    @classmethod
    def _ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        for value in ids:
            if not _ID.fullmatch(value):
                raise ValueError(f"folders and shared_drives are Drive ids (as in their URLs), got {value!r}")
        return ids

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _something(self) -> GoogleDriveSourceConfig:
        if not self.folders and not self.shared_drives:
            raise ValueError("a gdrive source needs `folders` or `shared_drives` (ids)")
        return self

    @property
    def credentials_variable(self) -> str:
        return self.credentials_env or self.token_env

    @property
    def workspace_domain(self) -> str | None:
        if self.domain:
            return self.domain.lower()
        return self.impersonate.rsplit("@", 1)[1].lower() if self.impersonate and "@" in self.impersonate else None

    def secret_variables(self) -> tuple[str, ...]:
        return (self.credentials_variable,)


@dataclass
class _File:
    id: str
    name: str
    mime_type: str
    version: str
    modified: str
    url: str
    parents: tuple[str, ...]
    drive: str | None
    size: int
    permissions: list[dict[str, Any]] | None


class GoogleDriveSource(PermissionedSource):
    """Files of the configured folders and shared drives, readable as Drive shares them."""

    def __init__(self, config: GoogleDriveSourceConfig, secrets: SourceSecrets) -> None:
        self.config = config
        self.name = config.name
        self.permission_sync_minutes = config.permission_sync_minutes
        variable = config.credentials_variable
        scopes = SCOPES + ((DIRECTORY_SCOPE,) if config.sync_groups else ())
        auth = GoogleServiceAccountAuth(
            source=config.name,
            variable=variable,
            key_json=secrets.require(config.name, variable),
            scopes=scopes,
            subject=config.impersonate,
            timeout_seconds=config.timeout_seconds,
        )
        self._api = SourceApiClient(
            source=config.name,
            base_url=config.api_url,
            headers={"Accept": "application/json"},
            token_variable=variable,
            max_concurrency=config.max_concurrency,
            max_retries=config.max_retries,
            timeout_seconds=config.timeout_seconds,
            auth=auth,
        )
        self._files: dict[str, _File] = {}
        self._folders: set[str] = set(config.folders)
        self._access: dict[str, AccessList] = {}
        self._groups: set[str] = set()
        self._previous: dict[str, Any] = {}

    def resume(self, checkpoint: dict[str, Any] | None) -> None:
        self._previous = dict(checkpoint or {})
        self.checkpoint = dict(self._previous)

    # --- listing ---

    async def _list(self, params: Mapping[str, Any]) -> AsyncIterator[_File]:
        query = {
            "fields": f"nextPageToken,files({_FILE_FIELDS})",
            "pageSize": 100,
            "supportsAllDrives": "true",
            "includeItemsFromAllDrives": "true",
            **params,
        }
        async for body, _ in self._api.pages("/drive/v3/files", query, self._next_page(query)):
            for raw in body.get("files") or []:
                if (found := self._file(raw)) is not None:
                    yield found

    def _next_page(self, query: Mapping[str, Any]) -> Any:
        def following(response: Any, body: Any) -> str | None:
            token = body.get("nextPageToken") if isinstance(body, dict) else None
            if not token:
                return None
            return str(response.request.url.copy_merge_params({"pageToken": token}))

        return following

    def _file(self, raw: Mapping[str, Any]) -> _File | None:
        file_id = str(raw.get("id") or "")
        if not _ID.fullmatch(file_id) or raw.get("trashed"):
            return None
        permissions = raw.get("permissions")
        return _File(
            id=file_id,
            name=str(raw.get("name") or "Untitled"),
            mime_type=str(raw.get("mimeType") or ""),
            version=str(raw.get("version") or raw.get("modifiedTime") or ""),
            modified=str(raw.get("modifiedTime") or ""),
            url=str(raw.get("webViewLink") or f"https://drive.google.com/file/d/{file_id}/view"),
            parents=tuple(str(p) for p in raw.get("parents") or []),
            drive=str(raw["driveId"]) if raw.get("driveId") else None,
            size=int(raw.get("size") or 0),
            permissions=list(permissions) if isinstance(permissions, list) else None,
        )

    async def _everything(self) -> AsyncIterator[_File]:
        """Every file of the folders (walking subfolders) and shared drives."""
        pending = list(self.config.folders)
        seen = set(pending)
        while pending:
            folder = pending.pop(0)
            async for found in self._list({"q": f"'{folder}' in parents and trashed = false"}):
                if found.mime_type == _FOLDER:
                    self._folders.add(found.id)
                    if found.id not in seen:
                        seen.add(found.id)
                        pending.append(found.id)
                    continue
                yield found
        for drive in self.config.shared_drives:
            async for found in self._list({"corpora": "drive", "driveId": drive, "q": "trashed = false"}):
                if found.mime_type != _FOLDER:
                    yield found

    async def _start_tokens(self) -> dict[str, str]:
        tokens = {}
        for scope in ["", *self.config.shared_drives] if self.config.folders else list(self.config.shared_drives):
            params: dict[str, Any] = {"supportsAllDrives": "true"}
            if scope:
                params["driveId"] = scope
            body = await self._api.get_json("/drive/v3/changes/startPageToken", params)
            tokens[scope] = str(body.get("startPageToken") or "")
        return tokens

    async def _changes(self, tokens: dict[str, str]) -> AsyncIterator[_File]:
        """Files changed since the stored tokens, inside the configured folders or drives; advances ``tokens``."""
        for scope, token in list(tokens.items()):
            while token:
                params: dict[str, Any] = {
                    "pageToken": token,
                    "fields": f"nextPageToken,newStartPageToken,changes(fileId,removed,file({_FILE_FIELDS}))",
                    "pageSize": 100,
                    "supportsAllDrives": "true",
                    "includeItemsFromAllDrives": "true",
                }
                if scope:
                    params["driveId"] = scope
                body = await self._api.get_json("/drive/v3/changes", params)
                for change in body.get("changes") or []:
                    found = None if change.get("removed") else self._file(change.get("file") or {})
                    if found is None:
                        continue  # removed or trashed: the next complete listing deletes it
                    if scope or self._folders & set(found.parents):
                        if found.mime_type == _FOLDER:
                            self._folders.add(found.id)
                        else:
                            yield found
                if body.get("newStartPageToken"):
                    tokens[scope] = str(body["newStartPageToken"])
                    break
                token = str(body.get("nextPageToken") or "")

    # --- content ---

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        started = datetime.now(UTC)
        listed_at = _parse_time(self._previous.get("listed_at"))
        tokens = dict(self._previous.get("tokens") or {})
        self._folders |= set(self._previous.get("folders") or [])
        due = listed_at is None or started - listed_at >= timedelta(minutes=self.config.deletion_check_minutes)
        if due or not tokens:
            self.listing_complete = True
            tokens = await self._start_tokens()  # before listing: what changes during it is read next time
            files = self._everything()
            listed_at = started
        else:
            self.listing_complete = False
            files = self._changes(tokens)
        # Exports run ``max_concurrency`` at a time (each is one request): changed files are fetched in batches.
        batch: list[_File] = []
        async for found in files:
            if found.mime_type not in _FORMATS:
                continue
            previous = known.get(f"file/{found.id}")
            if previous is not None and previous.etag == found.version:
                yield Unchanged(external_id=f"file/{found.id}")
                continue
            batch.append(found)
            if len(batch) >= self.config.max_concurrency * 4:
                for document in await asyncio.gather(*(self._document(f, f"file/{f.id}") for f in batch)):
                    yield document
                batch = []
        for document in await asyncio.gather(*(self._document(f, f"file/{f.id}") for f in batch)):
            yield document
        self.checkpoint = {
            "listed_at": listed_at.isoformat() if listed_at else None,
            "tokens": tokens,
            "folders": sorted(self._folders),
        }

    async def _document(self, found: _File, external_id: str) -> SourceDocument | FetchFailure:
        access = await self._access_of(found)
        export, suffix = _FORMATS[found.mime_type]
        try:
            if found.size > self.config.max_file_bytes:
                raise DocumentParseError(f"larger than max_file_bytes ({self.config.max_file_bytes})")
            path = f"/drive/v3/files/{quote(found.id)}"
            if export:
                response = await self._api.get(f"{path}/export", {"mimeType": export})
            else:
                response = await self._api.get(path, {"alt": "media", "supportsAllDrives": "true"})
            if not response.is_success:
                raise DocumentParseError(f"Drive answered HTTP {response.status_code} for its content")
            if len(response.content) > self.config.max_file_bytes:
                raise DocumentParseError(f"larger than max_file_bytes ({self.config.max_file_bytes})")
            if suffix == ".csv":
                content = f"# {found.name}\n\n{_csv_table(response.text)}"
            else:
                name = found.name if found.name.lower().endswith(suffix) else found.name + suffix
                content = (await asyncio.to_thread(parse_document, response.content, name=name)).content
        except DocumentParseError as error:
            return FetchFailure(
                external_id=external_id, reason=error.reason, title=found.name, url=found.url, access=access
            )
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=found.name,
            url=found.url,
            content=content,
            updated_at=_parse_time(found.modified),
            access=access,
            etag=found.version,
        )

    # --- permissions ---

    async def _permissions(self, found: _File) -> list[dict[str, Any]] | None:
        """The file's permissions: from the listing, or (shared drives list none) from permissions.list."""
        if found.permissions is not None:
            return found.permissions
        collected: list[dict[str, Any]] = []
        params = {"fields": f"nextPageToken,{_PERMISSION_FIELDS}", "supportsAllDrives": "true", "pageSize": 100}
        try:
            async for body, _ in self._api.pages(
                f"/drive/v3/files/{quote(found.id)}/permissions", params, self._next_page(params)
            ):
                collected += list(body.get("permissions") or [])
        except SourceAuthError:
            raise
        except SourceUnavailableError as error:
            logger.warning("source %s: permissions of %s unreadable: %s", self.name, found.id, error)
            return None
        return collected

    async def _access_of(self, found: _File) -> AccessList:
        permissions = await self._permissions(found)
        if permissions is None:
            return AccessList.unreadable(f"the permissions of file {found.name!r} could not be read")
        principals: set[str] = set()
        domain = self.config.workspace_domain
        for permission in permissions:
            kind = str(permission.get("type") or "")
            email = str(permission.get("emailAddress") or "")
            if kind == "user" and email:
                principals.add(email_principal(email))
            elif kind == "group" and email:
                self._groups.add(email.lower())
                principals.add(external_group_principal(self.name, email.lower()))
            elif kind == "domain" and permission.get("domain"):
                principals.add(domain_principal(str(permission["domain"])))
            elif kind == "anyone":
                if self.config.public_links:
                    access = AccessList()
                    self._access[found.id] = access
                    return access
                if domain:
                    principals.add(domain_principal(domain))
        access = AccessList.restricted(principals=principals)
        self._access[found.id] = access
        return access

    async def _members(self, group: str) -> frozenset[str]:
        members: set[str] = set()
        params = {"maxResults": 200, "includeDerivedMembership": "true"}
        async for body, _ in self._api.pages(
            f"/admin/directory/v1/groups/{quote(group, safe='@')}/members", params, self._next_page(params)
        ):
            members |= {email_principal(str(m["email"])) for m in body.get("members") or [] if m.get("email")}
        return frozenset(members)

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        # Permission sync starts here: one listing (permissions only, no content) of every file, kept for
        # current_access, then the members of every group a file is shared with.
        self._files.clear()
        self._access.clear()
        self._groups.clear()
        self.groups_error = None
        async for found in self._everything():
            if found.mime_type in _FORMATS:
                self._files[found.id] = found
                await self._access_of(found)
        for group in sorted(self._groups):
            members: frozenset[str] = frozenset()
            if self.config.sync_groups:
                try:
                    members = await self._members(group)
                except SourceAuthError:
                    raise
                except SourceUnavailableError as error:
                    self.groups_error = f"group {group} could not be listed ({error}); nobody reads through it"
            yield ExternalGroup(principal=external_group_principal(self.name, group), members=members)

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        for external_id in external_ids:
            access = self._access.get(external_id.removeprefix("file/"))
            if access is not None:  # gone upstream otherwise: the next complete listing removes it
                yield AccessUpdate(external_id=external_id, access=access)

    async def aclose(self) -> None:
        await self._api.aclose()


def _csv_table(text: str) -> str:
    """A sheet's CSV export as a Markdown table (the first row as its header)."""
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    cells = [[cell.replace("|", "\\|").replace("\n", " ") for cell in row] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells[1:]])


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
