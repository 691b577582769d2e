"""Caller numbers are personal data: masked wherever a person might read them, hashed where an id is needed."""

from __future__ import annotations

import hashlib

_KEEP_END = 4


def mask_number(number: str) -> str:
    """``+15551234567`` -> ``+1******4567``: the country prefix and last four digits, enough to tell calls apart."""
    number = number.strip()
    if not number:
        return "unknown"
    start = 2 if number.startswith("+") else 0
    if len(number) - start <= _KEEP_END:
        return "*" * len(number)
    return number[:start] + "*" * (len(number) - start - _KEEP_END) + number[-_KEEP_END:]


def caller_user_id(number: str) -> str:
    """A stable id for the agent's ``Asker.user_id``: the same caller always gets the same one, never the number."""
    digest = hashlib.sha256(number.strip().encode()).hexdigest()[:20]
    return f"phone:{digest}"
