"""How fast Slack events are acknowledged while the real agent answers them, and that each is answered once.

The product as it runs for users: `switchboard serve` (the one ASGI app, uvicorn, the job queue, and by default one
worker process it supervises) over PostgreSQL with the bundled handbook synced, the real agent graph (retrieval,
checkpoints, traces) answering through a scripted model that takes ``--model-seconds`` per call, a fake Slack Web API
recording every call, and this load generator: signed ``app_mention`` events (default 200, 50 at a time), then a
quarter of them again as Slack retries. The baseline, measured in the same run with the same load, is a bare Bolt
app whose listener does nothing. Also measured: the same service with ``JOBS_IN_PROCESS=true`` (answers on the
acknowledging event loop), to show what the worker process buys.

    .venv/bin/python bench/slack_ack.py [--quick] [--events 200] [--concurrency 50] [--model-seconds 2]

Last line of stdout: one JSON object (latencies in ms, ratios against the bare Bolt app).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import start_embedded_postgres  # noqa: E402
from testing_support.databases import create_database  # noqa: E402
from testing_support.slack_requests import SIGNING_SECRET, event_body, signature_headers  # noqa: E402
from tests.fakes.http_server import free_port  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi  # noqa: E402

HANDBOOK = ROOT / "examples" / "handbook"


# Niceness of the fake Slack and fake model processes (see main).
STAND_IN_NICENESS = 10


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the service process -------------------------------------------------------------------------------------


async def serve_bare_bolt(port: int, slack_api_url: str) -> None:
    """The baseline: Bolt with the same signing secret, acknowledging every event and doing nothing else."""
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    # The same fake Web API the service talks to (Bolt calls auth.test on the first event).
    app = AsyncApp(signing_secret=SIGNING_SECRET, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url))

    @app.event("app_mention")
    async def on_mention() -> None:
        return None

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    asgi = Starlette(routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)])
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
    await uvicorn.Server(config).serve()


def run_fake_model(port: int, model_seconds: float) -> None:
    """The model's side: answers each step of the real graph as a faithful model would, ``model_seconds`` a call."""
    from tests.end_to_end.conftest import reading_model
    from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    reading = reading_model()

    def respond(body: dict[str, Any]) -> ScriptedReply:
        reply = reading(body)
        return reply.model_copy(update={"delay_seconds": model_seconds, "first_token_delay": model_seconds})

    server = ScriptedModelServer(port=port)
    server.responder = respond
    server.start()
    stopped.wait()
    server.stop()


def run_fake_slack(port: int) -> None:
    """Slack's side: the fake Web API until SIGTERM."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    slack = FakeSlackApi(port=port).start()
    stopped.wait()
    slack.stop()


# --- the load generator --------------------------------------------------------------------------------------


@contextlib.contextmanager
def load_generator_without_gc() -> Iterator[None]:
    """No garbage collection in this process while it times requests. Its heap (the imported service, the fakes'
    clients) is large enough that a full collection took 87 ms; one landing in a wave stalled every request of it,
    and the service was blamed for it (traced with /proc schedstat: the service idle, this process collecting)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def send_all(url: str, bodies: list[str], concurrency: int, retry: bool) -> tuple[list[float], int, list[float]]:
    """Send ``bodies`` in waves of ``concurrency`` simultaneous requests: the latency of each acknowledgement, the
    failures, and each wave's slowest acknowledgement (where the p99 comes from)."""
    latencies: list[float] = []
    wave_max: list[float] = []
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
            before = len(latencies)
            await asyncio.gather(*(send(body) for body in bodies[start : start + concurrency]))
            wave_max.append(round(max(latencies[before:]), 1))
    return latencies, failures, wave_max


async def recorded_calls(slack_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        return list((await http.get(f"{slack_url}/_calls")).json())


def answered_threads(calls: list[dict[str, Any]]) -> Counter[str]:
    """Answers that reached Slack (the update carrying the feedback buttons), counted per thread."""
    ok = [call for call in calls if call["status"] == 200]
    working = {
        c["response"].get("ts"): f"{c['params']['channel']}:{c['params']['thread_ts']}"
        for c in ok
        if c["method"] == "chat.postMessage"
    }
    answers: Counter[str] = Counter()
    for call in ok:
        if call["method"] == "chat.update" and any(b["type"] == "actions" for b in call["params"].get("blocks") or []):
            answers[working.get(call["params"]["ts"], "?")] += 1
    return answers


async def wait_until_listening(url: str, process: subprocess.Popen[bytes], within_seconds: float = 180) -> None:
    """Until ``url`` answers; a shared 2-core machine under load has taken over 30 s to start a fake's process."""
    deadline = time.monotonic() + within_seconds
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"a benchmark process exited during start-up ({url})")
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listening at {url}")


