"""Check that a webhook request really comes from Twilio, the way Twilio signs it.

Twilio signs the URL it called (the public one, not the one behind the proxy) plus the form parameters, blank
values included; so the body is parsed here, keeping blanks, rather than by a form parser that may drop them.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection, Request
from starlette.websockets import WebSocket
from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "x-twilio-signature"


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form body, blank values kept (Twilio signs them too)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def signed_url(request: HTTPConnection, public_base_url: str | None) -> str:
    """The URL Twilio signed: ``PUBLIC_BASE_URL`` + route path (+ query) when set, else the URL as received."""
    if public_base_url is None:
        return str(request.url)
    query = request.url.query
    return public_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def is_from_twilio(request: Request, form: dict[str, str], auth_token: str, public_base_url: str | None) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    return bool(validator.validate(signed_url(request, public_base_url), form, signature))


def websocket_url(public_base_url: str, path: str) -> str:
    """``https://bot.example.com`` + path -> ``wss://bot.example.com/path``: the URL Twilio connects to and signs."""
    base = public_base_url.rstrip("/")
    for plain, secure in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(plain):
            base = secure + base.removeprefix(plain)
    return base + path


def is_handshake_from_twilio(websocket: WebSocket, auth_token: str, public_base_url: str | None) -> bool:
    """A ConversationRelay handshake: Twilio signs the ``wss://`` URL it connected to, with no parameters."""
    signature = websocket.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return False
    if public_base_url is None:
        url = str(websocket.url)
    else:
        query = websocket.url.query
        url = websocket_url(public_base_url, websocket.url.path) + (f"?{query}" if query else "")
    return bool(RequestValidator(auth_token).validate(url, {}, signature))
