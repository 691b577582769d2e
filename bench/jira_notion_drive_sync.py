"""Sync cost of the Jira, Notion and Google Drive connectors against their loopback test servers, through the engine.

For each: a generated corpus (Jira: issues of one project, every tenth behind a security level; Notion: pages under
ten top-level pages mapped to two groups; Drive: Docs in one folder, shared with the domain or, every tenth, a
group). Measured: the first sync (documents/s, requests), a re-sync with 1% edited (requests, content requests:
the incremental path should fetch the edited items only), and a permission-only change applied by permission sync
(seconds, requests, content requests: zero expected). Offline embedder, throw-away embedded PostgreSQL; the test
servers run in this process (their work counts against the same cores).

    .venv/bin/python bench/jira_notion_drive_sync.py [--quick] [--only jira|notion|gdrive]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector_sync import sentence  # noqa: E402
from knowledge_bench_setup import database_sessions, embedded_database_url  # noqa: E402

from knowledge import SyncEngine, sync_permissions  # noqa: E402
from knowledge.embeddings import WordLlamaEmbedder  # noqa: E402
from knowledge.sources import (  # noqa: E402
    GoogleDriveSource,
    GoogleDriveSourceConfig,
    JiraSource,
    JiraSourceConfig,
    NotionSource,
    NotionSourceConfig,
    Source,
    SourceSecrets,
)
from tests.fakes.google_drive_api import DOC, FakeDriveFile, FakeGoogleDrive  # noqa: E402
from tests.fakes.jira_api import FakeIssue, FakeJira, adf  # noqa: E402
from tests.fakes.notion_api import FakeNotion, FakeNotionPage, block  # noqa: E402


def _now() -> datetime:
    return datetime.now(UTC)


async def measure(
    sessions: Any,
    embedder: WordLlamaEmbedder,
    *,
    items: int,
    source: Callable[..., Source],
    requests: Callable[[], list[str]],
    content_requests: Callable[[], list[str]],
    clear: Callable[[], None],
    edit: Callable[[list[int]], None],
    change_permissions: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    engine = SyncEngine(sessions, embedder)
    began = time.perf_counter()
    first = await engine.sync(source())
    first_seconds = time.perf_counter() - began
    assert first.status == "succeeded", first.error
    first_requests = len(requests())
    await sync_permissions(sessions, source())

    edit(random.Random(3).sample(range(items), items // 100))
    clear()
    began = time.perf_counter()
    resync = await engine.sync(source())
    resync_seconds = time.perf_counter() - began
    assert resync.status == "succeeded", resync.error
    resync_requests, resync_content = len(requests()), len(content_requests())

    options = change_permissions()
    clear()
    began = time.perf_counter()
    permissions = await sync_permissions(sessions, source(**options))
    permission_seconds = time.perf_counter() - began
    assert permissions.status == "succeeded", permissions.error
    return {
        "documents": first.added,
        "first_sync_seconds": round(first_seconds, 2),
        "first_sync_documents_per_s": round(first.added / first_seconds, 1),
        "first_sync_requests": first_requests,
        "resync_1pct_updated": resync.updated,
        "resync_1pct_seconds": round(resync_seconds, 2),
        "resync_1pct_requests": resync_requests,
        "resync_1pct_content_requests": resync_content,
        "permission_change_repermissioned": permissions.changed,
        "permission_change_seconds": round(permission_seconds, 2),
        "permission_change_requests": len(requests()),
        "permission_change_content_requests": len(content_requests()),
    }


async def bench_jira(sessions: Any, embedder: WordLlamaEmbedder, items: int) -> dict[str, Any]:
    rng = random.Random(7)
    fake = FakeJira(
        accounts={f"acc-{n}": f"user{n}@acme.example" for n in range(50)},
        groups={"staff": [f"acc-{n}" for n in range(50)], "sre": [f"acc-{n}" for n in range(10)]},
        browse={"OPS": [("group", "staff")]},
        levels={"20001": [("group", "sre")]},
        page_size=100,
    )
    for number in range(items):
        fake.issues[str(1000 + number)] = FakeIssue(
            f"OPS-{number + 1}",
            sentence(rng, 4, 8),
            adf(*(sentence(rng) for _ in range(4))),
            comments=[("acc-1", sentence(rng))],
            security_level="20001" if number % 10 == 0 else None,
            updated=f"2026-{1 + number * 9 // items:02d}-01T10:{number % 60:02d}:00.000+0000",
        )
    fake.start()
    secrets = SourceSecrets(values={"J_TOKEN": SecretStr(fake.token), "J_EMAIL": SecretStr(fake.email)})

    def source(**options: Any) -> Source:
        config = JiraSourceConfig(
            name="bench-jira",
            base_url=fake.url,
            projects=("OPS",),
            token_env="J_TOKEN",  # noqa: S106 - the name of a variable, not a token
            email_env="J_EMAIL",
        )
        return JiraSource(config, secrets)

    def edit(indexes: list[int]) -> None:
        when = _now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for index in indexes:
            fake.edit(str(1000 + index), when=when, description=adf("Edited once."))

    def change_permissions() -> dict[str, Any]:
        fake.levels["20001"] = [("group", "staff")]
        return {}

    try:
        return await measure(
            sessions,
            embedder,
            items=items,
            source=source,
            requests=lambda: fake.requested(""),
            content_requests=fake.content_requests,
            clear=fake.clear_requests,
            edit=edit,
            change_permissions=change_permissions,
        )
    finally:
        fake.stop()


async def bench_notion(sessions: Any, embedder: WordLlamaEmbedder, items: int) -> dict[str, Any]:
    rng = random.Random(7)
    fake = FakeNotion(page_size=100)
    tops = [f"a0000000-0000-4000-8000-{n:012d}" for n in range(10)]
    for number in range(items):
        page_id = tops[number] if number < 10 else f"b0000000-0000-4000-8000-{number:012d}"
        fake.pages[page_id] = FakeNotionPage(
            sentence(rng, 3, 6),
            [block("heading_2", sentence(rng, 2, 4)), *(block("paragraph", sentence(rng)) for _ in range(4))],
            parent="workspace" if number < 10 else tops[number % 10],
            last_edited=f"2026-{1 + number * 9 // items:02d}-01T10:{number % 60:02d}:00.000Z",
        )
    fake.start()
    secrets = SourceSecrets(values={"N_TOKEN": SecretStr(fake.token)})
    access = {top: {"groups": ["engineering" if n % 2 else "support"]} for n, top in enumerate(tops)}

    def source(**options: Any) -> Source:
        config = NotionSourceConfig(
            name="bench-notion",
            api_url=fake.url,
            token_env="N_TOKEN",  # noqa: S106 - the name of a variable, not a token
            access_map=options.get("access_map", access),
        )
        return NotionSource(config, secrets)

    def edit(indexes: list[int]) -> None:
        when = _now().strftime("%Y-%m-%dT%H:%M:00.000Z")
        pages = sorted(fake.pages)
        for index in indexes:
            fake.pages[pages[index]].last_edited = when
            fake.pages[pages[index]].blocks = [block("paragraph", "Edited once.")]

    def change_permissions() -> dict[str, Any]:
        return {"access_map": {top: {"groups": ["support"]} for top in tops}}

    try:
        return await measure(
            sessions,
            embedder,
            items=items,
            source=source,
            requests=lambda: fake.requested(""),
            content_requests=fake.content_requests,
            clear=fake.clear_requests,
            edit=edit,
            change_permissions=change_permissions,
        )
    finally:
        fake.stop()


async def bench_gdrive(sessions: Any, embedder: WordLlamaEmbedder, items: int) -> dict[str, Any]:
    rng = random.Random(7)
    fake = FakeGoogleDrive(groups={"sre@acme.example": [f"user{n}@acme.example" for n in range(10)]}, page_size=100)
    for number in range(items):
        grant = ("group", "sre@acme.example", "reader") if number % 10 == 0 else ("domain", "acme.example", "reader")
        body = "\n\n".join(f"## {sentence(rng, 2, 4)}\n\n{sentence(rng)} {sentence(rng)}" for _ in range(3))
        fake.files[f"doc{number:06d}"] = FakeDriveFile(sentence(rng, 3, 6), DOC, "root", body.encode(), [grant])
    fake.start()
    secrets = SourceSecrets(values={"G_KEY": SecretStr(fake.key_json())})

    def source(**options: Any) -> Source:
        config = GoogleDriveSourceConfig(
            name="bench-gdrive", api_url=fake.url, folders=("root",), credentials_env="G_KEY", domain="acme.example"
        )
        return GoogleDriveSource(config, secrets)

    def edit(indexes: list[int]) -> None:
        for index in indexes:
            fake.change(f"doc{index:06d}", when=_now().isoformat(), content=b"# Edited\n\nEdited once.\n")

    def change_permissions() -> dict[str, Any]:
        for key in sorted(fake.files)[::10]:
            fake.files[key].permissions = [("domain", "acme.example", "reader")]
        return {}

    try:
        return await measure(
            sessions,
            embedder,
            items=items,
            source=source,
            requests=lambda: fake.requested(""),
            content_requests=fake.content_requests,
            clear=fake.clear_requests,
            edit=edit,
            change_permissions=change_permissions,
        )
    finally:
        fake.stop()


async def run(quick: bool, only: str | None) -> dict[str, Any]:
    embedder = WordLlamaEmbedder()
    await embedder.embed(["warm up"])
    items = 300 if quick else 3_000
    results: dict[str, Any] = {"quick": quick, "items": items}
    benches = {"jira": bench_jira, "notion": bench_notion, "gdrive": bench_gdrive}
    with embedded_database_url() as database_url:
        async with database_sessions(database_url) as sessions:
            for name, bench in benches.items():
                if only in (None, name):
                    results[name] = await bench(sessions, embedder, items)
                    print(f"{name}: {results[name]}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 items per connector instead of 3,000")
    parser.add_argument("--only", choices=("jira", "notion", "gdrive"), default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.quick, args.only))))


if __name__ == "__main__":
    main()
