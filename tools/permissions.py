"""Who may do what: the roles a user can hold, and the one table of which roles each action needs.

Defined here, in the lowest layer that needs roles (tools declare the role their calls require), so ``agents/`` and
``bot/`` share one definition. Channels check an action once, where the request enters (Slack middleware, a
listener); the layers below trust that check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Role = Literal["editor", "admin"]
Action = Literal[
    "prompt.change",
    "knowledge.sync",
    "schedule.change",
    "schedule.change_own",
    "evaluation.add_case",
    "curated.change",
    "approval.decide_for_others",
]
EDITORS: frozenset[Role] = frozenset({"editor", "admin"})
ANYONE: frozenset[Role] = frozenset()
REQUIRED_ROLES: dict[Action, frozenset[Role]] = {
    # /prompt set, edit (and its form), rollback, test: they change (or try out) what the bot says to everyone.
    "prompt.change": EDITORS,
    # /kb sync
    "knowledge.sync": EDITORS,
    # /schedule add, remove, run for a schedule that posts to a channel ...
    "schedule.change": EDITORS,
    # ... and for a personal one (posting only to its owner), by its owner.
    "schedule.change_own": ANYONE,
    # Saving an answer as an evaluation case.
    "evaluation.add_case": EDITORS,
    # Correcting an answer (a curated answer served to later askers), and listing, editing or retiring those.
    "curated.change": EDITORS,
    # Approving or rejecting a tool call someone else asked for (the asker may always decide their own).
    "approval.decide_for_others": frozenset({"admin"}),
}


def permits(roles: Iterable[Role], action: Action) -> bool:
    """Whether someone holding ``roles`` may do ``action``."""
    needed = REQUIRED_ROLES[action]
    return not needed or not needed.isdisjoint(roles)
