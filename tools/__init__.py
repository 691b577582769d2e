"""Tools the agent may call: the plugin API and the built-in tools (filled in by the agent-runtime issue)."""

__all__: list[str] = []
