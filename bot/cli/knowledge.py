"""``switchboard sync`` and ``switchboard eval``: keep the index in step with the sources, and measure retrieval."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.cli.evaluation import add_evaluation_commands
from bot.composition.knowledge_sync import sync_configured_source
from bot.composition.service import Service
from bot.errors import BotError
from bot.settings import Settings
from knowledge import Passage, SearchQuery, SourceConfigBase, SyncProgress, SyncSummary
from knowledge.documents import ReaderScope

EXIT_OK = 0
EXIT_FAILED = 1
# The bundled handbook's labelled questions (paths relative to examples/handbook), for `make run`'s default source.
DEFAULT_QUESTIONS = Path("examples/handbook_questions.jsonl")


def add_knowledge_commands(commands: Any) -> None:
    """Register ``sync`` and ``eval`` on the top-level sub-command parser."""
    sync = commands.add_parser("sync", help="sync knowledge sources from the config file into the index")
    sync.add_argument("source", nargs="?", metavar="SOURCE", help="only this source (default: every source)")
    sync.add_argument("--full", action="store_true", help="re-chunk and re-embed every document, changed or not")
    sync.set_defaults(handler=_sync)

    evaluate = commands.add_parser(
        "eval", help="measure retrieval on labelled questions, or (import|export|sets|run|diff) evaluation sets"
    )
    evaluate.add_argument(
        "--questions",
        type=Path,
        default=DEFAULT_QUESTIONS,
        help="JSON lines of {question, relevant: [document ids]} (default: the bundled handbook set)",
    )
    evaluate.add_argument("--source", help="the source the relevant ids belong to (default: every source)")
    evaluate.add_argument("--k", type=int, default=5, help="cut-off for hit@k and nDCG@k (default: 5)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    evaluate.set_defaults(handler=_eval)
    add_evaluation_commands(evaluate)


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.sources:
        raise BotError("no knowledge sources are configured: add a [[sources]] table to the config file (see README)")
    if args.source is not None and settings.source(args.source) is None:
        names = ", ".join(source.name for source in settings.sources)
        raise BotError(f"no source named {args.source!r} in the config file; configured: {names}")
    selected = [s for s in settings.sources if args.source is None or s.name == args.source]
    summaries = asyncio.run(_sync_sources(settings, selected, full=args.full))
    for summary in summaries:
        print(_describe(summary))
    return EXIT_OK if all(summary.status == "succeeded" for summary in summaries) else EXIT_FAILED


async def _sync_sources(settings: Settings, selected: list[SourceConfigBase], *, full: bool) -> list[SyncSummary]:
    service = await Service.start(settings)
    try:
        summaries = []
        for config in selected:
            # tqdm turns itself off when stderr is not a terminal (disable=None); the summary is always printed.
            with tqdm(desc=config.name, unit="doc", file=sys.stderr, disable=None, leave=False) as bar:

                def show(progress: SyncProgress) -> None:
                    bar.total = max(progress.total or 0, progress.seen) or None
                    bar.n = progress.seen
                    bar.set_postfix(
                        added=progress.added, updated=progress.updated, failed=progress.failed, refresh=False
                    )
                    bar.refresh()

                summaries.append(await sync_configured_source(service, config, full=full, progress=show))
        return summaries
    finally:
        await service.aclose()


def _describe(summary: SyncSummary) -> str:
    lines = [
        f"{summary.source}: {summary.status} in {summary.seconds:.1f} s: {summary.added} added, "
        f"{summary.updated} updated, {summary.unchanged} unchanged, {summary.deleted} deleted, "
        f"{summary.failed} failed"
        + (f", {summary.reembedded} re-embedded" if summary.reembedded else "")
        + (
            f" ({summary.embedded_chunks} chunks embedded in {summary.embedding_seconds:.1f} s)"
            if summary.embedded_chunks
            else ""
        )
    ]
    if not summary.listing_complete:
        lines.append("  the source stopped before listing everything, so nothing was deleted")
    if summary.error:
        lines.append(f"  error: {summary.error}")
    for failure in summary.failures:
        lines.append(f"  failed: {failure.external_id}: {failure.reason}")
    return "\n".join(lines)


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    if not args.questions.is_file():
        raise BotError(f"question file {args.questions} does not exist")
    labelled = []
    for number, line in enumerate(args.questions.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            labelled.append((str(item["question"]), set(item["relevant"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise BotError(f"{args.questions}:{number}: expected {{question, relevant: [...]}} ({error})") from None
    results = asyncio.run(_evaluate(settings, labelled, source=args.source, k=args.k))
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{len(labelled)} questions, k={args.k}")
        print(f"{'method':<10} {'hit@k':>7} {'mrr':>7} {'ndcg@k':>7}")
        for method, scores in results["methods"].items():
            print(f"{method:<10} {scores['hit']:>7.3f} {scores['mrr']:>7.3f} {scores['ndcg']:>7.3f}")
    return EXIT_OK


async def _evaluate(
    settings: Settings, labelled: list[tuple[str, set[str]]], *, source: str | None, k: int
) -> dict[str, Any]:
    service = await Service.start(settings)
    try:
        retriever = service.retriever
        # Measured as an anonymous employee: labelled sets should only point at documents everyone may read.
        scope = ReaderScope.single("switchboard-eval")
        methods = {"fulltext": retriever.fulltext, "vector": retriever.vector, "hybrid": retriever.search}
        scores: dict[str, dict[str, float]] = {}
        for name, search in methods.items():
            hit = mrr = ndcg = 0.0
            for question, relevant in labelled:
                query = SearchQuery(
                    text=question, scope=scope, limit=max(k * 4, 20), sources=(source,) if source else None
                )
                ranked = _documents_in_order(await search(query))[:k]
                ranks = [rank for rank, document in enumerate(ranked, start=1) if document in relevant]
                hit += 1.0 if ranks else 0.0
                mrr += 1.0 / ranks[0] if ranks else 0.0
                ideal = sum(1 / math.log2(r + 1) for r in range(1, min(len(relevant), k) + 1))
                ndcg += sum(1 / math.log2(r + 1) for r in ranks) / ideal
            count = len(labelled) or 1
            scores[name] = {"hit": hit / count, "mrr": mrr / count, "ndcg": ndcg / count}
        return {"questions": len(labelled), "k": k, "methods": scores}
    finally:
        await service.aclose()


def _documents_in_order(passages: list[Passage]) -> list[str]:
    """Each document once, at the rank of its best passage."""
    seen: dict[str, None] = {}
    for passage in passages:
        seen.setdefault(passage.external_id, None)
    return list(seen)
