"""Bot: the running service: channels (Slack, phone), the HTTP server, the CLI and the composition root."""

__version__ = "0.1.0"

__all__ = ["__version__"]
