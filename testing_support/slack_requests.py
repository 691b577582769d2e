"""Signed Slack requests, as Slack sends them: an Events API body and its signature headers."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"


def signature_headers(body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The headers Slack signs a request with (now, unless ``timestamp`` says otherwise)."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature or ""}


def event_body(event: dict[str, Any], *, event_id: str | None = None, team_id: str = "T1") -> str:
    """An Events API ``event_callback`` body carrying ``event``."""
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": team_id,
            "api_app_id": "A1",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10],
            "event_time": int(time.time()),
            "event": {"team": team_id, "event_ts": event.get("ts"), **event},
        }
    )
