"""Scale-out: the same burst answered by one replica and by two sharing the queue, and a replica killed mid-answer.

The product as an operator runs it: `switchboard serve` processes (each with the one `switchboard worker` process it
supervises by default, JOB_WORKERS=1) on one PostgreSQL, the bundled handbook synced once (not with --quick), the
real agent graph answering through a scripted model that takes ``--model-seconds`` per call, and a fake Slack Web API
(another process) recording every call with the time it arrived.

1. One replica: a burst of signed ``app_mention`` events (default 200, 50 at a time) to it.
2. Two replicas: a second `serve` on another port and the same database; the same burst, alternating between them
   as a round-robin load balancer would.
3. Failover: one more question, whose answer's model call never returns; the replica whose worker is making that
   call (told by which of two model ports it arrived on) is SIGKILLed, `serve` and its worker at once, as when a
   machine or container dies. Timed: from the kill to the answer posted by the other replica.

Reported: answered-once counts (exactly one answer per event, read from the fake Slack's record), p50/p99 from the
event's delivery to its answer, answers per second and the throughput ratio two replicas / one, and the failover
time (the issue's target: under 60 s, aim 30).

    .venv/bin/python bench/scale_out.py [--quick] [--events 200] [--concurrency 50] [--model-seconds 2]

Last line of stdout: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.slack_ack import (  # noqa: E402
    mention_bodies,
    percentile,
    run_fake_slack,
    service_environment,
    wait_until_listening,
)
from bot import start_embedded_postgres  # noqa: E402
from testing_support.databases import create_database  # noqa: E402
from testing_support.slack_requests import event_body, signature_headers  # noqa: E402
from tests.fakes.http_server import free_port  # noqa: E402

# The failover question carries this; the model never finishes its first answer to it (its worker is killed).
FAILOVER_MARK = "failover drill"
ANSWER_BLOCKS = {"actions", "context_actions"}  # feedback buttons: the contract's two forms of a finished answer


# --- the model's side ----------------------------------------------------------------------------------------


def run_fake_models(ports: list[int], model_seconds: float, mark_file: Path) -> None:
    """One scripted model server per replica, each ``model_seconds`` a call, until SIGTERM.

    The first answer to the failover question hangs, and its server writes its own port to ``mark_file``: the
    replica pointed at that port is the one running the answer.
    """
    from tests.agents.conftest import role_of
    from tests.end_to_end.conftest import reading_model
    from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    hung = threading.Event()
    lock = threading.Lock()

    def responder(port: int) -> Any:
        reading = reading_model()

        def respond(body: dict[str, Any]) -> ScriptedReply:
            if role_of(body) == "act" and FAILOVER_MARK in str(body["messages"][-1].get("content")):
                with lock:
                    first = not hung.is_set()
                    hung.set()
                if first:
                    mark_file.write_text(str(port), encoding="utf-8")
                    return ScriptedReply(text="never sent", delay_seconds=3600, first_token_delay=3600)
            reply = reading(body)
            return reply.model_copy(update={"delay_seconds": model_seconds, "first_token_delay": model_seconds})

        return respond

    servers = []
    for port in ports:
        server = ScriptedModelServer(port=port)
        server.responder = responder(port)
        servers.append(server.start())
    stopped.wait()
    for server in servers:
        server.stop()


# --- Slack's record ------------------------------------------------------------------------------------------


class SlackRecord:
    """The fake Slack's calls, read incrementally; answers per thread with the time each arrived."""

    def __init__(self, slack_url: str) -> None:
        self.slack_url = slack_url
        self.calls: list[dict[str, Any]] = []
        self._thread_of_ts: dict[str, str] = {}  # working message (or stream) ts -> "channel:thread_ts"
        self.answers: dict[str, list[float]] = {}  # thread -> arrival time of each answer
        self.working_messages: dict[str, int] = {}  # thread -> "working on it" messages posted

    async def refresh(self, http: httpx.AsyncClient) -> None:
        response = await http.get(f"{self.slack_url}/_calls", params={"since": len(self.calls)})
        for call in response.json():
            self.calls.append(call)
            self._read(call)

    def _read(self, call: dict[str, Any]) -> None:
        if call["status"] != 200 or not call["response"].get("ok", True):
            return
        params, method = call["params"], call["method"]
        finished = any(block.get("type") in ANSWER_BLOCKS for block in params.get("blocks") or [])
        if method in {"chat.postMessage", "chat.startStream"} and params.get("thread_ts"):
            thread = f"{params['channel']}:{params['thread_ts']}"
            self._thread_of_ts[str(call["response"].get("ts"))] = thread
            if method == "chat.postMessage" and not finished:
                self.working_messages[thread] = self.working_messages.get(thread, 0) + 1
            if finished:
                self.answers.setdefault(thread, []).append(call["at"])
        elif method in {"chat.update", "chat.stopStream"} and finished:
            thread = self._thread_of_ts.get(str(params.get("ts")), "?")
            self.answers.setdefault(thread, []).append(call["at"])

    async def wait_for(self, threads: set[str], deadline_s: float, settle_s: float) -> None:
        """Until every thread in ``threads`` has an answer (or the deadline), then ``settle_s`` more for any
        duplicate to arrive before anyone counts."""
        async with httpx.AsyncClient(timeout=30) as http:
            started = time.monotonic()
            while time.monotonic() - started < deadline_s:
                await self.refresh(http)
                if threads <= self.answers.keys():
                    break
                await asyncio.sleep(1.0)
            await asyncio.sleep(settle_s)
            await self.refresh(http)


