"""Who may do what: the roles a Slack (or other channel) user can hold.

Defined here, in the lowest layer that needs it (tools declare the role their calls require), so ``agents/`` and
``bot/`` share the one definition.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["editor", "admin"]
