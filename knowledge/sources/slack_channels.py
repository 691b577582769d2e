"""Slack channels: the history and threads of chosen public and private channels, one document per thread and per
day of unthreaded messages, each linked by its permalink.

Reads go through slack_sdk's async Web API client, which follows ``next_cursor`` and waits out 429s for their
``Retry-After`` (its rate-limit retry handler); replies are fetched at most ``max_concurrency`` at a time.

Incremental: ``conversations.history`` is asked only for messages since the last sync (``oldest``, minus the
overlap, widened to ``thread_recheck_days`` so replies and edits in recent threads propagate), rounded down to the
start of a UTC day so each day's document is rebuilt whole. A thread's replies are fetched only when its parent
says it changed (reply count, latest reply, an edit) or it is recent. Every ``deletion_check_minutes`` the whole
history is listed (parents only: replies are not re-fetched) to find deleted messages; a channel added to the
config is listed whole on its own, the others stay incremental. The listing walks from the newest message back and
checkpoints after each complete day (``latest`` = the oldest message written), so a restart never starts over.

Access: a public channel's documents are public; a private channel's are readable by its members, synced as a group
on the permission cadence (someone who leaves loses access at the next permission sync). Bot messages and the
bot's own answers are never indexed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from knowledge.documents import AccessList, SourceDocument, external_group_principal
from knowledge.errors import SourceAuthError, SourceUnavailableError
from knowledge.sources.abc import FetchFailure, KnownDocument, Unchanged
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource
from knowledge.sources.saas_config import ENVIRONMENT_VARIABLE_PATTERN, SaaSSourceConfig, SourceSecrets

logger = logging.getLogger(__name__)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# conversations.history and .replies return at most 999 messages a page; Slack recommends 200 or fewer.
_HISTORY_PAGE = 200
_LIST_PAGE = 1000
# Slack's answers that mean the token itself is refused, not one channel.
_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission"}
# Message subtypes that are people talking; joins, topic changes and the like are not knowledge.
_INDEXED_SUBTYPES = {None, "file_share", "me_message"}
_MARKUP = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


class SlackChannelsSourceConfig(SaaSSourceConfig):
    """``[[sources]]`` entry of ``type = "slack"``: chosen channels of the workspace the bot token belongs to."""

    type: Literal["slack"] = "slack"
    token_env: str = Field(default="SLACK_BOT_TOKEN", pattern=ENVIRONMENT_VARIABLE_PATTERN)
    channels: tuple[str, ...] = Field(min_length=1, description="Channel ids (C0123...) or #names.")
    include_threads: bool = True
    thread_recheck_days: float = Field(
        default=3.0, ge=0, description="Each sync re-reads this much recent history, so new replies and edits show."
    )
    # Filled from SLACK_API_URL by the settings when left out.
    api_url: str | None = None

    @field_validator("channels")
    @classmethod
    def _id_or_name(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        for channel in channels:
            if not re.fullmatch(r"#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,}", channel):
                raise ValueError(f"channels are ids (C0123ABCD) or #names, got {channel!r}")
        return channels


@dataclass
class _Channel:
    id: str
    name: str
    private: bool


@dataclass
class _Day:
    key: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    threads: list[dict[str, Any]] = field(default_factory=list)


class SlackChannelsSource(PermissionedSource):
    """Threads and days of messages of the configured channels."""

    def __init__(self, config: SlackChannelsSourceConfig, secrets: SourceSecrets) -> None:
        self.config = config
        self.name = config.name
        self.permission_sync_minutes = config.permission_sync_minutes
        token = secrets.require(config.name, config.token_env)
        base_url = config.api_url or DEFAULT_SLACK_API_URL
        self._client = AsyncWebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=int(config.timeout_seconds),
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=config.max_retries),
                AsyncRateLimitErrorRetryHandler(max_retry_count=config.max_retries),
                AsyncServerErrorRetryHandler(max_retry_count=config.max_retries),
            ],
        )
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._channels: dict[str, _Channel] | None = None
        self._names: dict[str, str] | None = None
        self._workspace_url = "https://slack.com/"
        self._bot_user_id: str | None = None
        self._previous: dict[str, Any] = {}

    def resume(self, checkpoint: dict[str, Any] | None) -> None:
        self._previous = dict(checkpoint or {})
        self.checkpoint = dict(self._previous)

    # --- Web API calls ---

    async def _call(self, method: str, **params: Any) -> Any:
        """One Web API call under the source's concurrency bound; a refused token names the source and variable."""
        try:
            async with self._slots:
                return await self._client.api_call(method, http_verb="GET", params=params)
        except SlackApiError as error:
            raise self._error(method, error) from None
        except (TimeoutError, OSError) as error:
            raise SourceUnavailableError(f"source {self.name!r}: {method} could not reach Slack ({error})") from error

    def _error(self, method: str, error: SlackApiError) -> SourceUnavailableError:
        data = error.response.data
        code = (
            str(data.get("error"))
            if isinstance(data, dict) and data.get("error")
            else f"HTTP {error.response.status_code}"
        )
        if code in _AUTH_ERRORS:
            return SourceAuthError(
                f"source {self.name!r}: Slack refused the token in {self.config.token_env} ({code}); check that it is "
                "the bot token (xoxb-...) of an installed app with channels:history, groups:history, channels:read "
                "and groups:read"
            )
        if code == "ratelimited":
            return SourceUnavailableError(f"source {self.name!r}: {method} still rate limited after every retry")
        return SourceUnavailableError(f"source {self.name!r}: {method} failed ({code})")

    async def _pages(self, method: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every page of a cursor-paginated method; slack_sdk follows ``next_cursor`` as the response is iterated."""
        try:
            async with self._slots:
                first = await self._client.api_call(method, http_verb="GET", params=params)
            async for page in first:
                yield dict(page.data) if isinstance(page.data, dict) else {}
        except SlackApiError as error:
            raise self._error(method, error) from None
        except (TimeoutError, OSError) as error:
            raise SourceUnavailableError(f"source {self.name!r}: {method} could not reach Slack ({error})") from error

    async def _identify(self) -> None:
        """The workspace's URL (for permalinks) and the bot's own user id (its answers are not indexed)."""
        if self._bot_user_id is None:
            answer = await self._call("auth.test")
            self._bot_user_id = str(answer.get("user_id") or "")
            self._workspace_url = str(answer.get("url") or self._workspace_url)
            if not self._workspace_url.endswith("/"):
                self._workspace_url += "/"

    async def _channel_ids(self) -> list[str]:
        """The configured channels as ids; ``#names`` are looked up once with ``conversations.list``."""
        wanted = [channel for channel in self.config.channels if channel.startswith("#")]
        if wanted and self._names is None:
            self._names = {}
            async for page in self._pages(
                "conversations.list", types="public_channel,private_channel", limit=_LIST_PAGE, exclude_archived=True
            ):
                for channel in page.get("channels") or []:
                    self._names[f"#{channel.get('name')}"] = str(channel.get("id"))
        ids = []
        for channel in self.config.channels:
            if channel.startswith("#"):
                found = (self._names or {}).get(channel)
                if found is None:
                    raise SourceUnavailableError(
                        f"source {self.name!r}: no channel named {channel} is visible to the bot; invite the bot to "
                        "it (a private channel is listed only to its members) or configure its id"
                    )
                ids.append(found)
            else:
                ids.append(channel)
        return list(dict.fromkeys(ids))

    async def _channel(self, channel_id: str) -> _Channel:
        if self._channels is None:
            self._channels = {}
        if channel_id not in self._channels:
            info = (await self._call("conversations.info", channel=channel_id)).get("channel") or {}
            self._channels[channel_id] = _Channel(
                id=channel_id,
                name=str(info.get("name") or channel_id),
                private=bool(info.get("is_private")) or bool(info.get("is_group")),
            )
        return self._channels[channel_id]

    def _access(self, channel: _Channel) -> AccessList:
        if not channel.private:
            return AccessList()
        return AccessList.restricted(principals=[external_group_principal(self.name, channel.id)])

    # --- content ---

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        self.listing_complete = True
        started = time.time()
        await self._identify()
        for channel_id in await self._channel_ids():
            try:
                channel = await self._channel(channel_id)
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                if len(self.config.channels) == 1:
                    raise
                logger.warning("source %s: channel %s skipped: %s", self.name, channel_id, error)
                self.listing_complete = False
                continue
            async for result in self._history(channel, known, started):
                yield result

    async def _history(
        self, channel: _Channel, known: Mapping[str, KnownDocument], started: float
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        state = dict(self._previous.get(channel.id) or {})
        listing = dict(state.get("listing") or {})
        resumed = bool(listing)
        if resumed:  # an earlier run stopped in this listing: continue below the last day it wrote
            # Its newer days were written by that run, so this run has not seen every document.
            self.listing_complete = False
        else:
            listing = {"started": started, **self._window(state, started)}
            if not listing["full"]:
                self.listing_complete = False
        recheck_after = started - self.config.thread_recheck_days * 86400
        access = self._access(channel)
        params: dict[str, Any] = {"channel": channel.id, "limit": _HISTORY_PAGE}
        if listing.get("oldest") is not None:
            params["oldest"] = _ts(listing["oldest"])
        if listing.get("latest") is not None:
            params["latest"] = _ts(listing["latest"])
        day: _Day | None = None
        async for page in self._pages("conversations.history", **params):
            for message in page.get("messages") or []:
                key = _day_of(message["ts"])
                if day is not None and key != day.key:
                    async for result in self._day_documents(channel, access, day, known, recheck_after):
                        yield result
                    listing["latest"] = min(float(m["ts"]) for m in day.messages + day.threads)
                    self._set_checkpoint(channel.id, {**state, "listing": dict(listing)})
                    day = None
                if day is None:
                    day = _Day(key)
                if self._is_thread(message):
                    day.threads.append(message)
                elif self._is_indexed(message):
                    day.messages.append(message)
        if day is not None:
            async for result in self._day_documents(channel, access, day, known, recheck_after):
                yield result
        finished = {"synced_through": listing["started"], "listed_at": state.get("listed_at")}
        if listing.get("full") and not resumed:  # a deletion check counts only if one run listed everything
            finished["listed_at"] = listing["started"]
        self._set_checkpoint(channel.id, finished)

    def _window(self, state: Mapping[str, Any], started: float) -> dict[str, Any]:
        """How far back this run lists: everything when a deletion check is due (or never done), else recent days."""
        listed_at = state.get("listed_at")
        synced_through = state.get("synced_through")
        if (
            listed_at is None
            or synced_through is None
            or started - float(listed_at) >= self.config.deletion_check_minutes * 60
        ):
            return {"full": True, "oldest": None}
        oldest = min(
            float(synced_through) - self.config.overlap_minutes * 60, started - self.config.thread_recheck_days * 86400
        )
        # Whole days only: a day's document is rebuilt from every message of that day.
        day_start = datetime.fromtimestamp(oldest, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return {"full": False, "oldest": day_start.timestamp()}

    def _set_checkpoint(self, channel_id: str, state: dict[str, Any]) -> None:
        self.checkpoint = {**(self.checkpoint or {}), channel_id: state}

    def _is_indexed(self, message: Mapping[str, Any]) -> bool:
        if message.get("bot_id") or message.get("subtype") == "bot_message":
            return False
        if self._bot_user_id and message.get("user") == self._bot_user_id:
            return False
        return message.get("subtype") in _INDEXED_SUBTYPES

    def _is_thread(self, message: Mapping[str, Any]) -> bool:
        return (
            self.config.include_threads
            and int(message.get("reply_count") or 0) > 0
            and message.get("thread_ts") == message.get("ts")
        )

    async def _day_documents(
        self,
        channel: _Channel,
        access: AccessList,
        day: _Day,
        known: Mapping[str, KnownDocument],
        recheck_after: float,
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        changed = []
        for parent in day.threads:
            external_id = f"{channel.id}/thread/{parent['ts']}"
            previous = known.get(external_id)
            fresh = float(parent.get("latest_reply") or parent["ts"]) >= recheck_after
            if previous is not None and previous.etag == _thread_etag(parent) and not fresh:
                yield Unchanged(external_id=external_id)
            else:
                changed.append(parent)
        for result in await asyncio.gather(*(self._thread(channel, access, parent) for parent in changed)):
            yield result
        messages = sorted(day.messages, key=lambda message: float(message["ts"]))
        if messages:
            yield SourceDocument(
                source=self.name,
                external_id=f"{channel.id}/day/{day.key}",
                title=f"#{channel.name} on {day.key}",
                url=self._permalink(channel.id, str(messages[0]["ts"])),
                content="\n\n".join(_message_line(message) for message in messages),
                updated_at=datetime.fromtimestamp(max(_changed_at(message) for message in messages), UTC),
                access=access,
            )

    async def _thread(
        self, channel: _Channel, access: AccessList, parent: dict[str, Any]
    ) -> SourceDocument | FetchFailure:
        external_id = f"{channel.id}/thread/{parent['ts']}"
        url = self._permalink(channel.id, str(parent["ts"]))
        messages: list[dict[str, Any]] = []
        try:
            async for page in self._pages(
                "conversations.replies", channel=channel.id, ts=parent["ts"], limit=_HISTORY_PAGE
            ):
                messages += page.get("messages") or []
        except SourceAuthError:
            raise
        except SourceUnavailableError as error:
            return FetchFailure(external_id=external_id, reason=str(error), url=url, access=access)
        kept = [
            m for m in {str(m["ts"]): m for m in messages}.values() if self._is_indexed(m) or m["ts"] == parent["ts"]
        ]
        kept.sort(key=lambda message: float(message["ts"]))
        kept = kept or [parent]
        lines = [_message_line(message) for message in kept if self._is_indexed(message)]
        first = _plain_text(str(parent.get("text") or "")) if self._is_indexed(parent) else "a deleted message"
        return SourceDocument(
            source=self.name,
            external_id=external_id,
            title=f"#{channel.name}: {_shorten(first, 80)}",
            url=url,
            content="\n\n".join(lines),
            updated_at=datetime.fromtimestamp(max(_changed_at(message) for message in kept), UTC),
            access=access,
            etag=_thread_etag(parent),
        )

    def _permalink(self, channel_id: str, ts: str) -> str:
        return f"{self._workspace_url}archives/{channel_id}/p{ts.replace('.', '')}"

    # --- permissions ---

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        # Permission sync starts here: forget what an earlier pass read, so privacy and membership are current.
        self._channels = None
        self.groups_error = None
        for channel_id in await self._channel_ids():
            try:
                channel = await self._channel(channel_id)
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                self.groups_error = f"channel {channel_id} could not be read ({error}); nobody reads through it"
                yield ExternalGroup(principal=external_group_principal(self.name, channel_id))
                continue
            if not channel.private:
                continue
            members: list[str] = []
            try:
                async for page in self._pages("conversations.members", channel=channel.id, limit=_LIST_PAGE):
                    members += [str(member) for member in page.get("members") or []]
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                self.groups_error = f"members of #{channel.name} could not be listed ({error}); nobody reads through it"
                members = []
            yield ExternalGroup(principal=external_group_principal(self.name, channel.id), members=frozenset(members))

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        by_channel: dict[str, list[str]] = {}
        for external_id in external_ids:
            by_channel.setdefault(external_id.split("/", 1)[0], []).append(external_id)
        for channel_id, ids in by_channel.items():
            try:
                access = self._access(await self._channel(channel_id))
            except SourceAuthError:
                raise
            except SourceUnavailableError as error:
                access = AccessList.unreadable(f"channel {channel_id} could not be read: {error}")
            for external_id in ids:
                yield AccessUpdate(external_id=external_id, access=access)

    async def aclose(self) -> None:
        session = getattr(self._client, "session", None)
        if session is not None:
            await session.close()


def _ts(value: Any) -> str:
    return f"{float(value):.6f}"


def _day_of(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).date().isoformat()


def _changed_at(message: Mapping[str, Any]) -> float:
    edited = (message.get("edited") or {}).get("ts")
    return max(float(message["ts"]), float(edited or 0), float(message.get("latest_reply") or 0))


def _thread_etag(parent: Mapping[str, Any]) -> str:
    """What the parent in the history says about its thread: a change here means the thread changed."""
    text = hashlib.sha256(str(parent.get("text") or "").encode()).hexdigest()[:16]
    edited = (parent.get("edited") or {}).get("ts") or ""
    return f"{parent.get('reply_count')}:{parent.get('latest_reply')}:{edited}:{parent.get('subtype') or ''}:{text}"


def _plain_text(text: str) -> str:
    """Slack markup as plain, inert words: ``<@U1>`` -> ``@U1``, ``<url|label>`` -> ``label (url)``, ``<!here>`` ->
    ``@here``."""

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#")):
            return f"{target[0]}{label or target[1:]}"
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^", 1)[0])
        return f"{label} ({target})" if label and label != target else target

    return _MARKUP.sub(replace, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _message_line(message: Mapping[str, Any]) -> str:
    profile = message.get("user_profile") or {}
    author = profile.get("display_name") or profile.get("real_name") or message.get("user") or "someone"
    when = datetime.fromtimestamp(float(message["ts"]), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"**{author}** ({when}): {_plain_text(str(message.get('text') or ''))}"


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
