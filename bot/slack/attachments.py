"""Files attached to a question, read as context for that question only.

Every file ends up either as an ``agents.Attachment`` or as a plain note saying why it was not read (too large,
a format not readable here, a download that failed): never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from agents import Attachment
from knowledge import DocumentParseError, parse_document

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_CHARS = 200_000
MAX_FILES = 5

FileReader = Callable[[bytes], str]


def _read_text(content: bytes) -> str:
    return content.decode("utf-8-sig")


def _parsed_as(extension: str) -> FileReader:
    """Read with the knowledge parsers (the same ones that index documents), as Markdown."""

    def read(content: bytes) -> str:
        return parse_document(content, name=f"attachment.{extension}").content

    return read


# File type (Slack's ``filetype``, or the name's extension) -> how its text is read.
FILE_READERS: dict[str, FileReader] = {
    "pdf": _parsed_as("pdf"),
    "docx": _parsed_as("docx"),
    "html": _parsed_as("html"),
    "text": _read_text,
    "txt": _read_text,
    "markdown": _read_text,
    "md": _read_text,
    "csv": _read_text,
    "json": _read_text,
    "yaml": _read_text,
    "yml": _read_text,
}


@dataclass
class ReadFiles:
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _file_type(file: dict[str, Any]) -> str:
    name = str(file.get("name") or "")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    filetype = str(file.get("filetype") or "").lower()
    return filetype if filetype in FILE_READERS else extension or filetype


class AttachmentReader:
    """Downloads ``url_private`` with the bot token, only from Slack's file hosts (never sends the token elsewhere)."""

    def __init__(self, token: str, api_base_url: str, http: httpx.AsyncClient | None = None) -> None:
        self._token = token
        self._allowed_hosts = {"files.slack.com", urlsplit(api_base_url).netloc}
        self._http = http or httpx.AsyncClient(timeout=20, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def read(self, files: list[dict[str, Any]]) -> ReadFiles:
        result = ReadFiles()
        total = 0
        for index, file in enumerate(files):
            name = str(file.get("name") or file.get("title") or f"file {index + 1}")
            if index >= MAX_FILES:
                result.notes.append(f"I only read the first {MAX_FILES} files; {name} was not read.")
                continue
            reader = FILE_READERS.get(_file_type(file))
            if reader is None:
                kind = file.get("pretty_type") or _file_type(file) or "this kind of file"
                result.notes.append(f"I could not read {name}: {kind} files are not readable here yet.")
                continue
            size = int(file.get("size") or 0)
            if size > MAX_FILE_BYTES:
                result.notes.append(
                    f"{name} is too large to read ({size // 1000} kB; the limit is {MAX_FILE_BYTES // 1000} kB)."
                )
                continue
            content = await self._download(file, name, result)
            if content is None:
                continue
            try:
                text = reader(content)
            except (UnicodeDecodeError, ValueError):
                result.notes.append(f"I could not read {name}: its contents are not readable text.")
                continue
            except DocumentParseError as error:
                result.notes.append(f"I could not read {name}: {error}.")
                continue
            if total + len(text) > MAX_TOTAL_CHARS:
                result.notes.append(f"{name} was not read: the attached files together are too long.")
                continue
            total += len(text)
            result.attachments.append(Attachment(name=name, text=text))
        return result

    async def _download(self, file: dict[str, Any], name: str, result: ReadFiles) -> bytes | None:
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        if urlsplit(url).netloc not in self._allowed_hosts:
            result.notes.append(f"I could not download {name}: it is not stored in Slack.")
            return None
        try:
            response = await self._http.get(url, headers={"Authorization": f"Bearer {self._token}"})
        except httpx.HTTPError as error:
            logger.warning("downloading attachment %s failed: %s", name, error)
            result.notes.append(f"I could not download {name} from Slack; please try attaching it again.")
            return None
        if response.status_code != 200 or len(response.content) > MAX_FILE_BYTES:
            reason = "too large" if response.status_code == 200 else f"HTTP {response.status_code}"
            logger.warning("downloading attachment %s failed: %s", name, reason)
            result.notes.append(f"I could not download {name} from Slack ({reason}).")
            return None
        return response.content