# --- replicas ------------------------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (its worker processes start sessions of their own, so no process group
    holds them all)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a process that ended while we looked
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by the living ``pids``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


class Replica:
    """One `switchboard serve` (and the worker process it supervises) on the shared database."""

    def __init__(self, name: str, env: dict[str, str], home: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "bot", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, cwd=home)  # noqa: S603 - our interpreter, our CLI
        self.killed = False

    async def ready(self) -> None:
        await wait_until_listening(f"{self.url}/healthz", self.process)

    def cpu_seconds(self) -> float:
        """CPU used by `serve` and its worker processes so far."""
        return cpu_seconds(descendants(self.process.pid))

    def kill(self) -> list[int]:
        """SIGKILL `serve` and its workers together, as a dying machine would; returns the pids."""
        pids = descendants(self.process.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.process.wait()
        self.killed = True
        return pids

    def stop(self) -> None:
        if self.killed or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()


# --- the load --------------------------------------------------------------------------------------------------


def thread_of(body: str) -> str:
    event = json.loads(body)["event"]
    return f"{event['channel']}:{event['ts']}"


async def send_burst(
    replicas: list[Replica], bodies: list[str], concurrency: int
) -> tuple[dict[str, float], list[float]]:
    """Deliver ``bodies`` in waves of ``concurrency``, round-robin over ``replicas``; when each was sent (wall
    clock, like the fake Slack's record) and each acknowledgement's latency in ms."""
    sent: dict[str, float] = {}
    acks: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def send(index: int, body: str) -> None:
            url = f"{replicas[index % len(replicas)].url}/slack/events"
            headers = {"Content-Type": "application/json", **signature_headers(body)}
            sent[thread_of(body)] = time.time()
            started = time.perf_counter()
            async with http.post(url, data=body.encode(), headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status} to an event")
            acks.append((time.perf_counter() - started) * 1000)

        for start in range(0, len(bodies), concurrency):
            wave = enumerate(bodies[start : start + concurrency], start=start)
            await asyncio.gather(*(send(index, body) for index, body in wave))
    return sent, acks


class ScaleOutBench:
    def __init__(self, home: Path, args: argparse.Namespace) -> None:
        self.home = home
        self.args = args
        self.postgres = start_embedded_postgres(home)
        self.database_url = create_database(self.postgres.url, prefix="bench_scale_out")
        self.slack_url = f"http://127.0.0.1:{free_port()}"
        self.model_ports = [free_port(), free_port()]
        self.mark_file = home / "failover-model-port"
        me = [sys.executable, __file__]
        self.helpers = [
            subprocess.Popen([*me, "--fake-slack", self.slack_url.rsplit(":", 1)[1]]),  # noqa: S603
            subprocess.Popen(  # noqa: S603
                [*me, "--fake-models", ",".join(map(str, self.model_ports)), "--mark-file", str(self.mark_file)]
                + ["--model-seconds", str(args.model_seconds)]
            ),
        ]
        self.replicas: list[Replica] = []
        self.record = SlackRecord(self.slack_url)

    def env(self, name: str, model_port: int) -> dict[str, str]:
        model_url = f"http://127.0.0.1:{model_port}"
        return service_environment(
            self.home,
            self.database_url,
            self.slack_url,
            model_url,
            SWITCHBOARD_HOME=str(self.home / name),
            SHUTDOWN_GRACE_SECONDS="5",
            # --quick syncs nothing, and every answer would warn that the index has no embeddings yet.
            **({"LOG_LEVEL": "ERROR"} if self.args.quick else {}),
        )

    async def start_replica(self) -> Replica:
        index = len(self.replicas)
        name = f"replica-{'ab'[index]}"
        replica = Replica(name, self.env(name, self.model_ports[index]), self.home)
        self.replicas.append(replica)
        await replica.ready()
        # Warm it up (Bolt's auth.test, pools, the worker's first answer) outside the measured burst.
        warm = mention_bodies(2, f"warm{name[-1]}")
        sent, _ = await send_burst([replica], warm, 2)
        await self.record.wait_for(set(sent), deadline_s=120, settle_s=0)
        return replica

    async def burst(self, label: str, replicas: list[Replica]) -> dict[str, Any]:
        args = self.args
        bodies = mention_bodies(args.events, label)
        cpu_before = sum(replica.cpu_seconds() for replica in replicas)
        sent, acks = await send_burst(replicas, bodies, args.concurrency)
        deadline = args.model_seconds * 4 * args.events / 8 + 120
        await self.record.wait_for(set(sent), deadline, settle_s=0)
        cpu = sum(replica.cpu_seconds() for replica in replicas) - cpu_before
        await self.record.wait_for(set(sent), 0, settle_s=args.model_seconds + 1)
        answered = {thread: self.record.answers.get(thread, []) for thread in sent}
        latencies = [min(times) - sent[thread] for thread, times in answered.items() if times]
        first_sent = min(sent.values())
        last_answer = max((min(times) for times in answered.values() if times), default=first_sent)
        seconds = last_answer - first_sent
        answered_once = sum(1 for times in answered.values() if len(times) == 1)
        return {
            "replicas": len(replicas),
            "events": len(bodies),
            "answered": sum(1 for times in answered.values() if times),
            "answered_once": answered_once,
            "answered_exactly_once": answered_once == len(bodies),
            "ack_p99_ms": round(percentile(acks, 0.99), 1),
            "answer_p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "answer_p99_s": round(percentile(latencies, 0.99), 2) if latencies else None,
            "seconds_to_all_answers": round(seconds, 1),
            "answers_per_second": round(len(latencies) / seconds, 2) if seconds > 0 else None,
            # What the replicas' processes (serve and workers) burnt per event: on a small machine this, not the
            # model's time, caps what more replicas can add.
            "cpu_ms_per_event": round(cpu * 1000 / len(bodies), 1),
        }

    async def failover(self) -> dict[str, Any]:
        """Kill the replica running an answer; time until the other posts it."""
        body = event_body(
            {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@UBOT> How do I rotate the VPN certificate? ({FAILOVER_MARK})",
                "ts": "9000.0001",
                "channel": "CFAILOVER",
            }
        )
        sent, _ = await send_burst(self.replicas[:1], [body], 1)
        started = time.monotonic()
        while not self.mark_file.exists():
            if time.monotonic() - started > 120:
                raise RuntimeError("no worker started answering the failover question within 120 s")
            await asyncio.sleep(0.1)
        port = int(self.mark_file.read_text(encoding="utf-8"))
        victim = self.replicas[self.model_ports.index(port)]
        killed_at = time.time()
        pids = victim.kill()
        thread = thread_of(body)
        await self.record.wait_for({thread}, deadline_s=180, settle_s=self.args.model_seconds + 1)
        answers = self.record.answers.get(thread, [])
        return {
            "killed": victim.name,
            "killed_processes": len(pids),
            "seconds_from_kill_to_answer": round(min(answers) - killed_at, 1) if answers else None,
            "answers": len(answers),
            "working_messages": self.record.working_messages.get(thread, 0),
            "answered_once_in_the_working_message": len(answers) == 1
            and self.record.working_messages.get(thread, 0) == 1,
        }

    def close(self) -> None:
        for replica in self.replicas:
            replica.stop()
        for helper in reversed(self.helpers):
            helper.send_signal(signal.SIGTERM)
            helper.wait(timeout=30)
        self.postgres.stop()


async def measure(bench: ScaleOutBench) -> dict[str, Any]:
    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    await wait_until_listening(f"{bench.slack_url}/_calls", bench.helpers[0])
    await wait_until_listening(f"http://127.0.0.1:{bench.model_ports[-1]}/v1/models", bench.helpers[1])
    if not bench.args.quick:  # --quick answers from an empty index, to stay near a minute (the agent still runs)
        sync = [sys.executable, "-m", "bot", "sync"]
        env = bench.env("sync", bench.model_ports[0])
        await asyncio.to_thread(subprocess.run, sync, env=env, cwd=bench.home, check=True, capture_output=True)
    phase("fakes_and_sync")  # the sync is skipped with --quick
    first = await bench.start_replica()
    phase("first_replica_start")
    one = await bench.burst("one", [first])
    phase("burst_one_replica")
    second = await bench.start_replica()
    phase("second_replica_start")
    two = await bench.burst("two", [first, second])
    phase("burst_two_replicas")
    failover = await bench.failover()
    phase("failover")
    ratio = None
    if one["answers_per_second"] and two["answers_per_second"]:
        ratio = round(two["answers_per_second"] / one["answers_per_second"], 2)
    return {
        "cores": os.cpu_count(),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "events": bench.args.events,
        "concurrency": bench.args.concurrency,
        "model_seconds": bench.args.model_seconds,
        "one_replica": one,
        "two_replicas": two,
        "throughput_ratio_two_to_one": ratio,
        "failover": failover,
        "phase_seconds": phases,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="sbscale-", dir="/tmp"))
    home.chmod(0o755)
    bench = ScaleOutBench(home, args)
    try:
        return asyncio.run(measure(bench))
    finally:
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Throughput of one replica against two, and failover time")
    parser.add_argument(
        "--quick", action="store_true", help="40 events, 20 at a time, 0.5 s model calls, no handbook synced"
    )
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument("--fake-slack", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--fake-models", metavar="PORTS", help=argparse.SUPPRESS)
    parser.add_argument("--mark-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.fake_slack:
        run_fake_slack(args.fake_slack)
        return
    if args.fake_models:
        run_fake_models([int(port) for port in args.fake_models.split(",")], args.model_seconds, args.mark_file)
        return
    if args.quick:
        args.events, args.concurrency, args.model_seconds = 40, 20, 0.5
    result = run(args)
    for name in ("one_replica", "two_replicas"):
        figures = result[name]
        print(
            f"{name}: {figures['answered_once']}/{figures['events']} answered once, answer p99 "
            f"{figures['answer_p99_s']} s, {figures['answers_per_second']} answers/s"
        )
    print(f"failover: {result['failover']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
