"""The ``[agent]`` and ``[tools]`` config-file tables: parsed into the runtime's config, endpoint secrets redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import SettingsError, load_settings

CONFIG = """
[agent]
max_steps = 6
max_revisions = 2

[tools]
fetch_allowed_domains = ["docs.example.com"]

[tools.endpoints.open_ticket]
method = "POST"
url = "https://tickets.example.com/api/issues"
description = "open an IT ticket"
headers = { Authorization = "Bearer tok-987654321" }
"""


def test_agent_and_tools_tables_are_read_and_endpoint_secrets_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text(CONFIG)

    settings = load_settings(path)

    assert (settings.agent.max_steps, settings.agent.max_revisions) == (6, 2)
    assert settings.tools.fetch_allowed_domains == ["docs.example.com"]
    endpoint = settings.tools.endpoints["open_ticket"]
    assert endpoint.method == "POST"
    assert "tok-987654321" not in repr(settings)
    assert "Bearer tok-987654321" in settings.secret_values()


def test_a_bad_agent_budget_is_named(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text("[agent]\nmax_steps = 0\n")
    with pytest.raises(SettingsError, match="agent.max_steps"):
        load_settings(path)
