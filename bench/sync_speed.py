"""Sync throughput: a first sync of 10,000 generated documents (embedding time shown apart) and a no-change re-sync.

Documents are handbook-like Markdown pages (a title, two or three sections, a list), about 1.5 KB each, built from
a fixed vocabulary with a seeded generator; they go through the real sync engine (hashing, chunking, offline
embedding, chunk/posting/statistics writes) into a throw-away embedded PostgreSQL.

    .venv/bin/python bench/sync_speed.py [--quick] [--documents N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

from knowledge_bench_setup import MemorySource, database_sessions, embedded_database_url

from knowledge import SourceDocument, SyncEngine
from knowledge.embeddings import WordLlamaEmbedder

WORDS = (
    "access account admin alert approval backup badge billing budget calendar change client cluster config "
    "contract cost customer dashboard data deadline deploy device disk domain email escalation expense guest "
    "hardware holiday incident invoice laptop leave license login manager meeting monitor network office "
    "onboarding outage password payroll permission phone policy printer process production project quota "
    "release request review risk rotation security server service session ticket token training travel "
    "update upgrade vacation vendor vpn wiki workflow"
).split()


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 16))
    return " ".join(words).capitalize() + "."


def page(index: int, rng: random.Random) -> SourceDocument:
    sections = []
    for number in range(rng.randint(2, 3)):
        paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 5)))
        items = "\n".join(f"- {sentence(rng)}" for _ in range(3))
        sections.append(f"## Section {number + 1}: {rng.choice(WORDS)}\n\n{paragraph}\n\n{items}")
    return SourceDocument(
        source="generated",
        external_id=f"page-{index}",
        title=f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} guide {index}",
        url=f"https://handbook.invalid/page-{index}",
        content="\n\n".join(sections),
    )


async def run(count: int) -> dict[str, object]:
    rng = random.Random(11)
    documents = [page(index, rng) for index in range(count)]
    embedder = WordLlamaEmbedder()
    await embedder.embed(["warm up"])  # model loading is not sync work
    with embedded_database_url() as database_url:
        async with database_sessions(database_url) as sessions:
            engine = SyncEngine(sessions, embedder)
            source = MemorySource("generated", documents)
            began = time.perf_counter()
            first = await engine.sync(source)
            first_seconds = time.perf_counter() - began
            print(f"first sync: {first.added} added in {first_seconds:.1f} s", file=sys.stderr)
            began = time.perf_counter()
            again = await engine.sync(source)
            resync_seconds = time.perf_counter() - began
            print(f"no-change re-sync: {again.unchanged} unchanged in {resync_seconds:.2f} s", file=sys.stderr)
    return {
        "documents": count,
        "chunks": first.embedded_chunks,
        "first_sync_seconds": round(first_seconds, 2),
        "first_sync_docs_per_s": round(count / first_seconds, 1),
        "embedding_seconds": round(first.embedding_seconds, 2),
        "first_sync_docs_per_s_without_embedding": round(count / (first_seconds - first.embedding_seconds), 1),
        "resync_seconds": round(resync_seconds, 2),
        "resync_unchanged": again.unchanged,
        "resync_embedded_chunks": again.embedded_chunks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 documents")
    parser.add_argument("--documents", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(1_000 if args.quick else args.documents))))


if __name__ == "__main__":
    main()
