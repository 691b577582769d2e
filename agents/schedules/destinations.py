"""Where a schedule's runs may post, as the channel that delivers them spells it.

Schedules are plain data here: ``channel`` is an opaque id. Which ids are valid, and which of them reach only the
schedule's owner (a personal schedule, which the owner may manage without a role), is the delivering channel's
knowledge; the service hands its ``ScheduleDestinations`` to the store.
"""

from __future__ import annotations

from typing import Protocol


class ScheduleDestinations(Protocol):
    def check(self, channel: str, owner: str) -> None:
        """Raise ``ScheduleInputError`` (saying how to pick a valid one) when runs cannot post to ``channel``."""

    def is_personal(self, channel: str, owner: str) -> bool:
        """Whether a run posting to ``channel`` reaches only ``owner``."""
