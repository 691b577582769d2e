"""The Slack channels connector against the loopback Slack Web API: what reaches the index, who can retrieve it,
and what each sync asks Slack for."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import (
    Embedder,
    Reader,
    SyncEngine,
    knowledge_status,
    sync_permissions,
)
from knowledge.sources import SlackChannelsSource, SlackChannelsSourceConfig, SourceSecrets
from tests.fakes.slack_api import BOT_TOKEN, BOT_USER_ID, FakeChannel, FakeSlackApi
from tests.knowledge.reader_search import passages_for

ALICE = Reader(user_id="UALICE")  # in the private incident room
BOB = Reader(user_id="UBOB")  # in it too
CAROL = Reader(user_id="UCAROL")  # not in it

NOW = time.time()


def ts(days_ago: int, second: int = 0) -> str:
    """A message time at noon UTC ``days_ago`` days back (plus ``second``), so a day's messages share a date."""
    day_start = (int(NOW) // 86400 - days_ago) * 86400
    return f"{day_start + 43200 + second:.6f}"


def message(when: str, words: str, user: str = "UALICE", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "ts": when, "user": user, "text": words, **extra}


@pytest.fixture
def slack(slack_api: FakeSlackApi) -> FakeSlackApi:
    slack_api.history_page_size = 2
    slack_api.channels["CGENERAL"] = FakeChannel(
        name="general",
        messages=[
            message(ts(10, 1), "The VPN gateway is vpn.acme.example, ask <@UBOB> if stuck"),
            message(ts(10, 2), "Deploy finished: build 881", user="", bot_id="BCI", subtype="bot_message"),
            message(ts(10, 3), "Switchboard's own answer about mango smoothies", user=BOT_USER_ID),
            message(ts(10, 4), "How do I reset my badge?", user="UCAROL"),
            message(ts(10, 9), "UCAROL has joined the channel", user="UCAROL", subtype="channel_join"),
            message(ts(1, 1), "Lunch is served at noon on Fridays in the atrium"),
        ],
        replies={
            ts(10, 4): [
                message(ts(10, 5), "Go to the security desk on floor three", user="UBOB"),
                message(ts(10, 6), "Bot reply about mango smoothies", user=BOT_USER_ID),
            ]
        },
    )
    slack_api.channels["CINCIDENT"] = FakeChannel(
        name="incident-room",
        is_private=True,
        messages=[message(ts(5, 1), "Root cause of the outage", user="UBOB")],
        replies={ts(5, 1): [message(ts(5, 2), "The database failover passphrase was rotated", user="UALICE")]},
    )
    slack_api.channel_members["CINCIDENT"] = ["UALICE", "UBOB", BOT_USER_ID]
    return slack_api


def source(slack: FakeSlackApi, name: str, **options: Any) -> SlackChannelsSource:
    token = options.pop("token", BOT_TOKEN)
    config = SlackChannelsSourceConfig(
        name=name,
        channels=options.pop("channels", ("CGENERAL", "#incident-room")),
        api_url=slack.api_url,
        max_retries=options.pop("max_retries", 2),
        **options,
    )
    return SlackChannelsSource(config, SourceSecrets(values={"SLACK_BOT_TOKEN": SecretStr(token)}))


async def search(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> str:
    """Every retrieved passage's title, URL and text, for substring assertions."""
    passages = await passages_for(sessions, embedder, query, source_name, *readers)
    return "\n".join(f"{p.title} | {p.url} | {p.text}" for p in passages)


async def documents(sessions: async_sessionmaker[AsyncSession], source_name: str) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT d.external_id, d.url FROM kb_documents d JOIN kb_sources s ON s.id = d.source_id "
                "WHERE s.name = :name"
            ),
            {"name": source_name},
        )
    return {row[0]: row[1] for row in rows}


async def test_threads_and_days_reach_the_index_with_permalinks_without_bot_messages(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(slack, "sl-index"))

    assert summary.status == "succeeded", summary.error
    stored = await documents(sessions, "sl-index")
    thread_ts = ts(10, 4)
    assert set(stored) == {
        f"CGENERAL/thread/{thread_ts}",
        f"CGENERAL/day/{time.strftime('%Y-%m-%d', time.gmtime(float(ts(10))))}",
        f"CGENERAL/day/{time.strftime('%Y-%m-%d', time.gmtime(float(ts(1))))}",
        f"CINCIDENT/thread/{ts(5, 1)}",
    }
    assert stored[f"CGENERAL/thread/{thread_ts}"] == (
        f"https://acme.slack.example/archives/CGENERAL/p{thread_ts.replace('.', '')}"
    )
    found = await search(sessions, offline_embedder, "reset badge security desk", "sl-index", CAROL)
    assert "Go to the security desk on floor three" in found and "How do I reset my badge" in found
    assert "mango" not in await search(sessions, offline_embedder, "mango smoothies", "sl-index", CAROL)
    assert "build 881" not in await search(sessions, offline_embedder, "deploy finished build", "sl-index", CAROL)
    assert "@UBOB" in await search(sessions, offline_embedder, "VPN gateway", "sl-index", CAROL)
    # History came page by page (two messages a page).
    assert len(slack.calls_to("conversations.history")) > 3


