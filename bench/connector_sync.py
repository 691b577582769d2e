"""Connector sync cost: Confluence and Slack channels against their loopback test servers, through the real engine.

Confluence: a generated space of 10,000 pages (a tree: 100 sections of 99 pages; every tenth section restricted to a
group, its pages inheriting that). Slack: one private channel of 50,000 messages in 5,000 threads (a parent and nine
replies each, fifty threads a day). For each: the first sync (documents/s), a re-sync with 1% changed (requests
made, seconds) and a permission-only change applied by permission sync (seconds, and content requests made: zero
expected). Bodies are embedded by the offline embedder into a throw-away embedded PostgreSQL; the test servers run
in this process (their work counts against the same two cores).

    .venv/bin/python bench/connector_sync.py [--quick] [--only confluence|slack]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge_bench_setup import database_sessions, embedded_database_url  # noqa: E402

from knowledge import SyncEngine, sync_permissions  # noqa: E402
from knowledge.embeddings import WordLlamaEmbedder  # noqa: E402
from knowledge.sources import (  # noqa: E402
    ConfluenceSource,
    ConfluenceSourceConfig,
    SlackChannelsSource,
    SlackChannelsSourceConfig,
    SourceSecrets,
)
from tests.fakes.confluence_api import FakeConfluence, FakePage, FakeSpace  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeChannel, FakeSlackApi  # noqa: E402

WORDS = (
    "access account admin alert approval backup badge billing budget calendar change client cluster config "
    "contract cost customer dashboard data deadline deploy device disk domain email escalation expense guest "
    "hardware holiday incident invoice laptop leave license login manager meeting monitor network office "
    "onboarding outage password payroll permission phone policy printer process production project quota "
    "release request review risk rotation security server service session ticket token training travel"
).split()


def sentence(rng: random.Random, low: int = 8, high: int = 16) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high))).capitalize() + "."


def confluence_space(pages: int, rng: random.Random) -> FakeConfluence:
    fake = FakeConfluence(
        accounts={f"acc-{n}": f"user{n}@acme.example" for n in range(50)},
        groups={"staff": [f"acc-{n}" for n in range(50)], "sre": [f"acc-{n}" for n in range(10)]},
        spaces={"ENG": FakeSpace(groups=["staff"])},
        page_size=100,
    )
    section = None
    for number in range(1, pages + 1):
        key = str(number)
        modified = f"2026-{1 + number * 9 // pages:02d}-01T10:{number % 60:02d}:00.000Z"
        if (number - 1) % 100 == 0:
            section = key
            groups = ["sre"] if (number - 1) % 1000 == 0 else []
            fake.pages[key] = FakePage(f"Section {number}", "ENG", f"<p>{sentence(rng)}</p>", groups=groups)
            fake.pages[key].modified = modified
            continue
        body = "".join(
            f"<h2>{rng.choice(WORDS).capitalize()}</h2><p>{' '.join(sentence(rng) for _ in range(4))}</p>"
            for _ in range(3)
        )
        fake.pages[key] = FakePage(f"Guide {number}", "ENG", body, parent=section, modified=modified)
    return fake


async def bench_confluence(sessions: Any, embedder: WordLlamaEmbedder, pages: int) -> dict[str, Any]:
    fake = confluence_space(pages, random.Random(7)).start()
    secrets = SourceSecrets(values={"CF_TOKEN": SecretStr(fake.token), "CF_EMAIL": SecretStr(fake.email)})

    def source(**options: Any) -> ConfluenceSource:
        config = ConfluenceSourceConfig(
            name="bench-confluence",
            spaces=("ENG",),
            base_url=fake.url,
            token_env="CF_TOKEN",  # noqa: S106 - the name of a variable, not a token
            email_env="CF_EMAIL",
            **options,
        )
        return ConfluenceSource(config, secrets)

    try:
        engine = SyncEngine(sessions, embedder)
        began = time.perf_counter()
        first = await engine.sync(source())
        first_seconds = time.perf_counter() - began
        assert first.status == "succeeded", first.error
        first_requests = len(fake.requests)
        await sync_permissions(sessions, source())
        print(f"confluence first sync: {first.added} in {first_seconds:.1f} s", file=sys.stderr)

        changed = random.Random(3).sample(sorted(fake.pages), pages // 100)
        for key in changed:
            fake.edit(key, when="2030-01-01T10:00:00.000Z", body=fake.pages[key].body + "<p>Edited once.</p>")
        fake.clear_requests()
        began = time.perf_counter()
        resync = await engine.sync(source())
        resync_seconds = time.perf_counter() - began
        resync_requests = len(fake.requests)
        assert resync.status == "succeeded", resync.error

        fake.clear_requests()
        began = time.perf_counter()
        deletion_check = await engine.sync(source(deletion_check_minutes=1e-9))
        deletion_check_seconds = time.perf_counter() - began
        deletion_check_requests = len(fake.requests)

        for page in fake.pages.values():  # open the restricted sections, restrict the others
            if page.parent is None:
                page.groups = [] if page.groups else ["sre"]
        fake.clear_requests()
        began = time.perf_counter()
        permissions = await sync_permissions(sessions, source())
        permission_seconds = time.perf_counter() - began
        print(f"confluence permission change: {permissions.changed} in {permission_seconds:.1f} s", file=sys.stderr)
        return {
            "pages": pages,
            "first_sync_seconds": round(first_seconds, 2),
            "first_sync_pages_per_s": round(first.added / first_seconds, 1),
            "first_sync_requests": first_requests,
            "resync_1pct_changed": resync.updated,
            "resync_1pct_seconds": round(resync_seconds, 2),
            "resync_1pct_requests": resync_requests,
            "deletion_check_seconds": round(deletion_check_seconds, 2),
            "deletion_check_requests": deletion_check_requests,
            "deletion_check_unchanged": deletion_check.unchanged,
            "permission_change_repermissioned": permissions.changed,
            "permission_change_seconds": round(permission_seconds, 2),
            "permission_change_requests": len(fake.requests),
            "permission_change_content_requests": len(fake.content_requests()),
        }
    finally:
        fake.stop()


def slack_channel(threads: int, replies: int, rng: random.Random, now: float) -> FakeChannel:
    channel = FakeChannel(name="support", is_private=True)
    day = 86400
    for number in range(threads):
        # Fifty threads a day, going back in time; the newest are within the recheck window.
        parent_ts = now - (number // 50 + 1) * day + (number % 50) * 60
        key = f"{parent_ts:.6f}"
        channel.messages.append({"type": "message", "ts": key, "user": f"U{number % 40}", "text": sentence(rng)})
        channel.replies[key] = [
            {"type": "message", "ts": f"{parent_ts + 1 + r:.6f}", "user": f"U{r}", "text": sentence(rng, 6, 20)}
            for r in range(replies)
        ]
    return channel


async def bench_slack(sessions: Any, embedder: WordLlamaEmbedder, threads: int) -> dict[str, Any]:
    fake = FakeSlackApi().start()
    now = time.time()
    fake.channels["CSUPPORT"] = slack_channel(threads, 9, random.Random(5), now)
    fake.channel_members["CSUPPORT"] = [f"U{n}" for n in range(40)]
    secrets = SourceSecrets(values={"SLACK_BOT_TOKEN": SecretStr(BOT_TOKEN)})

    def source(**options: Any) -> SlackChannelsSource:
        config = SlackChannelsSourceConfig(name="bench-slack", channels=("CSUPPORT",), api_url=fake.api_url, **options)
        return SlackChannelsSource(config, secrets)

    def content_calls() -> int:
        return len(fake.calls_to("conversations.history", None)) + len(fake.calls_to("conversations.replies", None))

    try:
        engine = SyncEngine(sessions, embedder)
        began = time.perf_counter()
        first = await engine.sync(source())
        first_seconds = time.perf_counter() - began
        assert first.status == "succeeded", first.error
        first_requests = len(fake.calls)
        await sync_permissions(sessions, source())
        print(f"slack first sync: {first.added} threads in {first_seconds:.1f} s", file=sys.stderr)

        channel = fake.channels["CSUPPORT"]
        changed = random.Random(3).sample([m["ts"] for m in channel.messages], threads // 100)
        for key in changed:
            channel.replies[key].append({"type": "message", "ts": f"{now - 30:.6f}", "user": "U1", "text": "Fixed."})
        fake.calls.clear()
        began = time.perf_counter()
        incremental = await engine.sync(source())
        incremental_seconds = time.perf_counter() - began
        incremental_requests = len(fake.calls)
        fake.calls.clear()
        began = time.perf_counter()
        full = await engine.sync(source(deletion_check_minutes=1e-9))
        full_seconds = time.perf_counter() - began
        full_requests = len(fake.calls)

        fake.channel_members["CSUPPORT"] = fake.channel_members["CSUPPORT"][1:]  # someone leaves
        fake.channels["CSUPPORT"].is_private = False  # ... and the channel is made public
        fake.calls.clear()
        began = time.perf_counter()
        permissions = await sync_permissions(sessions, source())
        permission_seconds = time.perf_counter() - began
        return {
            "messages": threads * 10,
            "threads": threads,
            "first_sync_seconds": round(first_seconds, 2),
            "first_sync_threads_per_s": round(first.added / first_seconds, 1),
            "first_sync_messages_per_s": round(threads * 10 / first_seconds, 1),
            "first_sync_requests": first_requests,
            "changed_threads": len(changed),
            "incremental_resync_updated": incremental.updated,
            "incremental_resync_seconds": round(incremental_seconds, 2),
            "incremental_resync_requests": incremental_requests,
            "full_listing_resync_updated": full.updated,
            "full_listing_resync_seconds": round(full_seconds, 2),
            "full_listing_resync_requests": full_requests,
            "permission_change_repermissioned": permissions.changed,
            "permission_change_seconds": round(permission_seconds, 2),
            "permission_change_requests": len(fake.calls),
            "permission_change_content_requests": content_calls(),
        }
    finally:
        fake.stop()


async def run(quick: bool, only: str | None) -> dict[str, Any]:
    embedder = WordLlamaEmbedder()
    await embedder.embed(["warm up"])
    results: dict[str, Any] = {"quick": quick}
    with embedded_database_url() as database_url:
        async with database_sessions(database_url) as sessions:
            if only in (None, "confluence"):
                results["confluence"] = await bench_confluence(sessions, embedder, 1_000 if quick else 10_000)
            if only in (None, "slack"):
                results["slack"] = await bench_slack(sessions, embedder, 300 if quick else 5_000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 pages and 3,000 messages")
    parser.add_argument("--only", choices=("confluence", "slack"), default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.quick, args.only))))


if __name__ == "__main__":
    main()
