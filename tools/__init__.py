"""Tools the agent may call: the plugin interface, the registry fed from entry points, and the built-in tools.

MCP servers' tools join the same registry through ``McpToolSource``. Imports only ``knowledge``; the agent runtime
builds a ``ToolContext`` per run and calls ``ToolRegistry.invoke``.
"""

from tools.abc import FunctionTool, MemoryWriter, Tool, ToolContext, ToolResult, tool
from tools.config import HttpEndpoint, ToolsConfig
from tools.errors import (
    ToolError,
    ToolNotFoundError,
    ToolPluginError,
    ToolRefusedError,
    ToolTimeoutError,
    ToolUnavailableError,
)
from tools.mcp_config import McpServerConfig
from tools.mcp_connection import McpServerStatus
from tools.mcp_tools import McpTool, McpToolSource
from tools.permissions import REQUIRED_ROLES, Action, Role, permits
from tools.registry import ENTRY_POINT_GROUP, ToolRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "REQUIRED_ROLES",
    "Action",
    "FunctionTool",
    "HttpEndpoint",
    "McpServerConfig",
    "McpServerStatus",
    "McpTool",
    "McpToolSource",
    "MemoryWriter",
    "Role",
    "permits",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolNotFoundError",
    "ToolPluginError",
    "ToolRefusedError",
    "ToolRegistry",
    "ToolResult",
    "ToolTimeoutError",
    "ToolUnavailableError",
    "ToolsConfig",
    "tool",
]
