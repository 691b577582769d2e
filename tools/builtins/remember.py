"""Save a fact about the user that they asked to keep, into their long-term memory."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.abc import ToolContext, tool
from tools.errors import ToolUnavailableError


class RememberArguments(BaseModel):
    text: str = Field(
        min_length=1,
        max_length=500,
        description="The fact, as a short sentence about the user, e.g. 'The user is on the platform team.'",
    )


@tool(name="remember")
async def remember(arguments: RememberArguments, context: ToolContext) -> str:
    """Save a durable fact or preference about the user to their long-term memory, so later conversations know it.
    Only use it when the user asks you to remember something or states a lasting preference; never for secrets."""
    if context.memory is None:
        raise ToolUnavailableError("long-term memory is not available in this run")
    await context.memory.remember(workspace_id=context.workspace_id, user_id=context.user_id, text=arguments.text)
    return f"Saved to the user's long-term memory: {arguments.text}"
