"""The tool registry: entry-point discovery (built-ins and a third-party plugin), validation, roles, failures."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from knowledge import ReaderScope
from tools import ToolContext, ToolPluginError, ToolRegistry, ToolsConfig, tool

BUILT_INS = {"search_knowledge", "fetch_url", "http_request", "remember", "current_time"}


def context(roles: frozenset[str] = frozenset(), **settings: object) -> ToolContext:
    return ToolContext(
        user_id="U1",
        workspace_id="default",
        scope=ReaderScope.single("U1"),
        roles=roles,
        settings=ToolsConfig(**settings),
    )


@pytest.fixture
def plugin_on_path(tmp_path: Path) -> Iterator[Path]:
    """A separately installed plugin package: a module plus its dist-info with a ``switchboard.tools`` entry point."""
    (tmp_path / "shout_plugin.py").write_text(
        textwrap.dedent(
            '''
            from pydantic import BaseModel
            from tools import ToolContext, tool

            class ShoutArguments(BaseModel):
                text: str

            @tool(name="shout", required_role="admin")
            async def shout(arguments: ShoutArguments, context: ToolContext) -> str:
                """Repeat the text in capitals."""
                return arguments.text.upper()
            '''
        )
    )
    info = tmp_path / "shout_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[switchboard.tools]\nshout = shout_plugin:shout\n")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("shout_plugin", None)


def test_built_in_tools_arrive_through_the_entry_points() -> None:
    registry = ToolRegistry.from_entry_points()
    assert BUILT_INS <= set(registry.names())
    assert registry.needs_approval("http_request")
    assert not registry.needs_approval("search_knowledge")


async def test_a_third_party_plugin_is_discovered_and_its_role_enforced(plugin_on_path: Path) -> None:
    registry = ToolRegistry.from_entry_points()
    assert "shout" in registry.names()

    assert "shout" not in [t.name for t in registry.available(context())]
    refused = await registry.invoke("shout", {"text": "hi"}, context())
    assert refused.is_error and "needs the admin role" in refused.content

    assert "shout" in [t.name for t in registry.available(context(frozenset({"admin"})))]
    allowed = await registry.invoke("shout", {"text": "hi"}, context(frozenset({"admin"})))
    assert allowed.content == "HI" and not allowed.is_error


def test_enabling_a_tool_no_package_declares_is_an_error() -> None:
    with pytest.raises(ToolPluginError, match="'teleport'"):
        ToolRegistry.from_entry_points(enabled=["current_time", "teleport"])


async def test_bad_arguments_unknown_tools_and_failures_are_readable_errors() -> None:
    class Arguments(BaseModel):
        count: int

    @tool(name="boom")
    async def boom(arguments: Arguments, context: ToolContext) -> str:
        """Always fails."""
        raise ValueError(f"cannot count to {arguments.count}")

    registry = ToolRegistry([boom])
    bad = await registry.invoke("boom", {"count": "many"}, context())
    assert bad.is_error and "invalid arguments for boom: count:" in bad.content
    unknown = await registry.invoke("nope", {}, context())
    assert unknown.is_error and "no tool named 'nope'" in unknown.content
    failed = await registry.invoke("boom", {"count": 3}, context())
    assert failed.content == "ERROR: boom failed: ValueError: cannot count to 3"
    broken_json = await registry.invoke("boom", {"__invalid_json__": "{count"}, context())
    assert broken_json.is_error and "not valid JSON" in broken_json.content


def test_a_tool_needs_a_model_and_a_docstring() -> None:
    with pytest.raises(TypeError, match="docstring"):

        class Arguments(BaseModel):
            x: int

        @tool()
        async def undocumented(arguments: Arguments, context: ToolContext) -> str:
            return ""
