"""A folder of Markdown, text, HTML, PDF and Word files, e.g. a handbook checked out from git."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import pathspec
from pydantic import Field, field_validator

from knowledge.documents import AccessList, SourceDocument
from knowledge.errors import DocumentParseError, SourceUnavailableError
from knowledge.parsing import ParsedDocument, parse_document, supported_extensions, title_from_name
from knowledge.sources.abc import FetchFailure, KnownDocument, Source, Unchanged
from knowledge.sources.source_config import SourceAccessConfig, SourceConfigBase

logger = logging.getLogger(__name__)

# Bump when parsing changes what a file turns into, so unchanged files are parsed again once.
PARSER_GENERATION = "1"


def _default_include() -> tuple[str, ...]:
    return tuple(f"*{extension}" for extension in supported_extensions())


class FolderSourceConfig(SourceConfigBase, SourceAccessConfig):
    """``[[sources]]`` entry of ``type = "folder"``.

    Patterns (``include``, ``ignore``, access rules) use gitignore syntax against paths relative to ``path``:
    ``*.tmp`` matches at any depth, ``drafts/**`` only at the top, ``hr/compensation-*.md`` that one folder.
    """

    type: Literal["folder"] = "folder"
    path: Path = Field(description="The folder to index; relative paths are relative to the working directory.")
    include: tuple[str, ...] = Field(default_factory=_default_include, min_length=1)
    ignore: tuple[str, ...] = ()
    base_url: str | None = Field(
        default=None,
        description="Documents get base_url + their relative path as URL; unset: a file:// URL of the file.",
    )
    max_file_bytes: int = Field(default=25_000_000, gt=0)

    @field_validator("base_url")
    @classmethod
    def _directory_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://", "file://")):
            raise ValueError(f"base_url must be an absolute http(s):// or file:// URL, got {value!r}")
        return value if value.endswith("/") else value + "/"


@dataclass(frozen=True)
class _FileEntry:
    relative_path: str
    path: Path
    size: int
    mtime_ns: int


class FolderSource(Source):
    """Yields every included, non-ignored file below the folder; hidden files and folders are skipped.

    A file whose size, modification time, URL and access are the same as at the last sync is reported
    ``Unchanged`` without being read, so a no-change re-sync does not parse anything.
    """

    def __init__(self, config: FolderSourceConfig) -> None:
        self.config = config
        self.name = config.name
        self.listing_complete = True
        self._include = pathspec.GitIgnoreSpec.from_lines(config.include)
        self._ignore = pathspec.GitIgnoreSpec.from_lines(config.ignore)

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        root = self.config.path.expanduser().resolve()
        if not root.is_dir():
            raise SourceUnavailableError(f"source {self.name!r}: folder {root} does not exist or is not a folder")
        self.listing_complete = True
        entries = await asyncio.to_thread(self._list_files, root)
        logger.info("source %s: %d files under %s", self.name, len(entries), root)
        for entry in entries:
            yield await self._fetch_one(entry, known.get(entry.relative_path))

    def _list_files(self, root: Path) -> list[_FileEntry]:
        entries = []
        for directory, folder_names, file_names in os.walk(root):
            relative_directory = Path(directory).relative_to(root).as_posix()
            prefix = "" if relative_directory == "." else relative_directory + "/"
            folder_names[:] = sorted(
                name
                for name in folder_names
                if not name.startswith(".") and not self._ignore.match_file(f"{prefix}{name}/")
            )
            for name in sorted(file_names):
                relative_path = prefix + name
                if name.startswith(".") or self._ignore.match_file(relative_path):
                    continue
                if not self._include.match_file(relative_path):
                    continue
                path = Path(directory, name)
                try:
                    status = path.stat()
                except OSError as error:
                    logger.warning("source %s: cannot stat %s: %s", self.name, path, error)
                    entries.append(_FileEntry(relative_path, path, -1, 0))
                    continue
                entries.append(_FileEntry(relative_path, path, status.st_size, status.st_mtime_ns))
        return entries

    def _url(self, entry: _FileEntry) -> str:
        if self.config.base_url is None:
            return entry.path.as_uri()
        return self.config.base_url + quote(entry.relative_path)

    def _fingerprint(self, entry: _FileEntry, url: str, access: AccessList) -> str:
        """Changes whenever the file or what the config makes of it (URL, access) changes."""
        parts = [PARSER_GENERATION, str(entry.size), str(entry.mtime_ns), url, access.model_dump_json()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    async def _fetch_one(
        self, entry: _FileEntry, known: KnownDocument | None
    ) -> SourceDocument | Unchanged | FetchFailure:
        url = self._url(entry)
        access = self.config.access_for(entry.relative_path)
        if entry.size < 0:
            return FetchFailure(
                external_id=entry.relative_path, reason="file cannot be read (stat failed)", url=url, access=access
            )
        if entry.size > self.config.max_file_bytes:
            return FetchFailure(
                external_id=entry.relative_path,
                reason=f"file is {entry.size:,} bytes, above the limit of {self.config.max_file_bytes:,} "
                "(raise max_file_bytes for this source to include it)",
                url=url,
                access=access,
            )
        fingerprint = self._fingerprint(entry, url, access)
        if known is not None and known.etag == fingerprint:
            return Unchanged(external_id=entry.relative_path)
        try:
            parsed = await asyncio.to_thread(_read_and_parse, entry)
        except DocumentParseError as error:
            logger.info("source %s: %s failed to parse: %s", self.name, entry.relative_path, error.reason)
            return FetchFailure(external_id=entry.relative_path, reason=error.reason, url=url, access=access)
        except OSError as error:
            return FetchFailure(
                external_id=entry.relative_path, reason=f"file cannot be read: {error}", url=url, access=access
            )
        modified = datetime.fromtimestamp(entry.mtime_ns / 1e9, tz=UTC)
        return SourceDocument(
            source=self.name,
            external_id=entry.relative_path,
            title=parsed.title or title_from_name(entry.relative_path),
            url=url,
            content=parsed.content,
            updated_at=modified,
            access=access,
            etag=fingerprint,
            last_modified=modified.isoformat(),
        )


def _read_and_parse(entry: _FileEntry) -> ParsedDocument:
    return parse_document(entry.path.read_bytes(), name=entry.relative_path)
