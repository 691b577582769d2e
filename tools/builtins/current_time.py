"""The current date and time, which the model cannot know on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from tools.abc import ToolContext, tool
from tools.errors import ToolRefusedError


class CurrentTimeArguments(BaseModel):
    timezone: str = Field(default="UTC", description="An IANA time zone such as Europe/Berlin; UTC if omitted.")


@tool(name="current_time")
async def current_time(arguments: CurrentTimeArguments, context: ToolContext) -> str:
    """Return the current date, time and weekday in a time zone. Use it whenever the answer depends on today."""
    try:
        zone = ZoneInfo(arguments.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolRefusedError(
            f"unknown time zone {arguments.timezone!r}; use an IANA name like Europe/Berlin"
        ) from None
    now = datetime.now(UTC).astimezone(zone)
    return f"{now.strftime('%A')} {now.isoformat(timespec='seconds')} ({arguments.timezone})"
