"""How fast Slack events are acknowledged while the real agent answers them, and that each is answered once.

The product as it runs for users: `switchboard serve` (the one ASGI app, uvicorn, the job queue, and by default one
worker process it supervises) over PostgreSQL with the bundled handbook synced, the real agent graph (retrieval,
checkpoints, traces) answering through a scripted model that takes ``--model-seconds`` per call, a fake Slack Web API
recording every call, and this load generator: signed ``app_mention`` events (default 200, 50 at a time), then a
quarter of them again as Slack retries. The baseline, measured in the same run with the same load, is a bare Bolt
app whose listener does nothing. Also measured: the same service with ``JOBS_IN_PROCESS=true`` (answers on the
acknowledging event loop), to show what the worker process buys.

Each process is started once, then sent ``--rounds`` bursts (default 5), every arm in turn, a service's round lasting
until its answers are in: the speed of these shared machines drifts within minutes, and rounds reach every arm alike.
The headline ratio is the p99 over every round's acknowledgements against the bare app's; each round's own figures
(and how long the event loop waited, runnable, for a CPU) are in the output too.

    .venv/bin/python bench/slack_ack.py [--quick] [--rounds 5] [--events 200] [--concurrency 50] [--model-seconds 2]

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
from datetime import UTC, datetime
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


# Niceness of the fake Slack and fake model processes, and of their session's scheduling group (see main).
STAND_IN_NICENESS = 19


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
    # As `serve` does once started (bot/composition/startup_heap.py): neither arm's full collections walk its
    # start-up objects, so neither is timed against the other's.
    gc.collect()
    gc.freeze()
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


async def wait_for_a_worker(url: str, within_seconds: float = 180) -> None:
    """Until ``/healthz`` counts a live job worker: one still starting (imports, the embedding model) would take CPU
    from whichever arm's burst came first."""
    deadline = time.monotonic() + within_seconds
    async with httpx.AsyncClient(timeout=30) as http:
        while time.monotonic() < deadline:
            if (await http.get(f"{url}/healthz")).json()["jobs"]["workers"] > 0:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"no job worker came up behind {url}")


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


