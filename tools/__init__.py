"""Tools the agent may call: the plugin interface, the registry fed from entry points, and the built-in tools.

Imports only ``knowledge``; the agent runtime builds a ``ToolContext`` per run and calls ``ToolRegistry.invoke``.
"""

from tools.abc import FunctionTool, MemoryWriter, Role, Tool, ToolContext, ToolResult, tool
from tools.config import HttpEndpoint, ToolsConfig
from tools.errors import ToolError, ToolNotFoundError, ToolPluginError, ToolRefusedError, ToolUnavailableError
from tools.registry import ENTRY_POINT_GROUP, ToolRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "FunctionTool",
    "HttpEndpoint",
    "MemoryWriter",
    "Role",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolNotFoundError",
    "ToolPluginError",
    "ToolRefusedError",
    "ToolRegistry",
    "ToolResult",
    "ToolUnavailableError",
    "ToolsConfig",
    "tool",
]