def mention_bodies(count: int, label: str) -> list[str]:
    questions = ["How do I rotate the VPN certificate?", "How many days of parental leave?", "Guest wifi password?"]
    return [
        event_body(
            {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@UBOT> {questions[n % len(questions)]} ({label} {n})",
                "ts": f"{n + 1}.0001",
                "channel": f"C{label.upper()}",
            },
            event_id=f"Ev{uuid.uuid4().hex[:12]}",
        )
        for n in range(count)
    ]


async def measure_acks(url: str, bodies: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Warm up with two events, send the rest in waves, then resend a quarter as Slack retries."""
    await send_all(url, bodies[:2], 2, retry=False)  # Bolt's auth.test, first connections
    with load_generator_without_gc():
        latencies, failures, waves = await send_all(url, bodies[2:], args.concurrency, retry=False)
        retried, retry_failures, retry_waves = await send_all(
            url, bodies[: len(bodies) // 4], args.concurrency, retry=True
        )
    acks = latencies + retried
    return {
        "acks": len(acks),
        "ack_p50_ms": round(statistics.median(acks), 1),
        "ack_p99_ms": round(percentile(acks, 0.99), 1),
        "ack_max_ms": round(max(acks), 1),
        "wave_max_ms": waves + retry_waves,
        "non_200": failures + retry_failures,
    }


async def wait_for_answers(slack_url: str, threads: int, deadline_s: float) -> tuple[Counter[str], float]:
    started = time.monotonic()
    answers: Counter[str] = Counter()
    while time.monotonic() - started < deadline_s:
        answers = answered_threads(await recorded_calls(slack_url))
        if len(answers) >= threads:
            break
        await asyncio.sleep(0.5)
    return answers, time.monotonic() - started


def service_environment(home: Path, database_url: str, slack_url: str, model_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `switchboard` process on ``database_url``, the fake Slack and the scripted model, with
    the handbook as its one source (synced by whoever runs `switchboard sync` with it)."""
    config = home / "switchboard.toml"
    config.write_text(
        f'[[sources]]\ntype = "folder"\nname = "handbook"\npath = "{HANDBOOK}"\n'
        'base_url = "https://handbook.example/"\nsync_interval_minutes = 1440\n',
        encoding="utf-8",
    )
    return {
        "PATH": os.environ.get("PATH", ""),
        # The code of this checkout, whichever one the virtual environment was installed from.
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
        "DATABASE_URL": database_url,
        "SWITCHBOARD_HOME": str(home / "state"),
        "SWITCHBOARD_CONFIG": str(config),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": f"{model_url}/v1",
        "LLM_MODEL": "scripted",
        "LLM_MAX_RETRIES": "0",
        "LOG_LEVEL": "WARNING",
        "SYNC_OVERDUE_ON_START": "false",
        **extra,
    }


@contextlib.contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """With ``output``, py-spy samples process ``pid`` (not its workers) meanwhile, as collapsed stacks."""
    if output is None:
        yield
        return
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit(f"--py-spy needs py-spy in the virtual environment: {sys.executable} -m pip install py-spy")
    command = [str(py_spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "250", "--output", str(output)]
    recorder = subprocess.Popen([*command, "--nonblocking"], stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the load starts
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        recorder.wait(timeout=60)


class Bench:
    """The shared processes (fake Slack, fake model, PostgreSQL) and a way to run each service under test."""

    def __init__(self, home: Path, args: argparse.Namespace) -> None:
        self.home = home
        self.args = args
        self.postgres = start_embedded_postgres(home)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.slack_url = f"http://127.0.0.1:{free_port()}"
        self.model_url = f"http://127.0.0.1:{free_port()}"
        me = [sys.executable, __file__]
        self.processes.append(subprocess.Popen([*me, "--fake-slack", self.slack_url.rsplit(":", 1)[1]]))
        model_port = self.model_url.rsplit(":", 1)[1]
        self.processes.append(
            subprocess.Popen([*me, "--fake-model", model_port, "--model-seconds", str(args.model_seconds)])
        )

    def service_env(self, database_url: str, **extra: str) -> dict[str, str]:
        return service_environment(self.home, database_url, self.slack_url, self.model_url, **extra)

    async def run_service(self, label: str, **extra: str) -> dict[str, Any]:
        """A fresh database with the handbook synced, `switchboard serve` on it, the load, and its answers."""
        database_url = create_database(self.postgres.url, prefix=f"bench_{label}")
        env = self.service_env(database_url, **extra)
        switchboard = [sys.executable, "-m", "bot"]
        sync = [*switchboard, "sync"]
        await asyncio.to_thread(subprocess.run, sync, env=env, cwd=self.home, check=True, capture_output=True)
        port = free_port()
        service = subprocess.Popen([*switchboard, "serve", "--port", str(port)], env=env, cwd=self.home)  # noqa: S603, ASYNC220
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_until_listening(f"{url}/healthz", service)
            before = len(answered_threads(await recorded_calls(self.slack_url)))
            bodies = mention_bodies(self.args.events, label)
            started = time.monotonic()
            with profiled(service.pid, self.args.py_spy if label == "workers" else None):
                result = await measure_acks(url, bodies, self.args)
            deadline = self.args.model_seconds * 4 * self.args.events / 8 + 120
            answers, _ = await wait_for_answers(self.slack_url, before + self.args.events, deadline)
            await asyncio.sleep(self.args.model_seconds + 1)  # let any duplicate answer arrive before counting
            answers = answered_threads(await recorded_calls(self.slack_url))
            ours = {thread: n for thread, n in answers.items() if thread != "?"}
            result |= {
                "answered": len(ours) - before,
                "answered_exactly_once": len(ours) - before == self.args.events and set(ours.values()) <= {1},
                "seconds_to_all_answers": round(time.monotonic() - started, 1),
            }
            return result
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)

    async def run_bare_bolt(self) -> dict[str, Any]:
        port = free_port()
        command = [sys.executable, __file__, "--bare-bolt", str(port), "--slack-api-url", f"{self.slack_url}/api/"]
        bolt = subprocess.Popen(command)  # noqa: S603, ASYNC220
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_until_listening(f"{url}/healthz", bolt)
            return await measure_acks(url, mention_bodies(self.args.events, "bare"), self.args)
        finally:
            bolt.send_signal(signal.SIGTERM)
            bolt.wait(timeout=30)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        self.postgres.stop()


async def measure(bench: Bench) -> dict[str, Any]:
    await wait_until_listening(f"{bench.slack_url}/_calls", bench.processes[0])
    await wait_until_listening(f"{bench.model_url}/v1/models", bench.processes[1])
    bare = await bench.run_bare_bolt()
    workers = await bench.run_service("workers")
    in_process = None if bench.args.skip_in_process else await bench.run_service("inproc", JOBS_IN_PROCESS="true")
    return {
        "events": bench.args.events,
        "concurrency": bench.args.concurrency,
        "model_seconds": bench.args.model_seconds,
        "bare_bolt": bare,
        "serve_with_worker_process": workers,
        "serve_jobs_in_process": in_process,
        "ack_p99_ratio_worker_process": round(workers["ack_p99_ms"] / bare["ack_p99_ms"], 2),
        "ack_p99_ratio_in_process": in_process and round(in_process["ack_p99_ms"] / bare["ack_p99_ms"], 2),
        "ack_p50_ratio_worker_process": round(workers["ack_p50_ms"] / bare["ack_p50_ms"], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sbbench-", dir="/tmp"))
    home.chmod(0o755)
    bench = Bench(home, args)
    try:
        return asyncio.run(measure(bench))
    finally:
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Slack acknowledgement latency while the real agent answers")
    parser.add_argument("--quick", action="store_true", help="40 events, 20 at a time, 0.5 s model calls")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument(
        "--py-spy", type=Path, metavar="FILE", help="sample `serve` with py-spy during the burst (collapsed stacks)"
    )
    parser.add_argument("--skip-in-process", action="store_true", help="measure only bare Bolt and the default")
    parser.add_argument("--fake-slack", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--fake-model", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bare-bolt", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--slack-api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.fake_slack or args.fake_model:
        # Stand-ins for Slack and the model provider, which run on other machines in production: on these 2 shared
        # cores they must not take CPU from the service being measured (bare Bolt and serve alike).
        os.nice(STAND_IN_NICENESS)
    if args.fake_slack:
        run_fake_slack(args.fake_slack)
        return
    if args.fake_model:
        run_fake_model(args.fake_model, args.model_seconds)
        return
    if args.bare_bolt:
        asyncio.run(serve_bare_bolt(args.bare_bolt, args.slack_api_url))
        return
    if args.quick:
        args.events, args.concurrency, args.model_seconds = 40, 20, 0.5
    result = run(args)
    for name in ("bare_bolt", "serve_with_worker_process", "serve_jobs_in_process"):
        figures = result[name]
        if figures is None:
            continue
        print(f"{name}: ack p50 {figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
