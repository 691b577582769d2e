"""The tool registry: every tool, built-in or third-party, arrives through the ``switchboard.tools`` entry points.

A plugin package declares ``[project.entry-points."switchboard.tools"] my_tool = "my_package:my_tool"`` where the
object is a ``Tool`` instance (e.g. an ``@tool`` function) or a ``Tool`` subclass with a no-argument constructor.
Switchboard's own built-ins are declared the same way in its pyproject.toml.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from tools.abc import Tool, ToolContext, ToolResult
from tools.errors import ToolError, ToolNotFoundError, ToolPluginError, ToolTimeoutError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "switchboard.tools"
# What OpenAI's function names allow (Anthropic's tool names are a superset); a dot is not among them.
MODEL_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ToolRegistry:
    """Tools by name, with argument validation, role checks and failure capture around every call."""

    def __init__(self, tools: Iterable[Tool[Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        # Tool name -> where it came from: the distribution declaring its entry point, or ``mcp:SERVER``.
        self._sources: dict[str, str] = {}
        for item in tools:
            self.register(item)

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP, *, enabled: Iterable[str] | None = None) -> ToolRegistry:
        """Load every tool the installed packages declare; ``enabled`` keeps only the named ones.

        Raises:
            ToolPluginError: a declared tool failed to import or two packages declare the same name.
        """
        wanted = set(enabled) if enabled is not None else None
        registry = cls()
        for entry_point in sorted(entry_points(group=group), key=lambda ep: ep.name):
            if wanted is not None and entry_point.name not in wanted:
                continue
            source = entry_point.dist.name if entry_point.dist is not None else entry_point.value
            registry.register(_load(entry_point), source=source)
        if wanted is not None and (missing := wanted - set(registry.names())):
            raise ToolPluginError(
                f"tools {sorted(missing)} are enabled in the config but no installed package declares them "
                f"(entry-point group {group!r}); install the plugin or remove the name"
            )
        logger.debug("tools loaded: %s", ", ".join(registry.names()))
        return registry

    def register(self, item: Tool[Any], *, source: str = "local") -> None:
        if not MODEL_TOOL_NAME.match(item.name):
            raise ToolPluginError(
                f"tool name {item.name!r} is not accepted by model APIs: use 1-64 letters, digits, '_' or '-'"
            )
        if item.name in self._tools:
            raise ToolPluginError(
                f"two tools are named {item.name!r} ({self._tools[item.name]!r} and {item!r}); rename one"
            )
        self._tools[item.name] = item
        self._sources[item.name] = source

    def replace_source(self, source: str, items: Iterable[Tool[Any]]) -> list[str]:
        """Swap every tool from ``source`` for ``items`` (an MCP server's tools after it (re)connected).

        A tool whose name is taken by another source is left out and logged; returns the names registered.
        """
        for name in [name for name, owner in self._sources.items() if owner == source]:
            del self._tools[name], self._sources[name]
        registered = []
        for item in items:
            try:
                self.register(item, source=source)
            except ToolPluginError as error:
                logger.warning("tool %s from %s left out: %s", item.display_name, source, error)
                continue
            registered.append(item.name)
        return registered

    def source_of(self, name: str) -> str:
        self.get(name)
        return self._sources[name]

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool[Any]:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolNotFoundError(f"no tool named {name!r}; available: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def available(self, context: ToolContext) -> list[Tool[Any]]:
        """The tools this caller may use: ``required_role`` checked against the asker's roles, and side-effect tools
        only where a person can approve them (offering them elsewhere ends every such run on an unanswerable ask)."""
        return [
            item
            for _, item in sorted(self._tools.items())
            if context.has_role(item.required_role) and (context.approver_present or not item.side_effects)
        ]

    def needs_approval(self, name: str) -> bool:
        return name in self._tools and self._tools[name].side_effects

    async def invoke(self, name: str, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Validate and run one call. Never raises for a tool's own failure: the model gets a readable error."""
        if name not in self._tools:
            return ToolResult.error(f"there is no tool named {name!r}; available tools: {', '.join(self.names())}")
        item = self._tools[name]
        if not context.has_role(item.required_role):
            return ToolResult.error(f"{name} needs the {item.required_role} role, which this user does not have")
        if item.side_effects and not context.approver_present:
            return ToolResult.error(
                f"{name} is not available here: it changes things, and nobody is present to approve it on this "
                "channel. Tell the user to ask in Slack, where a person can approve it."
            )
        if "__invalid_json__" in arguments:
            return ToolResult.error(f"the arguments for {name} were not valid JSON: {arguments['__invalid_json__']!r}")
        try:
            parsed = item.arguments.model_validate(arguments)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in error.errors())
            return ToolResult.error(f"invalid arguments for {name}: {problems}")
        limit_seconds = context.settings.call_timeout_seconds
        try:
            async with asyncio.timeout(limit_seconds):
                outcome = await item.run(parsed, context)
        except ToolTimeoutError as error:
            logger.warning("tool %s timed out: %s", item.display_name, error)
            return ToolResult.error(str(error), note=f"{error} The answer was written without it.")
        except TimeoutError:
            logger.warning("tool %s timed out after %.0f s", item.display_name, limit_seconds)
            message = f"{item.display_name} did not finish within {limit_seconds:g} s."
            return ToolResult.error(message, note=f"{message} The answer was written without it.")
        except ToolError as error:
            logger.info("tool %s refused: %s", item.display_name, error)
            return ToolResult.error(str(error))
        except Exception as error:
            # A plugin's bug must not end the run: the model reads the error and carries on; the log keeps the trace.
            logger.warning("tool %s failed", name, exc_info=True)
            return ToolResult.error(f"{name} failed: {type(error).__name__}: {error}")
        result = ToolResult(content=outcome) if isinstance(outcome, str) else outcome
        limit = context.settings.result_max_chars
        if len(result.content) > limit:
            result = result.model_copy(update={"content": result.content[:limit] + f"\n[cut at {limit} characters]"})
        return result


def _load(entry_point: EntryPoint) -> Tool[Any]:
    try:
        loaded = entry_point.load()
    except Exception as error:
        raise ToolPluginError(
            f"tool plugin {entry_point.name!r} ({entry_point.value}) failed to import: {error}; "
            "fix or uninstall the package that declares it"
        ) from error
    if isinstance(loaded, type) and issubclass(loaded, Tool):
        loaded = loaded()
    if not isinstance(loaded, Tool):
        raise ToolPluginError(
            f"tool plugin {entry_point.name!r} ({entry_point.value}) is a {type(loaded).__name__}, "
            "not a Tool instance or subclass; decorate the function with @tools.tool"
        )
    if loaded.name != entry_point.name:
        raise ToolPluginError(
            f"tool plugin entry point {entry_point.name!r} points at a tool named {loaded.name!r}; use the same name"
        )
    return loaded
