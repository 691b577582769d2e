"""First-sync throughput, then hybrid retrieval latency and recall with access filters, at 100,000 passages or any size.

Generates documents from the sentences of BEIR SciFact (real scientific vocabulary, so term frequencies are
realistic; falls back to a synthetic Zipf vocabulary if the dataset is missing), indexes them through the sync
engine (two sections per document, each one chunk), then measures hybrid queries (SciFact questions, limit 10,
default ``RetrievalConfig``). Recall@10 compares each top 10 with the same query answered by an exact vector scan
over a deeper candidate list (``--reference-depth``), so it counts both what the HNSW index misses and what the
short default vector list leaves out. The HNSW index alone is reported too: ``vector_recall@10`` is vector-only
search against the exact 10 nearest passages.

Access is a realistic mix: 85% of documents public, the rest restricted to one of 40 team groups. The timed reader is
a channel of 50 members who all belong to ``team-0`` (plus a personal group each). Latency is also reported for one
user without groups, a channel of 2,000 members and a user in 200 groups (``principal_readers``): the access filter
must not cost more per member. Memory beside the latencies: PostgreSQL's ``shared_buffers`` and the index sizes.
On a shared machine the first sync's wall time depends on what else runs, so the CPU time of this process and of
the server's processes are reported too, with the rate they would allow on two idle cores.

    .venv/bin/python bench/retrieval_speed.py [--quick] [--passages N] [--queries N] [--reference-depth N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

from knowledge_bench_setup import MemorySource, database_sessions, embedded_database, server_cpu_seconds, shared_dataset
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from knowledge import (
    AccessList,
    HybridRetriever,
    Passage,
    Reader,
    ReaderScope,
    RetrievalConfig,
    SourceDocument,
    SyncEngine,
    vacuum_index,
)
from knowledge.embeddings import WordLlamaEmbedder

SCIFACT = shared_dataset("beir-scifact")
SECTION_CHARS = 600
TEAMS = 40
RESTRICTED_SHARE = 0.15


def channel(members: int) -> ReaderScope:
    """A channel whose members all belong to team-0, each with a personal group too."""
    return ReaderScope(
        readers=tuple(
            Reader(user_id=f"U{index}", groups=frozenset({"team-0", f"personal-{index}"})) for index in range(members)
        )
    )


SCOPE = channel(50)
READERS = {
    "single_user": ReaderScope.single("benchmark"),
    "channel_50": SCOPE,
    "channel_2000": channel(2000),
    "user_in_200_groups": ReaderScope.single("U_MANY", groups=[f"team-{index}" for index in range(200)]),
}


def vocabulary(rng: random.Random, dataset: Path) -> tuple[str, list[str], list[str]]:
    """Which vocabulary, its sentences and questions: SciFact's when available, else synthetic ones.

    The synthetic Zipf vocabulary has far longer postings per query term than SciFact's, so its latencies are not
    comparable: the output names the vocabulary used.
    """
    corpus, queries = dataset / "corpus.jsonl", dataset / "queries.jsonl"
    if corpus.exists() and queries.exists():
        sentences = []
        with corpus.open() as handle:
            for line in handle:
                sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 30)
        questions = [json.loads(line)["text"] for line in queries.open()]
        return "scifact", sentences, questions
    print(f"{dataset} not found: generating a synthetic Zipf vocabulary instead", file=sys.stderr)
    words = [f"term{index}" for index in range(20000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    sentences = [" ".join(rng.choices(words, weights, k=14)) + "." for _ in range(50000)]
    return "synthetic", sentences, [" ".join(rng.choices(words, weights, k=8)) for _ in range(1000)]


def generate(chunks: int, rng: random.Random, dataset: Path = SCIFACT) -> tuple[str, list[SourceDocument], list[str]]:
    kind, sentences, questions = vocabulary(rng, dataset)

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
            access=AccessList.restricted(groups=[f"team-{rng.randrange(TEAMS)}"])
            if rng.random() < RESTRICTED_SHARE
            else AccessList(),
        )
        for index in range(chunks // 2)
    ]
    return kind, documents, questions


async def run(chunks: int, query_count: int, reference_depth: int, dataset: Path) -> dict[str, object]:
    rng = random.Random(7)
    kind, documents, questions = generate(chunks, rng, dataset)
    embedder = WordLlamaEmbedder()
    with embedded_database() as server:
        async with database_sessions(server.url) as sessions:
            engine = sessions.kw["bind"]
            began, python_cpu, postgres_cpu = time.perf_counter(), time.process_time(), server_cpu_seconds(server)
            summary = await SyncEngine(sessions, embedder).sync(MemorySource("speed", documents))
            index_seconds = time.perf_counter() - began
            python_cpu = time.process_time() - python_cpu
            postgres_cpu = server_cpu_seconds(server) - postgres_cpu
            print(f"indexed {summary.added} documents in {index_seconds:.0f} s ({summary.status})", file=sys.stderr)
            began = time.perf_counter()
            resync = await SyncEngine(sessions, embedder).sync(MemorySource("speed", documents))
            resync_seconds = time.perf_counter() - began
            del documents
            gc.collect()  # the generated corpus is garbage now; do not let its collection land in a timed query
            # What autovacuum and the checkpointer would have done a few minutes after a bulk load; without the
            # checkpoint, writing out the load's dirty pages competes with the timed queries for the two cores.
            await vacuum_index(engine)
            async with engine.connect() as connection:
                await connection.execute(text("CHECKPOINT"))
            retriever = HybridRetriever(sessions, embedder)
            reference = HybridRetriever(sessions, embedder, RetrievalConfig(vector_depth=reference_depth))
            sample = rng.sample(questions, min(query_count, len(questions)))
            for question in sample[:20]:  # warm caches and the embedder
                await retriever.rank(question, SCOPE, limit=10)
            memory = await memory_report(engine)
            principal_readers = {}
            for name, scope in READERS.items():
                timings = []
                for question in sample[:100]:
                    # Equal readers, not the same objects: each message builds its own scope, so the filter's cache
                    # is reached through a full comparison, as in the service.
                    fresh = ReaderScope(readers=tuple(reader.model_copy() for reader in scope.readers))
                    started = time.perf_counter()
                    await retriever.rank(question, fresh, limit=10)
                    timings.append((time.perf_counter() - started) * 1000)
                timings.sort()
                principal_readers[name] = {
                    "p50_ms": round(statistics.median(timings), 2),
                    "p95_ms": percentile(timings),
                }
            latencies, overlaps, found = [], [], []
            query_python_cpu, query_server_cpu = time.process_time(), server_cpu_seconds(server)
            for question in sample:
                started = time.perf_counter()
                approximate = await retriever.rank(question, SCOPE, limit=10)
                latencies.append((time.perf_counter() - started) * 1000)
                found.append({passage.chunk_id for passage in approximate})
            query_python_cpu = time.process_time() - query_python_cpu
            query_server_cpu = server_cpu_seconds(server) - query_server_cpu
            # Exact scans read every vector and evict the cache; run them after the timed queries.
            vector_overlaps = []
            for question, approximate_ids in zip(sample, found, strict=True):
                exact = await reference.rank(question, SCOPE, limit=10, exact=True)
                overlaps.append(overlap(approximate_ids, exact))
                nearest = await retriever.rank(question, SCOPE, method="vector", limit=10, exact=True)
                indexed = await retriever.rank(question, SCOPE, method="vector", limit=10)
                vector_overlaps.append(overlap({passage.chunk_id for passage in indexed}, nearest))
    latencies.sort()
    single = principal_readers["single_user"]["p50_ms"]
    return {
        "vocabulary": kind,
        "passages": summary.added * 2,
        "documents": summary.added,
        "queries": len(sample),
        "first_sync_seconds": round(index_seconds, 1),
        "first_sync_docs_per_s": round(summary.added / index_seconds, 1),
        "embedding_seconds": round(summary.embedding_seconds, 1),
        "first_sync_docs_per_s_without_embedding": round(
            summary.added / max(index_seconds - summary.embedding_seconds, 1e-9), 1
        ),
        "index_build_seconds": round(summary.index_build_seconds, 1),
        "first_sync_python_cpu_seconds": round(python_cpu, 1),
        "first_sync_postgres_cpu_seconds": round(postgres_cpu, 1),
        # What two otherwise idle cores could reach if this process and the server overlapped perfectly: neither
        # can finish before its own CPU time, nor both before half their sum. An estimate, not a measurement.
        "first_sync_cpu_bound_docs_per_s": round(summary.added / max(python_cpu, (python_cpu + postgres_cpu) / 2), 1),
        "resync_seconds": round(resync_seconds, 2),
        "resync_unchanged": resync.unchanged,
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": percentile(latencies),
        # CPU time per timed query, this process and the server's: what a query costs whatever else the machine runs.
        "query_python_cpu_ms": round(query_python_cpu * 1000 / len(sample), 2),
        "query_server_cpu_ms": round(query_server_cpu * 1000 / len(sample), 2),
        "recall@10": round(statistics.mean(overlaps), 4),
        "vector_recall@10": round(statistics.mean(vector_overlaps), 4),
        "principal_readers": principal_readers,
        "channel_2000_over_single_p50": round(principal_readers["channel_2000"]["p50_ms"] / single, 2),
        "groups_200_over_single_p50": round(principal_readers["user_in_200_groups"]["p50_ms"] / single, 2),
        "memory": memory,
    }


def percentile(sorted_ms: list[float], share: float = 0.95) -> float:
    return round(sorted_ms[int(share * (len(sorted_ms) - 1))], 2)


async def memory_report(engine: AsyncEngine) -> dict[str, str]:
    """PostgreSQL's shared buffers and the sizes of the tables and indexes a search reads."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT 'shared_buffers', current_setting('shared_buffers') UNION ALL "
                "SELECT relname, pg_size_pretty(pg_relation_size(oid)) FROM pg_class "
                "WHERE relname IN ('kb_chunks', 'kb_postings', 'kb_postings_pkey', 'kb_postings_lexeme_impact_idx', "
                "'kb_chunks_principals_idx', 'kb_lexeme_stats') OR relname LIKE 'kb_chunks_embedding_model_%'"
            )
        )
        return {row[0]: row[1] for row in rows}


def overlap(found: set[int], expected: list[Passage]) -> float:
    """Share of the expected passages that were found."""
    wanted = {passage.chunk_id for passage in expected}
    return len(wanted & found) / len(wanted) if wanted else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 passages and 100 queries")
    parser.add_argument("--passages", "--chunks", type=int, default=100_000, help="passages (two per document)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--reference-depth", type=int, default=100, help="vector candidates of the exact reference (default 100)"
    )
    parser.add_argument(
        "--dataset", type=Path, default=SCIFACT, help="BEIR SciFact folder whose sentences and questions are used"
    )
    args = parser.parse_args()
    chunks, queries = (10_000, 100) if args.quick else (args.passages, args.queries)
    print(json.dumps(asyncio.run(run(chunks, queries, args.reference_depth, args.dataset))))


if __name__ == "__main__":
    main()
