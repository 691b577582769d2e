"""A folder of Markdown, text, HTML, PDF and Word files, e.g. a handbook checked out from git.

The folder's contents are as hostile as any document: whoever can merge into a synced repository decides what it
holds, symlinks included. A link such as ``notes.md -> /proc/self/environ`` must not put the service's own secrets
into the index, so only files whose resolved path stays inside the folder are ever read, and the check is made on
the file actually opened, not on a path that could be swapped between the check and the read.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import stat
import sys
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


_OUTSIDE_REASON = (
    "a symlink that leads outside the source folder; skipped (remove the link, or give its target a source of its own)"
)


@dataclass(frozen=True)
class _FileEntry:
    relative_path: str
    path: Path
    size: int = 0
    mtime_ns: int = 0
    # Why the file is not read at all; ``refused`` when the index must not keep an earlier copy of it either.
    problem: str | None = None
    refused: bool = False


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
            yield await self._fetch_one(root, entry, known.get(entry.relative_path))

    def _list_files(self, root: Path) -> list[_FileEntry]:
        """Every candidate file, following symlinks only while they stay inside ``root`` and do not loop."""
        entries = []
        # The real folders on the way down to each walked folder: a link back to one of them is a loop.
        ancestors: dict[str, frozenset[Path]] = {str(root): frozenset({root})}
        for directory, folder_names, file_names in os.walk(root, followlinks=True):
            relative_directory = Path(directory).relative_to(root).as_posix()
            prefix = "" if relative_directory == "." else relative_directory + "/"
            kept = []
            for name in sorted(folder_names):
                relative_path = f"{prefix}{name}/"
                if name.startswith(".") or self._ignore.match_file(relative_path):
                    continue
                path = Path(directory, name)
                target = Path(os.path.realpath(path))
                if not target.is_relative_to(root):
                    logger.warning("source %s: %s leads outside %s; skipped", self.name, relative_path, root)
                    entries.append(_FileEntry(relative_path, path, problem=_OUTSIDE_REASON, refused=True))
                elif target in ancestors[directory]:
                    logger.info("source %s: %s links back to a folder above it; skipped", self.name, relative_path)
                else:
                    ancestors[str(path)] = ancestors[directory] | {target}
                    kept.append(name)
            folder_names[:] = kept
            for name in sorted(file_names):
                relative_path = prefix + name
                if name.startswith(".") or self._ignore.match_file(relative_path):
                    continue
                if not self._include.match_file(relative_path):
                    continue
                entries.append(self._file_entry(root, relative_path, Path(directory, name)))
        return entries

    def _file_entry(self, root: Path, relative_path: str, path: Path) -> _FileEntry:
        if not Path(os.path.realpath(path)).is_relative_to(root):
            logger.warning("source %s: %s leads outside %s; skipped", self.name, relative_path, root)
            return _FileEntry(relative_path, path, problem=_OUTSIDE_REASON, refused=True)
        try:
            status = path.stat()
        except OSError as error:
            logger.warning("source %s: cannot stat %s: %s", self.name, path, error)
            return _FileEntry(relative_path, path, problem="file cannot be read (stat failed)")
        if not stat.S_ISREG(status.st_mode):
            return _FileEntry(relative_path, path, problem="not a regular file (a device, socket or pipe); skipped")
        return _FileEntry(relative_path, path, status.st_size, status.st_mtime_ns)

    def _url(self, entry: _FileEntry) -> str:
        if self.config.base_url is None:
            return entry.path.as_uri()
        return self.config.base_url + quote(entry.relative_path)

    def _fingerprint(self, entry: _FileEntry, url: str, access: AccessList) -> str:
        """Changes whenever the file or what the config makes of it (URL, access) changes."""
        parts = [PARSER_GENERATION, str(entry.size), str(entry.mtime_ns), url, access.model_dump_json()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    async def _fetch_one(
        self, root: Path, entry: _FileEntry, known: KnownDocument | None
    ) -> SourceDocument | Unchanged | FetchFailure:
        url = self._url(entry)
        access = self.config.access_for(entry.relative_path)
        if entry.problem is not None:
            return FetchFailure(
                external_id=entry.relative_path, reason=entry.problem, url=url, refused=entry.refused, access=access
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
            parsed = await asyncio.to_thread(_read_and_parse, entry, root, self.config.max_file_bytes)
        except _OutsideFolderError:
            logger.warning("source %s: %s led outside the folder when opened; skipped", self.name, entry.relative_path)
            return FetchFailure(
                external_id=entry.relative_path, reason=_OUTSIDE_REASON, url=url, refused=True, access=access
            )
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


class _OutsideFolderError(Exception):
    """The file actually opened lies outside the folder: a link was swapped in after the listing checked it."""


def _read_and_parse(entry: _FileEntry, root: Path, max_bytes: int) -> ParsedDocument:
    """Open the file, check where the opened file really is, and only then read it (at most ``max_bytes``)."""
    # O_NONBLOCK: a pipe swapped in for the file must not hang the sync (it is refused below, not read).
    descriptor = os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as file:
        if not _opened_path(file.fileno()).is_relative_to(root):
            raise _OutsideFolderError(entry.relative_path)
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError("not a regular file")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentParseError(
            f"file grew above the limit of {max_bytes:,} bytes (raise max_file_bytes for this source to include it)"
        )
    return parse_document(data, name=entry.relative_path)


def _opened_path(descriptor: int) -> Path:
    """The resolved path of an open file, as the kernel sees it (no path lookup that could race)."""
    if sys.platform == "darwin":
        raw = fcntl.fcntl(descriptor, fcntl.F_GETPATH, bytes(os.pathconf("/", "PC_PATH_MAX")))
        return Path(os.fsdecode(raw.rstrip(b"\0")))
    proc_link = Path(f"/proc/self/fd/{descriptor}")
    if not proc_link.exists():
        raise OSError("cannot tell where an opened file lies on this system (no /proc); refusing to read it")
    return Path(os.readlink(proc_link))
