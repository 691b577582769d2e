"""The ``switchboard`` command line: ``main`` parses the arguments and runs one command; a module per command group."""

from bot.cli.entry_point import main

__all__ = ["main"]
