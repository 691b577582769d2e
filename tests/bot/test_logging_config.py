"""Logs: JSON lines with a run id on each, and no secret ever written, whatever carries it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logging_config import REDACTED, configure_logging, run_context

SECRETS = ["xoxb-1234-secret-token", "hunter2-password"]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging("INFO", "json", secrets=SECRETS, stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_run_id(captured: io.StringIO) -> None:
    log = logging.getLogger("switchboard.test")
    with run_context("run-42"):
        log.info("answered %s", "question")
    log.info("outside")
    first, second = lines(captured)
    assert first["run_id"] == "run-42" and first["message"] == "answered question" and first["level"] == "INFO"
    assert second["run_id"] == "-"


def test_secrets_never_reach_the_log(captured: io.StringIO) -> None:
    log = logging.getLogger("switchboard.test")
    log.warning("calling Slack with token %s", "xoxb-1234-secret-token")
    log.info("connecting to postgresql://app:hunter2-password@db/app")
    try:
        raise ConnectionError("auth failed for hunter2-password")
    except ConnectionError:
        log.exception("database error")
    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text
    assert text.count(REDACTED) >= 3
