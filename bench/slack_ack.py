"""How fast Slack events are acknowledged while slow answers run, and that each is answered exactly once.

Three processes, as in production: the service (the one ASGI app with Slack mounted, under uvicorn, with an agent
runner that takes seconds per answer), Slack's side (the fake Web API that records every call) and this load
generator. It sends signed ``app_mention`` events (default 200, 50 at a time), then resends a quarter of them as Slack
retries, measures every acknowledgement and counts the answers that reached Slack.

    .venv/bin/python bench/slack_ack.py [--quick] [--events 200] [--concurrency 50] [--answer-seconds 2]

Last line of stdout: one JSON object (latencies in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import Service, Settings, create_app, create_slack_client, start_embedded_postgres, upgrade_database  # noqa: E402
from bot.slack import SlackChannel  # noqa: E402
from knowledge import create_engine  # noqa: E402
from testing_support.agent_runner import ScriptedAgentRunner  # noqa: E402
from testing_support.databases import create_database  # noqa: E402
from testing_support.slack_requests import SIGNING_SECRET, event_body, signature_headers  # noqa: E402
from tests.fakes.http_server import free_port  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the service process -------------------------------------------------------------------------------------


async def serve(port: int, database_url: str, slack_api_url: str, answer_seconds: float) -> None:
    import uvicorn

    settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack_api_url)
    runner = ScriptedAgentRunner(delay_seconds=answer_seconds)
    client = create_slack_client(settings)
    assert client is not None
    engine = create_engine(database_url)
    service = Service.on_database(settings, database_url, engine, agent_runner=runner)
    channel = SlackChannel(settings, service.sessions, runner, client)
    app = create_app(service, channel.routes())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
    try:
        await uvicorn.Server(config).serve()
    finally:
        await channel.aclose(5)
        await engine.dispose()


def run_fake_slack(port: int) -> None:
    """Slack's side: the fake Web API until SIGTERM."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    slack = FakeSlackApi(port=port).start()
    stopped.wait()
    slack.stop()


# --- the load generator --------------------------------------------------------------------------------------


async def send_all(url: str, bodies: list[str], concurrency: int, retry: bool) -> tuple[list[float], int]:
    """Send ``bodies`` in waves of ``concurrency`` simultaneous requests; the latency of each acknowledgement."""
    latencies: list[float] = []
    failures = 0
    # aiohttp rather than httpx here: httpx's own per-request CPU under 50 concurrent requests skewed the timings.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as http:

        async def send(body: str) -> None:
            nonlocal failures
            headers = {"Content-Type": "application/json", **signature_headers(body)}
            if retry:
                headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            started = time.perf_counter()
            async with http.post("/slack/events", data=body.encode(), headers=headers) as response:
                await response.read()
                failures += response.status != 200
            latencies.append((time.perf_counter() - started) * 1000)

        for start in range(0, len(bodies), concurrency):
            await asyncio.gather(*(send(body) for body in bodies[start : start + concurrency]))
    return latencies, failures


async def recorded_calls(slack_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        return list((await http.get(f"{slack_url}/_calls")).json())


def answered_threads(calls: list[dict[str, Any]]) -> Counter[str]:
    """Answers that reached Slack (the update carrying the feedback buttons), counted per thread."""
    ok = [call for call in calls if call["status"] == 200]
    working = {c["response"].get("ts"): c["params"]["thread_ts"] for c in ok if c["method"] == "chat.postMessage"}
    answers: Counter[str] = Counter()
    for call in ok:
        if call["method"] == "chat.update" and any(b["type"] == "actions" for b in call["params"].get("blocks") or []):
            answers[working.get(call["params"]["ts"], "?")] += 1
    return answers


async def wait_until_listening(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"a benchmark process exited during start-up ({url})")
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listening at {url}")


async def measure(
    service_url: str, slack_url: str, processes: list[subprocess.Popen[bytes]], args: argparse.Namespace
) -> dict[str, object]:
    await wait_until_listening(f"{slack_url}/_calls", processes[0])
    await wait_until_listening(f"{service_url}/healthz", processes[1])
    bodies = [
        event_body(
            {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@UBOT> question {n}",
                "ts": f"{n + 1}.0001",
                "channel": "C1",
            },
            event_id=f"Ev{uuid.uuid4().hex[:12]}",
        )
        for n in range(args.events)
    ]
    await send_all(service_url, bodies[:2], 2, retry=False)  # warm-up: Bolt's auth.test, first connections
    started = time.perf_counter()
    latencies, failures = await send_all(service_url, bodies[2:], args.concurrency, retry=False)
    retried, retry_failures = await send_all(service_url, bodies[: args.events // 4], args.concurrency, retry=True)
    deadline = time.monotonic() + args.answer_seconds * (args.events / args.concurrency) + 60
    answered = 0
    while answered < args.events and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        answered = sum(answered_threads(await recorded_calls(slack_url)).values())
    elapsed = time.perf_counter() - started
    await asyncio.sleep(args.answer_seconds + 1)  # let any duplicate answer arrive before counting
    calls = await recorded_calls(slack_url)
    answers = answered_threads(calls)
    acks = latencies + retried
    return {
        "events": args.events,
        "concurrency": args.concurrency,
        "answer_seconds": args.answer_seconds,
        "retries_sent": len(retried),
        "ack_p50_ms": round(statistics.median(acks), 1),
        "ack_p99_ms": round(percentile(acks, 0.99), 1),
        "ack_max_ms": round(max(acks), 1),
        "non_200": failures + retry_failures,
        "answered": len(answers),
        "answered_exactly_once": len(answers) == args.events and set(answers.values()) == {1},
        "agent_runs": sum(call["method"] == "chat.postMessage" and call["status"] == 200 for call in calls),
        "seconds_to_all_answers": round(elapsed, 1),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="sbbench-", dir="/tmp"))
    home.chmod(0o755)
    postgres = start_embedded_postgres(home)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url = create_database(postgres.url, prefix="bench")
        upgrade_database(database_url)
        slack_port, service_port = free_port(), free_port()
        slack_url, service_url = f"http://127.0.0.1:{slack_port}", f"http://127.0.0.1:{service_port}"
        me = [sys.executable, __file__]
        processes.append(subprocess.Popen([*me, "--fake-slack", str(slack_port)]))
        service = [*me, "--serve", str(service_port), "--database-url", database_url, "--slack-api-url"]
        processes.append(
            subprocess.Popen([*service, f"{slack_url}/api/", "--answer-seconds", str(args.answer_seconds)])
        )
        return asyncio.run(measure(service_url, slack_url, processes, args))
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Slack acknowledgement latency under slow answers")
    parser.add_argument("--quick", action="store_true", help="100 events, 1 s answers")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--answer-seconds", type=float, default=2.0)
    parser.add_argument("--fake-slack", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--slack-api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.fake_slack:
        run_fake_slack(args.fake_slack)
        return
    if args.serve:
        asyncio.run(serve(args.serve, args.database_url, args.slack_api_url, args.answer_seconds))
        return
    if args.quick:
        args.events, args.answer_seconds = 100, 1.0
    result = run(args)
    print(
        f"ack p50 {result['ack_p50_ms']} ms, p99 {result['ack_p99_ms']} ms; answered {result['answered']}/{args.events}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