async def test_a_private_channel_is_read_by_its_current_members_only(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await SyncEngine(sessions, offline_embedder).sync(source(slack, "sl-private"))
    await sync_permissions(sessions, source(slack, "sl-private"))
    query = "database failover passphrase outage"

    assert "passphrase was rotated" in await search(sessions, offline_embedder, query, "sl-private", ALICE)  # DM
    assert "passphrase was rotated" not in await search(sessions, offline_embedder, query, "sl-private", CAROL)
    assert "passphrase was rotated" in await search(sessions, offline_embedder, query, "sl-private", ALICE, BOB)
    # A channel reads only what every member may read.
    assert "passphrase was rotated" not in await search(sessions, offline_embedder, query, "sl-private", ALICE, CAROL)
    assert "atrium" in await search(sessions, offline_embedder, "lunch Fridays atrium", "sl-private", ALICE, CAROL)

    # Alice leaves: the next permission sync takes her access away, without reading any history.
    slack.channel_members["CINCIDENT"].remove("UALICE")
    slack.calls.clear()
    summary = await sync_permissions(sessions, source(slack, "sl-private"))

    assert summary.status == "succeeded", summary.error
    assert "passphrase was rotated" not in await search(sessions, offline_embedder, query, "sl-private", ALICE)
    assert "passphrase was rotated" in await search(sessions, offline_embedder, query, "sl-private", BOB)
    assert slack.calls_to("conversations.history") == [] and slack.calls_to("conversations.replies") == []


async def test_a_channel_turned_private_is_repermissioned_without_a_content_change(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await SyncEngine(sessions, offline_embedder).sync(source(slack, "sl-turned", channels=("CGENERAL",)))
    slack.channels["CGENERAL"].is_private = True
    slack.channel_members["CGENERAL"] = ["UBOB"]

    summary = await sync_permissions(sessions, source(slack, "sl-turned", channels=("CGENERAL",)))

    assert summary.changed == 3
    assert "atrium" not in await search(sessions, offline_embedder, "lunch Fridays atrium", "sl-turned", CAROL)
    assert "atrium" in await search(sessions, offline_embedder, "lunch Fridays atrium", "sl-turned", BOB)


async def test_edits_new_replies_and_deletions_propagate(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await engine.sync(source(slack, "sl-edit", channels=("CGENERAL",)))
    general = slack.channels["CGENERAL"]
    general.parent(ts(1, 1))["text"] = "Lunch is served at one on Fridays in the atrium"
    general.parent(ts(1, 1))["edited"] = {"user": "UALICE", "ts": f"{NOW:.6f}"}
    slack.calls.clear()

    incremental = await engine.sync(source(slack, "sl-edit", channels=("CGENERAL",)))

    assert incremental.status == "succeeded", incremental.error
    assert incremental.updated == 1  # the edited day, found in the recent history
    history = slack.calls_to("conversations.history")
    assert history and all("oldest" in call for call in history)  # not the whole history again
    assert "at one on Fridays" in await search(sessions, offline_embedder, "lunch Fridays atrium", "sl-edit", CAROL)

    # A new reply in a thread older than the recheck window shows at the next full listing, fetched alone.
    general.replies[ts(10, 4)].append(message(ts(0, 1), "Or use the kiosk by the lifts", user="UBOB"))
    slack.calls.clear()
    full = await engine.sync(source(slack, "sl-edit", channels=("CGENERAL",), deletion_check_minutes=1e-9))
    assert full.updated == 1
    assert {call["ts"] for call in slack.calls_to("conversations.replies")} == {ts(10, 4)}
    assert "kiosk" in await search(sessions, offline_embedder, "reset badge kiosk lifts", "sl-edit", CAROL)

    # A deleted thread is removed at the next full listing (the deletion check).
    general.messages = [m for m in general.messages if m["ts"] != ts(10, 4)]
    deleted = await engine.sync(source(slack, "sl-edit", channels=("CGENERAL",), deletion_check_minutes=1e-9))
    assert deleted.deleted == 1
    assert f"CGENERAL/thread/{ts(10, 4)}" not in await documents(sessions, "sl-edit")


async def test_unchanged_old_threads_are_not_fetched_again(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await engine.sync(source(slack, "sl-quiet", channels=("CGENERAL",)))
    slack.calls.clear()

    summary = await engine.sync(source(slack, "sl-quiet", channels=("CGENERAL",), deletion_check_minutes=1e-9))

    assert summary.status == "succeeded", summary.error
    assert summary.deleted == 0 and summary.unchanged == 3
    assert slack.calls_to("conversations.replies") == []  # the thread's parent says nothing changed


async def test_adding_a_channel_lists_that_channel_only(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await engine.sync(source(slack, "sl-add", channels=("CGENERAL",)))
    slack.calls.clear()

    summary = await engine.sync(source(slack, "sl-add", channels=("CGENERAL", "CINCIDENT")))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 1 and summary.updated == 0
    general = [call for call in slack.calls_to("conversations.history") if call["channel"] == "CGENERAL"]
    incident = [call for call in slack.calls_to("conversations.history") if call["channel"] == "CINCIDENT"]
    assert general and all("oldest" in call for call in general)
    assert incident and all("oldest" not in call for call in incident)
    assert {call["channel"] for call in slack.calls_to("conversations.replies")} == {"CINCIDENT"}


async def test_a_429_is_retried_after_its_retry_after(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    slack.rate_limit("conversations.history", times=1, retry_after=1)
    began = time.monotonic()

    summary = await SyncEngine(sessions, offline_embedder).sync(source(slack, "sl-429", channels=("CGENERAL",)))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 3
    assert len(slack.calls_to("conversations.history", status=429)) == 1
    assert time.monotonic() - began >= 1.0


async def test_a_refused_token_names_the_source_and_its_variable_and_hides_the_documents(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await SyncEngine(sessions, offline_embedder).sync(source(slack, "sl-refused", channels=("CGENERAL",)))

    refused = await SyncEngine(sessions, offline_embedder).sync(
        source(slack, "sl-refused", channels=("CGENERAL",), token="xoxb-revoked")
    )
    assert refused.status == "failed"
    assert "sl-refused" in (refused.error or "") and "SLACK_BOT_TOKEN" in (refused.error or "")
    assert "xoxb-revoked" not in (refused.error or "")

    # Permission sync with the refused token: who may read is unknown, so nobody may (fail closed).
    permissions = await sync_permissions(sessions, source(slack, "sl-refused", channels=("CGENERAL",), token="bad"))
    assert permissions.status == "failed"
    assert "atrium" not in await search(sessions, offline_embedder, "lunch Fridays atrium", "sl-refused", CAROL)
    status = {item.source: item for item in (await knowledge_status(sessions)).sources}["sl-refused"]
    assert status.unreadable_permissions == 3 and "SLACK_BOT_TOKEN" in (status.unreadable_reason or "")

    await sync_permissions(sessions, source(slack, "sl-refused", channels=("CGENERAL",)))
    assert "atrium" in await search(sessions, offline_embedder, "lunch Fridays atrium", "sl-refused", CAROL)


async def test_a_channel_the_bot_cannot_read_is_hidden_not_kept_on_stale_rights(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await SyncEngine(sessions, offline_embedder).sync(source(slack, "sl-kicked"))
    await sync_permissions(sessions, source(slack, "sl-kicked"))
    slack.unreadable_channels.add("CINCIDENT")

    summary = await sync_permissions(sessions, source(slack, "sl-kicked"))

    assert summary.unreadable == 1
    query = "database failover passphrase outage"
    assert "passphrase was rotated" not in await search(sessions, offline_embedder, query, "sl-kicked", ALICE)
    status = {item.source: item for item in (await knowledge_status(sessions)).sources}["sl-kicked"]
    assert status.unreadable_permissions == 1 and "not_in_channel" in (status.unreadable_reason or "")


async def test_a_crashed_first_sync_resumes_from_its_checkpoint(
    slack: FakeSlackApi, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    general = slack.channels["CGENERAL"]
    general.messages = [message(ts(day, 1), f"Fact number {day} about widget {day}") for day in range(1, 13)]
    general.replies = {}
    engine = SyncEngine(sessions, offline_embedder)
    engine.config = engine.config.model_copy(update={"batch_documents": 1})
    # Two messages (two days) a page: the fourth page fails. A day is written once the listing has passed it, so
    # days 1-5 were written; day 6 may go on below the page it was on.
    slack.fail("conversations.history", times=1, after=3)

    crashed = await engine.sync(source(slack, "sl-resume", channels=("CGENERAL",), max_retries=0))

    assert crashed.status == "failed"
    assert crashed.added == 5
    slack.calls.clear()
    resumed = await engine.sync(source(slack, "sl-resume", channels=("CGENERAL",)))

    assert resumed.status == "succeeded", resumed.error
    assert resumed.added == 7 and resumed.updated == 0
    history = slack.calls_to("conversations.history")
    assert len(history) == 4  # days 6-12, two a page, starting below the last day written
    assert float(history[0]["latest"]) == pytest.approx(float(ts(5, 1)))
    assert resumed.deleted == 0
