from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture(scope="session")
def slack_api_server() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi().start()
    yield server
    server.stop()


@pytest.fixture
def slack_api(slack_api_server: FakeSlackApi) -> Iterator[FakeSlackApi]:
    """The fake Slack Web API, with its recorded calls cleared before each test."""
    slack_api_server.reset()
    yield slack_api_server
