"""``[[mcp_servers]]`` from the config file (secrets named by environment variable), ``switchboard tools`` listing
every tool with its source and flags, and ``/healthz`` reporting each MCP server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot import Service, Settings, SettingsError, check_health, load_settings, main
from testing_support.waiting import eventually
from tests.fakes.http_server import free_port
from tests.fakes.mcp_processes import ROOT, SERVER_MODULE, http_server_config

CONFIG = f"""
[[mcp_servers]]
name = "alpha"
transport = "stdio"
command = "{sys.executable}"
args = ["-m", "{SERVER_MODULE}", "stdio", "--name", "alpha"]
env = {{ PYTHONPATH = "{ROOT}", TICKETS_FILE = "/dev/null" }}
secret_env = {{ SERVER_SECRET = "ALPHA_SECRET" }}
read_only = ["lookup"]
required_role = "editor"

[[mcp_servers]]
name = "beta"
transport = "streamable_http"
url = "http://127.0.0.1:9/mcp"
secret_headers = {{ Authorization = "BETA_AUTH" }}
tools = ["lookup"]
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "switchboard.toml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("ALPHA_SECRET", "alpha-s3cret")
    monkeypatch.setenv("BETA_AUTH", "Bearer beta-s3cret")
    return path


def test_secret_values_come_from_the_named_environment_variables(config_file: Path) -> None:
    settings = load_settings(config_file)
    alpha, beta = settings.mcp_servers
    assert alpha.env["SERVER_SECRET"].get_secret_value() == "alpha-s3cret"
    assert beta.headers["Authorization"].get_secret_value() == "Bearer beta-s3cret"
    assert {"alpha-s3cret", "Bearer beta-s3cret"} <= set(settings.secret_values()), "redacted from logs"
    assert "beta-s3cret" not in repr(settings.mcp_servers)


def test_a_missing_secret_variable_is_named(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BETA_AUTH")
    with pytest.raises(SettingsError, match="environment variable BETA_AUTH"):
        load_settings(config_file)


def test_tools_lists_every_tool_with_its_source_and_flags(
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config_file))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLM_PROVIDER", "none")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")

    assert main(["tools"]) == 0

    lines = capsys.readouterr().out.splitlines()
    row = {line.split()[0]: line for line in lines if line and not line.startswith(" ")}
    assert "mcp:alpha" in row["alpha.lookup"] and "read-only" in row["alpha.lookup"]
    assert "role: editor" in row["alpha.lookup"] and "model calls it alpha__lookup" in row["alpha.lookup"]
    assert "side effects (approval first)" in row["alpha.create_ticket"]
    assert "switchboard" in row["search_knowledge"] and "read-only" in row["search_knowledge"]
    assert "beta.lookup" not in row, "beta is down, so none of its tools are offered yet"
    assert "  alpha (stdio): up (5 tools)" in lines
    assert any(line.startswith("  beta (streamable_http): down: ") for line in lines), lines


async def test_healthz_reports_each_mcp_server(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        database_url=database_url,
        llm_provider="none",
        switchboard_home=tmp_path,
        mcp_servers=[http_server_config("beta", port, retry_seconds=30).model_dump(mode="python")],
    )
    service = await Service.start(settings, migrate=False)
    try:
        assert service.mcp_tools is not None
        tools = service.mcp_tools
        await eventually(lambda: tools.summary()["beta"].startswith("down"), what="beta reported down")
        report = await check_health(service)
        assert report.mcp_servers["beta"].startswith("down: unreachable"), report
    finally:
        await service.aclose()