async def measure_acks(url: str, bodies: list[str], args: argparse.Namespace) -> tuple[list[float], dict[str, Any]]:
    """Warm up with two events, send the rest in waves, then resend a quarter as Slack retries: each ack's ms, and
    the slowest per wave and the failures."""
    await send_all(url, bodies[:2], 2, retry=False)  # Bolt's auth.test, first connections
    with load_generator_without_gc():
        latencies, failures, waves = await send_all(url, bodies[2:], args.concurrency, retry=False)
        retried, retry_failures, retry_waves = await send_all(
            url, bodies[: len(bodies) // 4], args.concurrency, retry=True
        )
    return latencies + retried, {"wave_max_ms": waves + retry_waves, "non_200": failures + retry_failures}


def ack_figures(acks: list[float]) -> dict[str, Any]:
    return {
        "acks": len(acks),
        "ack_p50_ms": round(statistics.median(acks), 1),
        "ack_p99_ms": round(percentile(acks, 0.99), 1),
        "ack_max_ms": round(max(acks), 1),
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


def cpu_and_wait_ms(pid: int) -> tuple[float, float]:
    """How long the main thread (the event loop) of process ``pid`` has run, and has waited runnable for a CPU
    (``/proc/PID/schedstat``): the wait is the time an acknowledgement spent queued behind other work, answers
    included."""
    on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text(encoding="ascii").split()
    return int(on_cpu) / 1e6, int(waiting) / 1e6


class Arm:
    """One process under test, started once and sent a burst each round (so every round meets it warm)."""

    def __init__(self, label: str, process: subprocess.Popen[bytes], url: str, *, answers: bool) -> None:
        self.label = label
        self.process = process
        self.url = url
        self.answers = answers  # a service answers each event (its rounds wait for the answers), bare Bolt does not
        self.acks: list[list[float]] = []
        self.rounds: list[dict[str, Any]] = []

    def figures(self) -> dict[str, Any]:
        """Over every ack of every round (the headline), and each round's own."""
        pooled = ack_figures([ack for burst in self.acks for ack in burst])
        return pooled | {"non_200": sum(burst["non_200"] for burst in self.rounds), "rounds": self.rounds}


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
        self.arms: list[Arm] = []

    def service_env(self, database_url: str, **extra: str) -> dict[str, str]:
        return service_environment(self.home, database_url, self.slack_url, self.model_url, **extra)

    async def start_service(self, label: str, **extra: str) -> Arm:
        """A fresh database with the handbook synced, and `switchboard serve` on it."""
        database_url = create_database(self.postgres.url, prefix=f"bench_{label}")
        env = self.service_env(database_url, **extra)
        switchboard = [sys.executable, "-m", "bot"]
        sync = [*switchboard, "sync"]
        await asyncio.to_thread(subprocess.run, sync, env=env, cwd=self.home, check=True, capture_output=True)
        port = free_port()
        service = subprocess.Popen([*switchboard, "serve", "--port", str(port)], env=env, cwd=self.home)  # noqa: S603, ASYNC220
        arm = await self._started(Arm(label, service, f"http://127.0.0.1:{port}", answers=True))
        await wait_for_a_worker(arm.url)
        return arm

    async def start_bare_bolt(self) -> Arm:
        port = free_port()
        command = [sys.executable, __file__, "--bare-bolt", str(port), "--slack-api-url", f"{self.slack_url}/api/"]
        bolt = subprocess.Popen(command)  # noqa: S603, ASYNC220
        return await self._started(Arm("bare", bolt, f"http://127.0.0.1:{port}", answers=False))

    async def _started(self, arm: Arm) -> Arm:
        self.arms.append(arm)
        await wait_until_listening(f"{arm.url}/healthz", arm.process)
        return arm

    async def ack_round(self, arm: Arm, round_number: int) -> None:
        """One burst at ``arm``; a service's round lasts until its answers are in (and any duplicate would be), so
        the next arm's burst meets a machine where nothing is still answering."""
        before = len(answered_threads(await recorded_calls(self.slack_url)))
        bodies = mention_bodies(self.args.events, f"{arm.label}{round_number}")
        started = time.monotonic()
        profile = self.args.py_spy if arm.label == "workers" and round_number == 0 else None
        started_at = datetime.now(UTC).isoformat(timespec="milliseconds")  # to set beside PostgreSQL's own log
        scheduled = cpu_and_wait_ms(arm.process.pid)
        with profiled(arm.process.pid, profile):
            acks, waves = await measure_acks(arm.url, bodies, self.args)
        on_cpu, waiting = (end - start for end, start in zip(cpu_and_wait_ms(arm.process.pid), scheduled, strict=True))
        arm.acks.append(acks)
        figures = {"started_at": started_at, **ack_figures(acks), **waves}
        figures |= {"on_cpu_ms": round(on_cpu, 1), "waiting_for_cpu_ms": round(waiting, 1)}
        if arm.answers:
            deadline = self.args.model_seconds * 4 * self.args.events / 8 + 120
            await wait_for_answers(self.slack_url, before + self.args.events, deadline)
            await asyncio.sleep(self.args.model_seconds + 1)  # let any duplicate answer arrive before counting
            answers = answered_threads(await recorded_calls(self.slack_url))
            ours = [n for thread, n in answers.items() if thread.startswith(f"C{arm.label.upper()}{round_number}:")]
            figures |= {
                "answered": len(ours),
                "answered_exactly_once": len(ours) == self.args.events and set(ours) == {1},
                "seconds_to_all_answers": round(time.monotonic() - started, 1),
            }
        arm.rounds.append(figures)

    def close(self) -> None:
        for process in [*(arm.process for arm in reversed(self.arms)), *reversed(self.processes)]:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        self.postgres.stop()


async def measure(bench: Bench) -> dict[str, Any]:
    """Every arm started once, then rounds: a burst at each arm in turn (bare Bolt first), so a drift in the
    machine's speed (measured at up to 60% within minutes here) reaches every arm alike."""
    await wait_until_listening(f"{bench.slack_url}/_calls", bench.processes[0])
    await wait_until_listening(f"{bench.model_url}/v1/models", bench.processes[1])
    bare = await bench.start_bare_bolt()
    workers = await bench.start_service("workers")
    in_process = None if bench.args.skip_in_process else await bench.start_service("inproc", JOBS_IN_PROCESS="true")
    arms = [arm for arm in (bare, workers, in_process) if arm is not None]
    for round_number in range(bench.args.rounds):
        for arm in arms:
            await bench.ack_round(arm, round_number)
    bare_figures, worker_figures = bare.figures(), workers.figures()
    in_process_figures = in_process and in_process.figures()

    def round_ratios(arm: Arm) -> list[float]:
        pairs = zip(arm.rounds, bare.rounds, strict=True)
        return [round(mine["ack_p99_ms"] / base["ack_p99_ms"], 2) for mine, base in pairs]

    return {
        "events": bench.args.events,
        "concurrency": bench.args.concurrency,
        "model_seconds": bench.args.model_seconds,
        "rounds": bench.args.rounds,
        "bare_bolt": bare_figures,
        "serve_with_worker_process": worker_figures,
        "serve_jobs_in_process": in_process_figures,
        "answered_exactly_once": all(
            figures["answered_exactly_once"] for arm in arms if arm.answers for figures in arm.rounds
        ),
        # The headline: p99 over every round's acks, against the bare app's over every round's.
        "ack_p99_ratio_worker_process": round(worker_figures["ack_p99_ms"] / bare_figures["ack_p99_ms"], 2),
        "ack_p99_ratio_in_process": in_process_figures
        and round(in_process_figures["ack_p99_ms"] / bare_figures["ack_p99_ms"], 2),
        "ack_p50_ratio_worker_process": round(worker_figures["ack_p50_ms"] / bare_figures["ack_p50_ms"], 2),
        "ack_p99_ratio_worker_process_per_round": round_ratios(workers),
        "ack_p99_ratio_in_process_per_round": in_process and round_ratios(in_process),
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
    parser.add_argument("--quick", action="store_true", help="40 events, 20 at a time, 0.5 s model calls, 2 rounds")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5, help="bursts at each arm, in turn (default 5)")
    parser.add_argument(
        "--py-spy", type=Path, metavar="FILE", help="py-spy samples `serve` in its first burst (collapsed stacks)"
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
        # cores they must not take CPU from the service being measured (bare Bolt and serve alike). Linux schedules
        # each session as one group whatever the niceness inside it (autogroup): in the load generator's session
        # they weighed as much as `serve` whenever it waited for replies, and they are busy only while the service
        # answers (serve's rounds, never the bare app's). So each is a session of its own, at the lowest weight.
        os.setsid()
        os.nice(STAND_IN_NICENESS)
        with contextlib.suppress(OSError):  # a kernel without autogroup has no such file and no such groups
            Path("/proc/self/autogroup").write_text(str(STAND_IN_NICENESS), encoding="ascii")
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
        args.events, args.concurrency, args.model_seconds, args.rounds = 40, 20, 0.5, 2
    result = run(args)
    for name in ("bare_bolt", "serve_with_worker_process", "serve_jobs_in_process"):
        figures = result[name]
        if figures is None:
            continue
        per_round = ", ".join(str(burst["ack_p99_ms"]) for burst in figures["rounds"])
        waits = ", ".join(str(burst["waiting_for_cpu_ms"]) for burst in figures["rounds"])
        print(
            f"{name}: ack p50 {figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms (rounds: {per_round}; "
            f"event loop waiting for a CPU: {waits} ms)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
