"""Who is asking: a Slack user's email comes from users.info once, then from the cache; with the database, the
groups synced from sources that count that email (or Slack id) in are added."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from bot.slack.identity import IdentityResolver
from knowledge.connector_state import replace_group_members
from knowledge.documents import email_principal, external_group_principal
from knowledge.index_writer import ensure_source
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi


async def test_emails_are_looked_up_once_and_bring_the_groups_synced_for_them(
    slack_api: FakeSlackApi, sessions: async_sessionmaker[AsyncSession]
) -> None:
    slack_api.user_emails["UALICE"] = "Alice@Acme.example"
    sre = external_group_principal("wiki", "sre")
    room = external_group_principal("chat", "CROOM")
    async with sessions() as session, session.begin():
        await replace_group_members(session, await ensure_source(session, "wiki"), [(sre, "email:alice@acme.example")])
        await replace_group_members(session, await ensure_source(session, "chat"), [(room, "UALICE")])
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack_api.api_url)
    resolver = IdentityResolver(Settings(), client, sessions)

    first = await resolver.readers(["UALICE", "UNOMAIL"])
    again = await resolver.readers(["UALICE"])

    alice, nobody = first
    assert alice.email == "Alice@Acme.example" and email_principal(alice.email) == "email:alice@acme.example"
    assert alice.external_groups == {sre, room}
    assert nobody.email is None and nobody.external_groups == frozenset()
    assert again == (alice,)
    looked_up = [call["user"] for call in slack_api.calls_to("users.info")]
    assert looked_up.count("UALICE") == 1  # the second question came from the cache


async def test_a_person_outside_slack_is_read_as_slack_reads_them(
    slack_api: FakeSlackApi, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """``switchboard ask --user`` and MCP tokens: the same email and synced groups, with Slack or without it."""
    slack_api.user_emails["UCAROL"] = "carol@acme.example"
    sre = external_group_principal("wiki", "sre")
    room = external_group_principal("chat", "CROOM")
    async with sessions() as session, session.begin():
        await replace_group_members(session, await ensure_source(session, "wiki"), [(sre, "email:carol@acme.example")])
        await replace_group_members(session, await ensure_source(session, "chat"), [(room, "UCAROL")])
    settings = Settings(prompt_editors=["UCAROL"], groups={"security": ["UCAROL"]})

    with_slack = IdentityResolver(settings, AsyncWebClient(token=BOT_TOKEN, base_url=slack_api.api_url), sessions)
    carol = await with_slack.person("UCAROL", "mcp")
    [reader] = carol.scope.readers
    assert carol.channel == "mcp" and carol.roles == {"editor"}
    assert reader.groups == {"security"} and reader.external_groups == {sre, room}

    [alone] = (await IdentityResolver(settings, None, sessions).person("UCAROL", "cli")).scope.readers
    assert alone.email is None and alone.external_groups == {room}  # no Slack: no email, but her Slack-id groups
