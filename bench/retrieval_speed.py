"""Hybrid retrieval latency and HNSW recall at 100,000 chunks.

Generates documents from the sentences of BEIR SciFact (real scientific vocabulary, so term frequencies are
realistic; falls back to a synthetic Zipf vocabulary if the dataset is missing), indexes them through the sync
engine (two sections per document, each one chunk), then measures hybrid queries (SciFact questions, limit 10,
default ``RetrievalConfig``) and compares each top 10 with the same query run with an exact vector scan.

    .venv/bin/python bench/retrieval_speed.py [--quick] [--chunks N] [--queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

from knowledge_bench_setup import MemorySource, database_sessions, embedded_database_url

from knowledge import HybridRetriever, ReaderScope, SourceDocument, SyncEngine, vacuum_index
from knowledge.embeddings import WordLlamaEmbedder

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "data" / "beir-scifact"
SCOPE = ReaderScope.single("benchmark")
SECTION_CHARS = 600


def vocabulary(rng: random.Random) -> tuple[list[str], list[str]]:
    """Sentences and questions: SciFact's when available, else synthetic ones."""
    corpus, queries = SCIFACT / "corpus.jsonl", SCIFACT / "queries.jsonl"
    if corpus.exists() and queries.exists():
        sentences = []
        with corpus.open() as handle:
            for line in handle:
                sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 30)
        questions = [json.loads(line)["text"] for line in queries.open()]
        return sentences, questions
    words = [f"term{index}" for index in range(20000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    sentences = [" ".join(rng.choices(words, weights, k=14)) + "." for _ in range(50000)]
    return sentences, [" ".join(rng.choices(words, weights, k=8)) for _ in range(1000)]


def generate(chunks: int, rng: random.Random) -> tuple[list[SourceDocument], list[str]]:
    sentences, questions = vocabulary(rng)

    def section() -> str:
        text = ""
        while len(text) < SECTION_CHARS:
            text += rng.choice(sentences) + " "
        return text.strip()

    documents = [
        SourceDocument(
            source="speed",
            external_id=f"doc-{index}",
            title=rng.choice(sentences)[:60],
            url=f"https://bench.invalid/doc-{index}",
            content=f"## Findings\n\n{section()}\n\n## Methods\n\n{section()}",
        )
        for index in range(chunks // 2)
    ]
    return documents, questions


async def run(chunks: int, query_count: int) -> dict[str, object]:
    rng = random.Random(7)
    documents, questions = generate(chunks, rng)
    embedder = WordLlamaEmbedder()
    with embedded_database_url() as database_url:
        async with database_sessions(database_url) as sessions:
            engine = sessions.kw["bind"]
            began = time.perf_counter()
            summary = await SyncEngine(sessions, embedder).sync(MemorySource("speed", documents))
            index_seconds = time.perf_counter() - began
            print(f"indexed {summary.added} documents in {index_seconds:.0f} s", file=sys.stderr)
            # What autovacuum would do shortly after a bulk load: statistics and the visibility map.
            await vacuum_index(engine)
            retriever = HybridRetriever(sessions, embedder)
            sample = rng.sample(questions, min(query_count, len(questions)))
            for question in sample[:20]:  # warm caches and the embedder
                await retriever.rank(question, SCOPE, limit=10)
            latencies, overlaps, found = [], [], []
            for question in sample:
                started = time.perf_counter()
                approximate = await retriever.rank(question, SCOPE, limit=10)
                latencies.append((time.perf_counter() - started) * 1000)
                found.append({passage.chunk_id for passage in approximate})
            # Exact scans read every vector and evict the cache; run them after the timed queries.
            for question, approximate_ids in zip(sample, found, strict=True):
                exact = await retriever.rank(question, SCOPE, limit=10, exact=True)
                expected = {passage.chunk_id for passage in exact}
                overlaps.append(len(expected & approximate_ids) / len(expected) if expected else 1.0)
    latencies.sort()
    return {
        "chunks": summary.added * 2,
        "queries": len(sample),
        "index_seconds": round(index_seconds, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "recall@10": round(statistics.mean(overlaps), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 chunks and 100 queries")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    chunks, queries = (10_000, 100) if args.quick else (args.chunks, args.queries)
    print(json.dumps(asyncio.run(run(chunks, queries))))


if __name__ == "__main__":
    main()
