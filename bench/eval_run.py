"""An evaluation run's cost: the bundled handbook's 40 labelled questions as an evaluation set, answered through the
real service (embedded PostgreSQL, the synced handbook, hybrid retrieval, the answer graph with reflection) with the
zero-latency scripted model on loopback (tests/fakes/scripted_model.py), graded by every installed grader.

The set is run at 10, 40 and 160 cases (160 = the 40 questions four times, as distinct cases). The scripted model
answers in no time, so the figures are Switchboard's own cost per case: graph, retrieval, checkpoints, traces,
grading and storage; with a real model add its latency times the model calls.

Run: .venv/bin/python bench/eval_run.py [--quick]
Last stdout line: one JSON object with, per size, wall seconds, model calls, seconds and calls per case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from knowledge_bench_setup import embedded_database_url  # noqa: E402

from agents.evaluation import CaseSpec, EvaluationSetStore  # noqa: E402
from bot import Service, Settings, sync_configured_source  # noqa: E402
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply  # noqa: E402

ACCEPT = json.dumps(
    {"supported": True, "cited": True, "answered": True, "obeyed_source_instructions": False, "verdict": "accept"}
)
QUESTIONS = ROOT / "examples/handbook_questions.jsonl"


def responder(body: dict[str, Any]) -> ScriptedReply:
    system = str(body["messages"][0]["content"])
    if system.startswith("You review a draft answer"):
        return ScriptedReply(text=ACCEPT)
    if system.startswith("You grade an answer"):
        return ScriptedReply(text='{"reasoning": "cites the page", "verdict": "pass"}')
    if system.startswith("You plan how to answer"):
        return ScriptedReply(text='{"steps": ["search the knowledge", "answer"]}')
    return ScriptedReply(text="The handbook covers this; see the first source [1].")


def cases(count: int) -> list[CaseSpec]:
    labelled = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [
        CaseSpec(
            key=f"q{index:03d}",
            question=labelled[index % len(labelled)]["question"],
            expected_sources=labelled[index % len(labelled)]["relevant"],
            reference_answer="(labelled retrieval question)",
        )
        for index in range(count)
    ]


async def measure(database_url: str, model: ScriptedModelServer, sizes: list[int]) -> dict[str, Any]:
    settings = Settings(
        database_url=database_url,
        llm_provider="openai",
        llm_base_url=model.base_url,
        llm_model="scripted",
        llm_max_retries=0,
        log_level="WARNING",
        sources=[
            {
                "type": "folder",
                "name": "handbook",
                "path": str(ROOT / "examples/handbook"),
                "base_url": "https://handbook.northwind.example/",
                "ignore": ["README.md"],
            }
        ],
    )
    service = await Service.start(settings, migrate=False)
    try:
        await sync_configured_source(service, settings.sources[0])
        runner = service.evaluation_runner()
        results: dict[str, Any] = {"concurrency": runner.config.concurrency, "graders": runner.grader_names}
        for size in sizes:
            name = f"handbook-{size}"
            await EvaluationSetStore(service.sessions).import_cases(name, cases(size), author="bench")
            live = (await service.runner.prompts.get("answer")).version
            before = len([r for r in model.requests if "messages" in r])
            started = time.perf_counter()
            report = await runner.run(name, "answer", live)
            wall = time.perf_counter() - started
            calls = len([r for r in model.requests if "messages" in r]) - before
            results[str(size)] = {
                "cases": size,
                "wall_seconds": round(wall, 2),
                "seconds_per_case": round(wall / size, 3),
                "model_calls": calls,
                "model_calls_per_case": round(calls / size, 2),
                "case_latency_ms_p50": round(report.latency_percentile(0.5), 1),
                "case_latency_ms_p95": round(report.latency_percentile(0.95), 1),
                "retrieval_hit_rate": report.rates.get("retrieval"),
            }
            print(json.dumps(results[str(size)]), file=sys.stderr)
        return results
    finally:
        await service.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 40 cases only (under a minute)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [10, 40] if args.quick else [10, 40, 160]
    model = ScriptedModelServer()
    model.responder = responder
    model.start()
    try:
        with embedded_database_url() as database_url:
            results = asyncio.run(measure(database_url, model, sizes))
    finally:
        model.stop()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
