"""App Home (``app_home_opened`` -> ``views.publish``): the bot's state at a glance for editors and admins, and what
the bot can do for everyone else.

Editors and admins see the knowledge sources with their last sync and its failures (a failed document named only
if they may read it, as in ``/kb status``), each prompt's live version with its ratings and the latest 👎 comments
(as in ``/prompt stats``), the schedules with their last runs (as in ``/schedule list``), and buttons: **Edit** on a
prompt opens the same form as ``/prompt edit``, **Sync** on a configured source queues a sync of it for a worker (as
``/kb sync`` does, for the same people; a sync already waiting is not queued twice; Slack fits 25 such buttons, the
command reaches every source), **Refresh** publishes the view again. Every figure comes from the reader the matching
command uses, so the two never disagree. Everything shown that people or documents wrote (titles, comments,
instructions, errors) is escaped by those same formatters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from agents import PromptError, PromptStore
from agents.schedules import Schedule, ScheduleListing
from bot.markdown_rendering import escape_mrkdwn
from bot.settings import Settings
from bot.slack.blocks import MODAL_TEXT_LIMIT, Block, button, context, format_schedule_line, prompt_edit_modal, section
from bot.slack.commands import format_approval, format_comment
from bot.slack.kb_commands import EMPTY_INDEX, source_status_lines
from bot.slack.message_splitting import split_text
from bot.slack.ratings import PromptVersionRatings, Sessions, latest_comments, rating_stats
from knowledge import KnowledgeStatus, ReaderScope, knowledge_status
from tools import Role, permits

logger = logging.getLogger(__name__)

HOME_EDIT_PROMPT = "home_prompt_edit"
HOME_REFRESH = "home_refresh"
HOME_SYNC_SOURCE = "home_sync_source"
MAX_SYNC_BUTTONS = 25  # Slack's limit of elements in one actions block
MAX_HOME_BLOCKS = 100
_SECTION_LIMIT = 3000
COMMENTS_SHOWN = 2


def divider() -> Block:
    return {"type": "divider"}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def everyone_home() -> dict[str, Any]:
    """What the bot can do and how to ask: the Home tab of anyone who is not an editor or admin."""
    lines = [
        "I answer questions from your team's knowledge (the sources an admin connected), with links to what I used.",
        "• *Ask me* in the *Messages* tab, in a DM, or mention me in a channel: `@switchboard how do I …?`",
        "• *In a channel* I only use what every member of it may read; in a DM, what you may read.",
        "• *Rate answers* with 👍 / 👎; a 👎 asks what was wrong, and editors read it.",
        '• `/schedule add "every weekday at 9:00" me INSTRUCTION` runs a question for you on a schedule.',
        "• `/memory list` shows what I remember about you; `/memory forget N` deletes it.",
        "• `/kb status` shows what the knowledge holds and when it was last synced.",
    ]
    return {"type": "home", "blocks": [header("Switchboard"), section("\n".join(lines))]}


def editor_home(
    *,
    sources: list[str],
    prompts: list[list[Block]],
    schedules: list[str],
    syncable: Sequence[str] = (),
    notice: str | None = None,
) -> dict[str, Any]:
    """The editors' Home tab from already formatted (and escaped) parts; kept within Slack's 100 blocks.

    ``syncable`` names the configured sources that get a **Sync** button; ``notice`` (escaped by the caller) says
    what the last click did."""
    blocks: list[Block] = [
        {
            "type": "actions",
            "block_id": "home",
            "elements": [button(":arrows_counterclockwise: Refresh", HOME_REFRESH, "refresh")],
        },
    ]
    if notice:
        blocks.append(context(notice))
    blocks += [
        header("Knowledge sources"),
        *[section(piece) for piece in split_text("\n".join(sources) or EMPTY_INDEX, _SECTION_LIMIT)],
    ]
    if syncable:
        buttons = [button(f"Sync {name}"[:75], HOME_SYNC_SOURCE, name) for name in syncable[:MAX_SYNC_BUTTONS]]
        blocks.append({"type": "actions", "block_id": "home_sources", "elements": buttons})
    blocks += [
        context("`/kb sync [SOURCE]` syncs now · `/kb sources` lists the configured ones"),
        divider(),
        header("Prompts"),
    ]
    for prompt_blocks in prompts:
        blocks += prompt_blocks
    blocks += [
        context("`/prompt stats NAME` per version · `/prompt history NAME` · `/prompt rollback NAME vN`"),
        divider(),
        header("Schedules"),
        *[section(piece) for piece in split_text("\n".join(schedules) or "No schedules yet.", _SECTION_LIMIT)],
        context('`/schedule add "WHEN" #channel INSTRUCTION` · `/schedule run ID` · `/schedule remove ID`'),
    ]
    if len(blocks) > MAX_HOME_BLOCKS:
        blocks = [*blocks[: MAX_HOME_BLOCKS - 1], context("More than fits here: see the slash commands.")]
    return {"type": "home", "blocks": blocks}


def prompt_blocks(
    name: str, live_version: int, live: PromptVersionRatings | None, comments: list[str], *, editable: bool
) -> list[Block]:
    """One prompt: its live version with that version's ratings, the latest 👎 comments, and an Edit button (for a
    prompt short enough for the form; a longer one says how to change it)."""
    ratings = format_approval(live) if live is not None else "no ratings yet"
    text = f"*{escape_mrkdwn(name)}* `v{live_version}` (live): {ratings}"
    if not editable:
        text += f"\n    too long for a form: `/prompt set {escape_mrkdwn(name)} TEXT` changes it"
    text += "".join(f"\n    {comment}" for comment in comments)
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SECTION_LIMIT]}}
    if editable:
        block["accessory"] = button("Edit", HOME_EDIT_PROMPT, name)
    return [block]


class AppHome:
    """Publishes each user's Home tab; reads through the same functions the slash commands use."""

    def __init__(
        self,
        settings: Settings,
        sessions: Sessions,
        client: AsyncWebClient,
        prompts: PromptStore,
        list_schedules: Callable[[], Awaitable[list[ScheduleListing]]] | None = None,
        is_personal: Callable[[Schedule], bool] = lambda schedule: False,
        read_status: Callable[[], Awaitable[KnowledgeStatus]] | None = None,
        queue_sync: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        """``queue_sync`` queues a sync of the named source and says whether it did (False: one already waits);
        without it the Home tab has no **Sync** buttons."""
        self.settings = settings
        self.sessions = sessions
        self.client = client
        self.prompts = prompts
        self.list_schedules = list_schedules
        self.is_personal = is_personal
        self.read_status = read_status or (lambda: knowledge_status(sessions))
        self.queue_sync = queue_sync

    async def publish(self, user_id: str, roles: frozenset[Role], notice: str | None = None) -> None:
        view = await self.view_for(user_id, roles, notice)
        await self.client.views_publish(user_id=user_id, view=view)

    async def view_for(self, user_id: str, roles: frozenset[Role], notice: str | None = None) -> dict[str, Any]:
        if not permits(roles, "prompt.change"):
            return everyone_home()
        scope = ReaderScope(readers=(self.settings.reader(user_id),))
        sources = source_status_lines(await self.read_status(), scope)
        return editor_home(
            sources=sources,
            prompts=await self._prompt_parts(),
            schedules=await self._schedules(user_id),
            syncable=self._syncable(roles),
            notice=notice,
        )

    def _syncable(self, roles: frozenset[Role]) -> list[str]:
        if self.queue_sync is None or not permits(roles, "knowledge.sync"):
            return []
        return [config.name for config in self.settings.sources]

    async def sync_source(self, user_id: str, name: str, roles: frozenset[Role]) -> None:
        """**Sync** on a source: queue its sync (checked like ``/kb sync``), then publish the Home tab again saying
        what happened. A name the config file no longer has (an old view) is refused, not queued."""
        if self.queue_sync is None or not permits(roles, "knowledge.sync"):
            return
        shown = f"*{escape_mrkdwn(name)}*"
        if name not in self._syncable(roles):
            notice = f":warning: There is no source named {shown} in the config file any more; nothing was synced."
        elif await self.queue_sync(name):
            notice = f":hourglass_flowing_sand: A sync of {shown} is queued for a worker; *Refresh* shows its result."
        else:
            notice = f":hourglass_flowing_sand: A sync of {shown} is already waiting in the queue; not queued twice."
        await self.publish(user_id, roles, notice)

    async def _prompt_parts(self) -> list[list[Block]]:
        parts = []
        summaries = await self.prompts.list_prompts()
        texts = await self.prompts.live_prompts(summary.name for summary in summaries)
        for summary in summaries:
            stats = {row.version: row for row in await rating_stats(self.sessions, summary.name)}
            comments = [format_comment(c) for c in await latest_comments(self.sessions, summary.name, COMMENTS_SHOWN)]
            editable = summary.name in texts and len(texts[summary.name].text) <= MODAL_TEXT_LIMIT
            live = stats.get(summary.live_version)
            parts.append(prompt_blocks(summary.name, summary.live_version, live, comments, editable=editable))
        return parts

    async def _schedules(self, user_id: str) -> list[str]:
        if self.list_schedules is None:
            return []
        listings = await self.list_schedules()
        # Other people's DM schedules stay private, as in /schedule list.
        shown = [item for item in listings if item.schedule.owner == user_id or not self.is_personal(item.schedule)]
        return [format_schedule_line(item) for item in shown]

    async def open_prompt_editor(self, name: str, trigger_id: str, roles: frozenset[Role]) -> None:
        """**Edit** on a prompt: the ``/prompt edit`` form (its submission is handled, and checked, there)."""
        if not permits(roles, "prompt.change"):
            return
        try:
            live = await self.prompts.get(name)
        except PromptError as error:
            logger.warning("App Home: could not open prompt %s for editing: %s", name, error)
            return
        if len(live.text) > MODAL_TEXT_LIMIT:
            logger.info("App Home: prompt %s is longer than a form holds; /prompt set changes it", name)
            return
        await self.client.views_open(trigger_id=trigger_id, view=prompt_edit_modal(name, live.version, live.text, ""))
