"""Errors raised by the tools package; a failing tool call becomes a message the model can read, not a crash."""

from __future__ import annotations


class ToolError(Exception):
    """Root of every error the tools package raises."""


class ToolPluginError(ToolError, ImportError):
    """A tool plugin from the ``switchboard.tools`` entry-point group could not be loaded or clashes with another."""


class ToolNotFoundError(ToolError, LookupError):
    """No tool is registered under the requested name."""


class ToolUnavailableError(ToolError, RuntimeError):
    """The tool cannot run in this deployment (nothing configured for it); the message says what to configure."""


class ToolRefusedError(ToolError, PermissionError):
    """The tool refused the call (a domain not on the allow-list, an unknown endpoint, a missing role)."""


class ToolTimeoutError(ToolError, TimeoutError):
    """The tool did not finish in its time limit; the message names the tool and the limit."""
