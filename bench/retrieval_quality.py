"""Retrieval quality on a BEIR dataset (BEIR SciFact by default): nDCG@10 and recall@100 per retrieval method.

Indexes the corpus through the real sync engine (chunking, BM25 statistics, offline embedder) into a throw-away
embedded PostgreSQL, then ranks documents for every test query with ``fulltext``, ``vector`` and ``hybrid``.
A document's rank is the rank of its best passage. ``--sweep`` also scores a grid of fusion settings, which is how
the defaults of ``RetrievalConfig`` were chosen.

    .venv/bin/python bench/retrieval_quality.py [--quick] [--dataset DIR] [--sweep]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
import time
from pathlib import Path

from knowledge_bench_setup import MemorySource, database_sessions, embedded_database_url, shared_dataset

from knowledge import HybridRetriever, ReaderScope, RetrievalConfig, SourceDocument, SyncEngine
from knowledge.embeddings import WordLlamaEmbedder

DEFAULT_DATASET = shared_dataset("beir-scifact")
SCOPE = ReaderScope.single("benchmark")
# Passages fetched per query: enough distinct documents for recall@100 even when documents have several chunks.
PASSAGES_PER_QUERY = 300


def load_dataset(folder: Path, quick: bool) -> tuple[list[SourceDocument], dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / "test.tsv").open(newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    queries = {}
    with (folder / "queries.jsonl").open() as handle:
        for line in handle:
            item = json.loads(line)
            if item["_id"] in qrels:
                queries[item["_id"]] = item["text"]
    if quick:
        queries = dict(list(queries.items())[:100])
    documents = []
    with (folder / "corpus.jsonl").open() as handle:
        for line in handle:
            item = json.loads(line)
            documents.append(
                SourceDocument(
                    source="beir",
                    external_id=item["_id"],
                    title=item.get("title") or "",
                    url=f"https://beir.invalid/doc/{item['_id']}",
                    content=item.get("text") or "",
                )
            )
    return documents, queries, qrels


def ndcg_at_10(ranking: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(index + 2) for index, doc in enumerate(ranking[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(index + 2) for index, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_100(ranking: list[str], relevant: dict[str, int]) -> float:
    positives = {doc for doc, gain in relevant.items() if gain > 0}
    return len(positives & set(ranking[:100])) / len(positives) if positives else 0.0


async def evaluate(
    retriever: HybridRetriever, method: str, queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    ndcg = recall = 0.0
    latencies = []
    for query_id, query_text in queries.items():
        began = time.perf_counter()
        passages = await retriever.rank(query_text, SCOPE, method=method, limit=PASSAGES_PER_QUERY)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - began) * 1000)
        ranking: list[str] = []
        for passage in passages:
            doc = passage.url.rsplit("/", 1)[-1].split("#", 1)[0]
            if doc not in ranking:
                ranking.append(doc)
        ndcg += ndcg_at_10(ranking, qrels[query_id])
        recall += recall_at_100(ranking, qrels[query_id])
    latencies.sort()
    return {
        "ndcg@10": round(ndcg / len(queries), 4),
        "recall@100": round(recall / len(queries), 4),
        "p50_ms": round(latencies[len(latencies) // 2], 1),
    }


SWEEP = [
    RetrievalConfig(fusion="rrf", fulltext_weight=1.0, vector_weight=1.0),
    RetrievalConfig(fusion="rrf", fulltext_weight=1.0, vector_weight=0.5),
    RetrievalConfig(fusion="rrf", fulltext_weight=1.0, vector_weight=0.3),
    RetrievalConfig(fusion="minmax", fulltext_weight=1.0, vector_weight=1.0),
    RetrievalConfig(fusion="minmax", fulltext_weight=1.0, vector_weight=0.5),
    RetrievalConfig(fusion="bounded", fulltext_weight=1.0, vector_weight=2.0),
    RetrievalConfig(fusion="bounded", fulltext_weight=1.0, vector_weight=1.0),
    RetrievalConfig(fusion="bounded", fulltext_weight=1.0, vector_weight=0.7),
    RetrievalConfig(fusion="bounded", fulltext_weight=1.0, vector_weight=0.5),
    RetrievalConfig(fusion="bounded", fulltext_weight=1.0, vector_weight=0.3),
]


async def run(dataset: Path, quick: bool, sweep: bool) -> dict[str, object]:
    documents, queries, qrels = load_dataset(dataset, quick)
    embedder = WordLlamaEmbedder()
    with embedded_database_url() as database_url:
        async with database_sessions(database_url) as sessions:
            began = time.perf_counter()
            summary = await SyncEngine(sessions, embedder).sync(MemorySource("beir", documents))
            index_seconds = time.perf_counter() - began
            print(f"indexed {summary.added} documents in {index_seconds:.1f} s", file=sys.stderr)
            retriever = HybridRetriever(sessions, embedder)
            results: dict[str, object] = {
                "dataset": dataset.name,
                "documents": len(documents),
                "queries": len(queries),
                "index_seconds": round(index_seconds, 1),
            }
            for method in ("fulltext", "vector", "hybrid"):
                results[method] = await evaluate(retriever, method, queries, qrels)
                print(f"{method}: {results[method]}", file=sys.stderr)
            if sweep:
                grid = []
                for config in SWEEP:
                    scores = await evaluate(HybridRetriever(sessions, embedder, config), "hybrid", queries, qrels)
                    label = f"{config.fusion} ft={config.fulltext_weight} vec={config.vector_weight} k={config.rrf_k}"
                    print(f"sweep {label}: {scores}", file=sys.stderr)
                    grid.append({"config": label, **scores})
                results["sweep"] = grid
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="a folder in the BEIR layout")
    parser.add_argument("--quick", action="store_true", help="first 100 test queries only")
    parser.add_argument("--sweep", action="store_true", help="also score a grid of fusion settings")
    args = parser.parse_args()
    if not (args.dataset / "corpus.jsonl").exists():
        parser.error(f"{args.dataset} is not a BEIR folder (no corpus.jsonl)")
    print(json.dumps(asyncio.run(run(args.dataset, args.quick, args.sweep))))


if __name__ == "__main__":
    main()
