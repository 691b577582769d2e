"""Errors raised by the service layer; the CLI prints their message and exits non-zero."""

from __future__ import annotations


class BotError(Exception):
    """Root of every error the bot package raises."""


class SettingsError(BotError, ValueError):
    """The environment or config file has a missing or bad value; the message names it and what is expected."""


class EmbeddedDatabaseError(BotError, RuntimeError):
    """The embedded PostgreSQL could not be started; the message says what to change."""


class MigrationError(BotError, RuntimeError):
    """Applying the database migrations failed."""


class SchedulerError(BotError, RuntimeError):
    """The scheduler was given an unusable job (bad trigger, duplicate name)."""
