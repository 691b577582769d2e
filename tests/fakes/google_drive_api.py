"""Google's token endpoint, Drive v3 and the Directory API's group members on loopback, in the documented shapes.

The token endpoint takes the service account's signed JWT grant (``grant_type=...jwt-bearer``), checks its signature
against the key's public half and records its ``sub`` (the impersonated user) and scopes. Drive: ``files.list`` with
``q`` (``'ID' in parents``) or ``corpora=drive&driveId=``, ``nextPageToken`` pagination, ``permissions`` in the
listing for My Drive files only (as Drive does; shared-drive files need ``permissions.list``), ``files.export``,
``alt=media`` downloads, ``changes.getStartPageToken`` and ``changes.list``. Scripted 429s with ``Retry-After``.

Every request is recorded; an export or a download is a content request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer

FOLDER = "application/vnd.google-apps.folder"
DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
SLIDES = "application/vnd.google-apps.presentation"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass
class FakeDriveFile:
    name: str
    mime_type: str
    parent: str  # a folder id, or a shared drive id for its top level
    content: bytes = b""
    # (type, email or domain, role); type: user, group, domain, anyone.
    permissions: list[tuple[str, str, str]] = field(default_factory=list)
    version: int = 1
    modified: str = "2026-11-01T10:00:00.000Z"
    drive: str | None = None


@dataclass
class FakeGoogleDrive:
    client_email: str = "switchboard@acme-project.iam.gserviceaccount.com"
    files: dict[str, FakeDriveFile] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group email -> member emails
    directory_status: int = 200
    page_size: int = 2
    rate_limited_once: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # file ids whose export or download fails
    requests: list[str] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)  # verified JWT claims, one per token exchange
    changes: list[str] = field(default_factory=list)  # file ids, in change order
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: BackgroundServer | None = None

    def __post_init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self._public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self._tokens: set[str] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def key_json(self) -> str:
        """The service account key file, with its token URI on this server."""
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "acme-project",
                "private_key_id": "k1",
                "private_key": self._private_pem,
                "client_email": self.client_email,
                "client_id": "1234567890",
                "token_uri": f"{self.url}/token",
            }
        )

    def start(self) -> FakeGoogleDrive:
        routes = [
            Route("/token", self._token, methods=["POST"]),
            Route("/drive/v3/files", self._list),
            Route("/drive/v3/files/{id}", self._get),
            Route("/drive/v3/files/{id}/export", self._export),
            Route("/drive/v3/files/{id}/permissions", self._permissions),
            Route("/drive/v3/changes/startPageToken", self._start_token),
            Route("/drive/v3/changes", self._changes),
            Route("/admin/directory/v1/groups/{key}/members", self._members),
        ]
        self.server = BackgroundServer(Starlette(routes=routes)).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def requested(self, fragment: str) -> list[str]:
        with self._lock:
            return [path for path in self.requests if fragment in path]

    def content_requests(self) -> list[str]:
        with self._lock:
            return [p for p in self.requests if "/export" in p or "alt=media" in p]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def change(self, file_id: str, *, when: str, **changes: Any) -> None:
        """An edit (new version) or a permission change (``permissions=...``), recorded in the changes feed."""
        record = self.files[file_id]
        for key, value in changes.items():
            setattr(record, key, value)
        if "content" in changes or "name" in changes:
            record.version += 1
            record.modified = when
        self.changes.append(file_id)

    # --- plumbing ---

    def _gate(self, request: Request) -> Response | None:
        with self._lock:
            self.requests.append(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        header = request.headers.get("authorization", "")
        if header.removeprefix("Bearer ") not in self._tokens:
            return JSONResponse({"error": {"code": 401, "message": "Invalid Credentials"}}, status_code=401)
        if request.url.path in self.rate_limited_once:
            self.rate_limited_once.discard(request.url.path)
            return JSONResponse(
                {"error": {"code": 429, "message": "Rate Limit Exceeded"}},
                status_code=429,
                headers={"Retry-After": "1"},
            )
        return None

    def _resource(self, file_id: str, *, listed: bool) -> dict[str, Any]:
        item = self.files[file_id]
        resource: dict[str, Any] = {
            "kind": "drive#file",
            "id": file_id,
            "name": item.name,
            "mimeType": item.mime_type,
            "version": str(item.version),
            "modifiedTime": item.modified,
            "webViewLink": f"https://docs.google.com/d/{file_id}/view",
            "parents": [item.parent],
            "size": str(len(item.content)),
            "trashed": False,
        }
        if item.drive:
            resource["driveId"] = item.drive
        elif listed:  # Drive lists permissions only for My Drive items
            resource["permissions"] = self._permission_resources(item)
        return resource

    def _permission_resources(self, item: FakeDriveFile) -> list[dict[str, Any]]:
        rendered = []
        for index, (kind, who, role) in enumerate(item.permissions):
            permission: dict[str, Any] = {"kind": "drive#permission", "id": str(index), "type": kind, "role": role}
            if kind in ("user", "group"):
                permission["emailAddress"] = who
            elif kind == "domain":
                permission["domain"] = who
            else:
                permission["allowFileDiscovery"] = False
            rendered.append(permission)
        return rendered

    def _paged(self, request: Request, key: str, values: list[Any], **extra: Any) -> JSONResponse:
        start = int(request.query_params.get("pageToken") or 0)
        limit = min(
            int(request.query_params.get("pageSize") or request.query_params.get("maxResults") or 100), self.page_size
        )
        body: dict[str, Any] = {key: values[start : start + limit], **extra}
        if start + limit < len(values):
            body["nextPageToken"] = str(start + limit)
        return JSONResponse(body)

    # --- routes ---

    async def _token(self, request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            # google-auth addresses the grant to Google's token endpoint whatever the key's token_uri says.
            claims = jwt.decode(
                form.get("assertion", ""), certs=self._public_pem, audience="https://oauth2.googleapis.com/token"
            )
        except ValueError:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status_code=400
            )
        if claims.get("iss") != self.client_email:
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid issuer."}, status_code=400)
        token = f"ya29.test-{len(self._tokens)}"
        with self._lock:
            self.grants.append(claims)
            self._tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def _list(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        query = request.query_params.get("q", "")
        drive = request.query_params.get("driveId")
        if request.query_params.get("corpora") == "drive" and drive:
            chosen = [key for key, item in self.files.items() if item.drive == drive]
        else:
            parent = query.split("'")[1] if query.count("'") >= 2 else ""
            chosen = [key for key, item in self.files.items() if item.parent == parent]
        start = int(request.query_params.get("pageToken") or 0)
        limit = min(int(request.query_params.get("pageSize") or 100), self.page_size)
        window = sorted(chosen)[start : start + limit]  # only the page asked for is rendered
        body: dict[str, Any] = {"files": [self._resource(key, listed=True) for key in window]}
        if start + limit < len(chosen):
            body["nextPageToken"] = str(start + limit)
        return JSONResponse(body)

    async def _get(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        item = self.files.get(request.path_params["id"])
        if item is None:
            return JSONResponse({"error": {"code": 404, "message": "File not found"}}, status_code=404)
        if request.query_params.get("alt") == "media":
            if request.path_params["id"] in self.broken or item.mime_type.startswith("application/vnd.google-apps"):
                return JSONResponse({"error": {"code": 403, "message": "fileNotDownloadable"}}, status_code=403)
            return Response(item.content, media_type=item.mime_type)
        return JSONResponse(self._resource(request.path_params["id"], listed=False))

    async def _export(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        item = self.files.get(request.path_params["id"])
        if item is None:
            return JSONResponse({"error": {"code": 404, "message": "File not found"}}, status_code=404)
        wanted = request.query_params.get("mimeType")
        expected = {DOC: "text/markdown", SHEET: "text/csv", SLIDES: "text/plain"}.get(item.mime_type)
        if request.path_params["id"] in self.broken or wanted != expected:
            return JSONResponse(
                {"error": {"code": 400, "message": "Export only supports Docs Editors files."}}, status_code=400
            )
        return Response(item.content, media_type=wanted)

    async def _permissions(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        item = self.files.get(request.path_params["id"])
        if item is None:
            return JSONResponse({"error": {"code": 404, "message": "File not found"}}, status_code=404)
        return self._paged(request, "permissions", self._permission_resources(item))

    async def _start_token(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        return JSONResponse({"kind": "drive#startPageToken", "startPageToken": str(len(self.changes))})

    async def _changes(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        start = int(request.query_params.get("pageToken") or 0)
        drive = request.query_params.get("driveId")
        limit = self.page_size
        window = self.changes[start : start + limit]
        changes = []
        for file_id in window:
            item = self.files.get(file_id)
            if drive and (item is None or item.drive != drive):
                continue
            if not drive and item is not None and item.drive:
                continue
            if item is None:
                changes.append({"kind": "drive#change", "fileId": file_id, "removed": True})
            else:
                changes.append(
                    {
                        "kind": "drive#change",
                        "fileId": file_id,
                        "removed": False,
                        "file": self._resource(file_id, listed=True),
                    }
                )
        body: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
        if start + limit < len(self.changes):
            body["nextPageToken"] = str(start + limit)
        else:
            body["newStartPageToken"] = str(len(self.changes))
        return JSONResponse(body)

    async def _members(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if self.directory_status != 200:
            return JSONResponse(
                {"error": {"code": self.directory_status, "message": "Not Authorized to access this resource/api"}},
                status_code=self.directory_status,
            )
        members = self.groups.get(request.path_params["key"])
        if members is None:
            return JSONResponse({"error": {"code": 404, "message": "Resource Not Found: groupKey"}}, status_code=404)
        return self._paged(
            request, "members", [{"kind": "admin#directory#member", "email": m, "type": "USER"} for m in members]
        )
