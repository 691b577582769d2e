"""Near-duplicate collapse on a real handbook: passages before/after, distinct documents in the top 10, latency.

Syncs a folder of Markdown (the shared Sourcegraph handbook by default) through the real folder source and sync
engine into a throw-away embedded PostgreSQL, then:

* clusters every stored passage by its MinHash signature (LSH bands to find candidate pairs, then the same
  similarity test as query time) and counts passages before and after collapse, and pairs of passages from
  different documents by estimated similarity (how near "near" is);
* answers each question of a question file with hybrid search, limit 10, with collapse off and on: distinct
  documents in the top 10, passages folded, and latency (interleaved, after a warm-up), at several thresholds.

    .venv/bin/python bench/near_duplicates.py [--quick] [--handbook DIR] [--questions FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
from knowledge_bench_setup import database_sessions, embedded_database_url
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import HybridRetriever, ReaderScope, RetrievalConfig, SearchQuery, SyncEngine
from knowledge.embeddings import WordLlamaEmbedder
from knowledge.sources import FolderSource, FolderSourceConfig

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HANDBOOK = REPO.parent / "shared" / "data" / "sourcegraph-handbook"
DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "handbook_questions.txt"
SCOPE = ReaderScope.single("benchmark")
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
BUCKET_PAIRS_UP_TO = 50
BANDS, ROWS = 16, 4  # 16 bands of 4 positions: pairs at similarity 0.5 are found with probability 0.65, 0.7: 0.98


class _DisjointSets:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        self.parent[self.find(first)] = self.find(second)


async def passage_clusters(sessions: async_sessionmaker[AsyncSession], threshold: float) -> dict[str, object]:
    """Passages before and after folding every near-duplicate pair, and cross-document pairs by similarity."""
    async with sessions() as session:
        rows = (await session.execute(text("SELECT document_id, minhash FROM kb_chunks ORDER BY id"))).all()
    signed = [(row.document_id, row.minhash) for row in rows if row.minhash is not None]
    signatures = np.array([signature for _, signature in signed], dtype=np.int64)
    documents = [document for document, _ in signed]
    candidates: set[tuple[int, int]] = set()
    for band in range(BANDS):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for index, row in enumerate(signatures[:, band * ROWS : (band + 1) * ROWS]):
            buckets[row.tobytes()].append(index)
        for members in buckets.values():
            if len(members) <= BUCKET_PAIRS_UP_TO:
                candidates.update(combinations(members, 2))
            else:  # thousands of identical table rows: compare each with the first, not every pair
                candidates.update((members[0], member) for member in members[1:])
    sets = _DisjointSets(len(signed))
    histogram = dict.fromkeys(THRESHOLDS, 0)
    for first, second in candidates:
        similarity = float(np.mean(signatures[first] == signatures[second]))
        if similarity >= threshold:
            sets.union(first, second)
        if documents[first] != documents[second]:
            for level in THRESHOLDS:
                histogram[level] += similarity >= level
    clusters = {sets.find(index) for index in range(len(signed))}
    return {
        "passages": len(rows),
        "passages_with_signature": len(signed),
        "passages_after_collapse": len(clusters) + len(rows) - len(signed),
        "cross_document_pairs_at_least": {str(level): count for level, count in histogram.items()},
    }


async def top_ten(retriever: HybridRetriever, question: str) -> tuple[float, int, int]:
    """Latency in ms, distinct documents and passages folded into others, for one limit-10 search."""
    began = time.perf_counter()
    passages = await retriever.search(SearchQuery(text=question, scope=SCOPE, limit=10))
    elapsed = (time.perf_counter() - began) * 1000
    return elapsed, len({passage.document_id for passage in passages}), sum(len(p.also_in) for p in passages)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


async def run(handbook: Path, questions: list[str], quick: bool) -> dict[str, object]:
    embedder = WordLlamaEmbedder()
    config = FolderSourceConfig(
        name="handbook",
        path=handbook,
        include=("*.md",),
        ignore=("departments/[m-z]*/**", "strategy-goals/**", "team/**") if quick else (),
        base_url="https://handbook.sourcegraph.com/",
    )
    with embedded_database_url() as database_url:
        async with database_sessions(database_url) as sessions:
            began = time.perf_counter()
            summary = await SyncEngine(sessions, embedder).sync(FolderSource(config))
            sync_seconds = time.perf_counter() - began
            print(f"synced {summary.added} pages in {sync_seconds:.1f} s, {summary.failed} failed", file=sys.stderr)
            async with sessions() as session:
                await session.execute(text("ANALYZE"))
                await session.commit()
            default = RetrievalConfig()
            results: dict[str, object] = {
                "pages": summary.added,
                "failed": summary.failed,
                "sync_seconds": round(sync_seconds, 1),
                "questions": len(questions),
                "threshold": default.near_duplicate_similarity,
                **await passage_clusters(sessions, default.near_duplicate_similarity),
            }
            retrievers = {"off": HybridRetriever(sessions, embedder, RetrievalConfig(collapse_near_duplicates=False))}
            for threshold in THRESHOLDS:
                retrievers[str(threshold)] = HybridRetriever(
                    sessions, embedder, RetrievalConfig(near_duplicate_similarity=threshold)
                )
            for question in questions[:5]:  # warm-up: caches, plans, the embedder
                for retriever in retrievers.values():
                    await top_ten(retriever, question)
            measured: dict[str, dict[str, list[float]]] = {
                name: {"ms": [], "documents": [], "folded": []} for name in retrievers
            }
            rounds = 1 if quick else 3
            for _ in range(rounds):
                for question in questions:
                    for name, retriever in retrievers.items():  # interleaved, so load swings hit every setting
                        elapsed, documents, folded = await top_ten(retriever, question)
                        measured[name]["ms"].append(elapsed)
                        measured[name]["documents"].append(documents)
                        measured[name]["folded"].append(folded)
            for name, values in measured.items():
                results[f"collapse_{name}"] = {
                    "distinct_documents@10": round(statistics.mean(values["documents"]), 2),
                    "folded_per_query": round(statistics.mean(values["folded"]), 2),
                    "p50_ms": percentile(values["ms"], 0.5),
                    "p95_ms": percentile(values["ms"], 0.95),
                }
                print(f"collapse {name}: {results[f'collapse_{name}']}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handbook", type=Path, default=DEFAULT_HANDBOOK, help="a folder of Markdown pages")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="one question per line")
    parser.add_argument("--quick", action="store_true", help="about a third of the pages, one round of questions")
    args = parser.parse_args()
    if not args.handbook.is_dir():
        parser.error(f"{args.handbook} is not a folder")
    questions = [line.strip() for line in args.questions.read_text().splitlines() if line.strip()]
    print(json.dumps(asyncio.run(run(args.handbook, questions, args.quick))))


if __name__ == "__main__":
    main()
