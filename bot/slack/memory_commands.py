"""``/memory list|forget N``: what the bot keeps about the person typing, and deleting one of those facts.

Memories live per workspace and user (``agents.long_term_memory.memory_namespace``); Slack answers file them under
the Slack team id and user id, so these commands read and delete exactly that namespace, never anyone else's.
"""

from __future__ import annotations

from agents import MemoryNotFoundError, MemoryStore
from bot.markdown_rendering import escape_mrkdwn
from bot.slack.commands import CommandError, CommandInvocation, CommandRegistry, CommandReply

NOTHING_KEPT = 'I remember nothing about you yet. Tell me something to remember in a question ("remember that …").'


class MemoryCommands:
    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def list(self, invocation: CommandInvocation) -> CommandReply:
        memories = await self.memory.list_memories(workspace_id=invocation.team_id, user_id=invocation.user_id)
        if not memories:
            return CommandReply(text=NOTHING_KEPT)
        lines = ["*What I remember about you* (`/memory forget N` deletes one)"]
        lines += [f"{number}. {escape_mrkdwn(memory.text)}" for number, memory in enumerate(memories, 1)]
        return CommandReply(text="\n".join(lines))

    async def forget(self, invocation: CommandInvocation) -> CommandReply:
        word = invocation.args[0].lstrip("#")
        memories = await self.memory.list_memories(workspace_id=invocation.team_id, user_id=invocation.user_id)
        if not word.isdigit() or not 1 <= int(word) <= len(memories):
            known = f"1 to {len(memories)}" if memories else "none: nothing is kept about you"
            raise CommandError(
                f"`{escape_mrkdwn(invocation.args[0])}` is not one of your memories (numbers: {known}); "
                "`/memory list` shows them."
            )
        chosen = memories[int(word) - 1]
        try:
            forgotten = await self.memory.forget(
                workspace_id=invocation.team_id, user_id=invocation.user_id, memory_id=chosen.memory_id
            )
        except MemoryNotFoundError as error:
            raise CommandError("That memory was already deleted; `/memory list` shows what is left.") from error
        return CommandReply(text=f"Forgotten: {escape_mrkdwn(forgotten.text)}")


def register_memory_commands(registry: CommandRegistry, memory: MemoryStore) -> None:
    commands = MemoryCommands(memory)
    registry.register("/memory", "list", commands.list, summary="what I remember about you, numbered", max_args=0)
    registry.register(
        "/memory", "forget", commands.forget, usage="N", summary="delete memory number N", min_args=1, max_args=1
    )
