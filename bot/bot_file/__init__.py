"""The bot as one TOML file: ``switchboard export`` writes it, ``switchboard apply`` makes a bot match it."""

from bot.bot_file.bot_file_apply import BotFileApplication, BotFileError, bot_file_diff, locate, parse_bot_file
from bot.bot_file.bot_file_export import export_bot, render_bot_file
from bot.bot_file.bot_file_models import BotFile

__all__ = [
    "BotFile",
    "BotFileApplication",
    "BotFileError",
    "bot_file_diff",
    "export_bot",
    "locate",
    "parse_bot_file",
    "render_bot_file",
]
