"""The Slack app manifest ``switchboard slack-manifest --url`` prints, so an admin creates the app in one step."""

from __future__ import annotations

from typing import Any

from bot.slack.commands import COMMANDS
from bot.slack.routes import EVENTS_PATH

BOT_SCOPES = [
    "app_mentions:read",  # mentions
    "channels:history",  # thread replies in public channels
    "groups:history",  # ... and in private channels
    "im:history",  # direct messages
    "mpim:history",
    "chat:write",  # answers, progress updates, approvals
    "commands",  # /prompt, /kb, /schedule, /memory
    "channels:read",  # channel members, for who may read an answer
    "groups:read",
    "im:read",
    "mpim:read",
    "users:read",
    "users:read.email",  # askers' emails: Confluence, GitHub and Google grant access to emails, not Slack ids
    "files:read",  # files attached to questions
    "assistant:write",  # suggested prompts and conversation titles in the messages tab (status needs chat:write)
]
BOT_EVENTS = [
    "app_mention",
    "message.im",
    "message.channels",
    "message.groups",
    "message.mpim",
    "app_home_opened",  # App Home, and the messages tab opened (agent view: suggested prompts)
]
# Only apps on the older assistant split view get assistant threads (and must subscribe to their events).
ASSISTANT_VIEW_EVENTS = ["assistant_thread_started", "assistant_thread_context_changed"]
DESCRIPTION = "Answers questions from your internal knowledge, with sources."

_COMMAND_HINTS = {
    "/prompt": "list | show NAME [vN] | edit NAME | set NAME TEXT | history | diff | rollback | test | stats",
    "/kb": "status | sources | sync [SOURCE]",
    "/schedule": 'add "WHEN" #channel|me INSTRUCTION | list | remove ID | run ID',
    "/memory": "list | forget N",
}


def slack_manifest(public_url: str, *, name: str = "Switchboard", assistant_view: bool = False) -> dict[str, Any]:
    """Manifest for an app whose events, commands and interactivity all go to ``PUBLIC_URL/slack/events``.

    The app is an agent (``agent_view``: conversations in its messages tab, Slack's default for AI apps), or with
    ``assistant_view`` the older assistant split view with its assistant threads."""
    request_url = public_url.rstrip("/") + EVENTS_PATH
    surface = (
        {"assistant_view": {"assistant_description": DESCRIPTION}}
        if assistant_view
        else {"agent_view": {"agent_description": DESCRIPTION}}
    )
    events = BOT_EVENTS + (ASSISTANT_VIEW_EVENTS if assistant_view else [])
    return {
        "display_information": {"name": name, "description": DESCRIPTION},
        "features": {
            **surface,
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name.lower(), "always_online": True},
            "slash_commands": [
                {
                    "command": command,
                    "url": request_url,
                    "description": description[:100],
                    "usage_hint": _COMMAND_HINTS[command][:100],
                    # Escaped, #channel arrives as <#C123|name>: the id /schedule add needs.
                    "should_escape": True,
                }
                for command, description in COMMANDS.items()
            ],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": {"request_url": request_url, "bot_events": events},
            "interactivity": {"is_enabled": True, "request_url": request_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
