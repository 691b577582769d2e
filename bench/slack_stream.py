"""How soon a streamed answer shows its first words in Slack, against the model's own time to first token, and how
many Web API calls an answer costs when 50 questions arrive at once.

The product as it runs for users: `switchboard serve` (uvicorn, the job queue, one worker process) over PostgreSQL
with the bundled handbook synced, the real agent graph answering through a scripted model that streams its answer at
a fixed rate (``--first-token-seconds`` before the first word, then ``--words-per-second``), and a fake Slack Web API
that accepts streaming (``chat.startStream`` / ``appendStream`` / ``stopStream``) and the thread status line and
records every call with the time it arrived. Reflection is off in the streamed configuration (so the final pass is
the first one and is shown as it is written); ``--with-reflection`` adds the default configuration, where the draft
is held under the status line until reflection accepts it (the README explains why).

Measured per configuration:
- ``single``: questions asked one at a time: event -> first status, event -> first visible answer text (the first
  ``chat.startStream`` carrying text in that thread), the model's own time to first token of the streamed call, and
  the time from that first token to the first visible text (what the service adds);
- ``burst``: 50 questions at once: the same latencies under load, Web API calls per answer by method, and the most
  ``chat.appendStream`` calls in any 60 s window (Slack's Tier 4 allows about 100 a minute per workspace).

    .venv/bin/python bench/slack_stream.py [--quick] [--burst 50] [--single 5] [--with-reflection]

Last line of stdout: one JSON object (latencies in ms, counts, ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.slack_ack import Arm, Bench, percentile, recorded_calls, wait_until_listening  # noqa: E402
from bot import start_embedded_postgres  # noqa: E402
from testing_support.databases import create_database  # noqa: E402
from testing_support.slack_requests import event_body, signature_headers  # noqa: E402
from tests.fakes.http_server import free_port  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402

LABEL = re.compile(r"\((single|burst)-(\d+)\)")
QUESTIONS = ["How do I rotate the VPN certificate?", "How many days of parental leave?", "Guest wifi password?"]
APPEND_LIMIT_PER_MINUTE = 100  # Tier 4, per method per workspace


# --- the fakes, each in its own process --------------------------------------------------------------------


def run_fake_slack(port: int) -> None:
    """Current Slack: streaming and the status line accepted; every call recorded with its arrival time."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    slack = FakeSlackApi(port=port)
    slack.stream_refusal = None
    slack.allow("assistant.threads.setStatus")
    slack.start()
    stopped.wait()
    slack.stop()


def run_fake_model(port: int, first_token_seconds: float, words_per_second: float, answer_words: int) -> None:
    """The real graph's steps answered as a faithful model would; streamed answers at a fixed pace."""
    from tests.end_to_end.conftest import reading_model
    from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    reading = reading_model()

    def respond(body: dict[str, Any]) -> ScriptedReply:
        reply = reading(body)
        words = reply.text.split(" ")
        text = " ".join(words[:answer_words]) + (f" {words[-1]}" if len(words) > answer_words else "")
        pace = {"first_token_delay": first_token_seconds, "token_interval": 1 / words_per_second}
        # A call that is not streamed waits as long as a streamed one takes to start.
        return reply.model_copy(
            update={"text": text, **pace, "delay_seconds": 0 if body.get("stream") else first_token_seconds}
        )

    server = ScriptedModelServer(port=port)
    server.responder = respond
    server.start()
    stopped.wait()
    server.stop()


# --- measuring ---------------------------------------------------------------------------------------------


def mention(label: str, n: int, channel: str) -> tuple[str, str]:
    """A signed-ready app_mention body and its thread key (``channel:ts``)."""
    ts = f"{1000 + n}.{uuid.uuid4().int % 10**6:06d}"
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@UBOT> {QUESTIONS[n % len(QUESTIONS)]} ({label}-{n})",
        "ts": ts,
        "channel": channel,
    }
    return event_body(event, event_id=f"Ev{uuid.uuid4().hex[:12]}"), f"{channel}:{ts}"


async def send(http: aiohttp.ClientSession, body: str) -> float:
    """Post one event; the wall-clock time it was sent."""
    sent = time.time()
    async with http.post(
        "/slack/events", data=body.encode(), headers={"Content-Type": "application/json", **signature_headers(body)}
    ) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"event refused with {response.status}")
    return sent


def first_visible_text(calls: list[dict[str, Any]]) -> dict[str, float]:
    """Per thread (``channel:thread_ts``), when its answer's first words reached Slack: a stream started with text,
    or (where Slack did not stream) the message carrying the finished answer."""
    shown: dict[str, float] = {}
    working: dict[str, str] = {}
    for call in sorted(calls, key=lambda c: c["at"]):
        params, method = call["params"], call["method"]
        if call["status"] != 200:
            continue
        if method == "chat.postMessage":
            working[str(call["response"].get("ts"))] = f"{params['channel']}:{params.get('thread_ts')}"
        finished = any(b.get("type") == "context_actions" for b in params.get("blocks") or [])
        if method == "chat.startStream" and params.get("markdown_text"):
            key = f"{params['channel']}:{params['thread_ts']}"
        elif method == "chat.postMessage" and finished:
            key = f"{params['channel']}:{params.get('thread_ts')}"
        elif method == "chat.update" and finished:
            key = working.get(str(params.get("ts")), "?")
        else:
            continue
        shown.setdefault(key, call["at"])
    return shown


def first_status(calls: list[dict[str, Any]]) -> dict[str, float]:
    shown: dict[str, float] = {}
    for call in calls:
        if call["method"] == "assistant.threads.setStatus" and call["status"] == 200 and call["params"].get("status"):
            shown.setdefault(f"{call['params']['channel_id']}:{call['params']['thread_ts']}", call["at"])
    return shown


def ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50_ms": round(1000 * statistics.median(values), 1),
        "p95_ms": round(1000 * percentile(values, 0.95), 1),
        "max_ms": round(1000 * max(values), 1),
    }


def most_in_a_minute(times: list[float]) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] > 60:
            start += 1
        best = max(best, end - start + 1)
    return best


class StreamBench(Bench):
    """slack_ack's processes and service environment, with a streaming Slack and a streaming model."""

    def __init__(self, home: Path, args: argparse.Namespace) -> None:  # its own fakes, not Bench's
        self.home = home
        self.args = args
        self.postgres = start_embedded_postgres(home)
        self.slack_url = f"http://127.0.0.1:{free_port()}"
        self.model_url = f"http://127.0.0.1:{free_port()}"
        me = [sys.executable, __file__]
        model = [
            *me,
            "--fake-model",
            self.model_url.rsplit(":", 1)[1],
            "--first-token-seconds",
            str(args.first_token_seconds),
            "--words-per-second",
            str(args.words_per_second),
            "--answer-words",
            str(args.answer_words),
        ]
        self.processes = [
            subprocess.Popen([*me, "--fake-slack", self.slack_url.rsplit(":", 1)[1]]),
            subprocess.Popen(model),
        ]
        self.arms: list[Arm] = []  # its services are started and stopped by run()

    def env(self, database_url: str, *, reflection: bool) -> dict[str, str]:
        # slack_ack's service environment (handbook source, fake Slack and model), reflection as asked.
        env = self.service_env(database_url)
        config = Path(env["SWITCHBOARD_CONFIG"])
        config.write_text(config.read_text() + f"\n[agent]\nreflection = {str(reflection).lower()}\n")
        return env

    async def model_streams(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as http:
            return list((await http.get(f"{self.model_url}/_streams")).json())

    async def run(self, label: str, *, reflection: bool) -> dict[str, Any]:
        database_url = create_database(self.postgres.url, prefix=f"stream_{label}")
        env = self.env(database_url, reflection=reflection)
        switchboard = [sys.executable, "-m", "bot"]
        await asyncio.to_thread(
            subprocess.run, [*switchboard, "sync"], env=env, cwd=self.home, check=True, capture_output=True
        )
        port = free_port()
        service = subprocess.Popen([*switchboard, "serve", "--port", str(port)], env=env, cwd=self.home)  # noqa: S603, ASYNC220
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_until_listening(f"{url}/healthz", service)
            connector = aiohttp.TCPConnector(limit=self.args.burst)
            async with aiohttp.ClientSession(base_url=url, connector=connector) as http:
                await send(http, mention("warmup", 0, f"CW{label}")[0])  # Bolt's auth.test, first connections
                await self.wait_answers({f"CW{label}"}, 1)
                single = await self.single(http, label)
                burst = await self.burst(http, label)
            return {"reflection": reflection, "single": single, "burst": burst}
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)

    async def wait_answers(self, channels: set[str], count: int, deadline_s: float = 300) -> list[dict[str, Any]]:
        started = time.monotonic()
        while True:
            calls = await recorded_calls(self.slack_url)
            stopped = [
                c
                for c in calls
                if c["status"] == 200
                and c["params"].get("channel") in channels
                and (
                    c["method"] == "chat.stopStream"
                    or any(b.get("type") == "context_actions" for b in c["params"].get("blocks") or [])
                )
            ]
            if len(stopped) >= count:
                return calls
            if time.monotonic() - started > deadline_s:
                raise RuntimeError(f"only {len(stopped)} of {count} answers finished in {channels}")
            await asyncio.sleep(0.25)

    async def single(self, http: aiohttp.ClientSession, label: str) -> dict[str, Any]:
        channel = f"CS{label}"
        sent: dict[str, float] = {}
        for n in range(self.args.single):
            body, key = mention("single", n, channel)
            sent[key] = await send(http, body)
            await self.wait_answers({channel}, n + 1)
        return await self.figures(channel, sent, "single")

    async def burst(self, http: aiohttp.ClientSession, label: str) -> dict[str, Any]:
        channel = f"CB{label}"
        bodies = [mention("burst", n, channel) for n in range(self.args.burst)]
        times = await asyncio.gather(*(send(http, body) for body, _ in bodies))
        sent = {key: at for (_, key), at in zip(bodies, times, strict=True)}
        return await self.figures(channel, sent, "burst")

    async def figures(self, channel: str, sent: dict[str, float], label: str) -> dict[str, Any]:
        calls = await self.wait_answers({channel}, len(sent))
        await asyncio.sleep(1.5)  # the last deletes and status clears
        calls = [
            c
            for c in await recorded_calls(self.slack_url)
            if channel in (c["params"].get("channel"), c["params"].get("channel_id"))
        ]
        text_at, status_at = first_visible_text(calls), first_status(calls)
        # The model's own time to first token of each answer's streamed call, by the label in its question.
        first_token: dict[str, float] = {}
        model_ttft: list[float] = []
        for stream in await self.model_streams():
            found = LABEL.search(stream["question"])
            if found is None or found.group(1) != label or stream["first_token_at"] is None:
                continue
            model_ttft.append(stream["first_token_at"] - stream["requested_at"])
            first_token[found.group(2)] = max(first_token.get(found.group(2), 0.0), stream["first_token_at"])
        order = {key: str(n) for n, key in enumerate(sent)}
        to_text = [text_at[key] - at for key, at in sent.items() if key in text_at]
        to_status = [status_at[key] - at for key, at in sent.items() if key in status_at]
        after_token = [
            text_at[key] - first_token[order[key]] for key in sent if key in text_at and order[key] in first_token
        ]
        methods = Counter(c["method"] for c in calls if c["status"] == 200)
        refused = Counter(c["method"] for c in calls if c["status"] != 200 or not c["response"].get("ok", True))
        answers = len(sent)
        appends = [c["at"] for c in calls if c["method"] == "chat.appendStream" and c["status"] == 200]
        return {
            "answers": answers,
            "answered": len(text_at),
            "event_to_first_status": ms(to_status),
            "event_to_first_text": ms(to_text),
            "model_time_to_first_token": ms(model_ttft),
            "first_token_to_first_text": ms(after_token),
            "calls_per_answer": round(sum(methods.values()) / answers, 2),
            "calls_per_answer_by_method": {m: round(n / answers, 2) for m, n in sorted(methods.items())},
            "refused_calls": dict(refused),
            "append_stream_most_in_60s": most_in_a_minute(appends),
        }


async def measure(bench: StreamBench) -> dict[str, Any]:
    await wait_until_listening(f"{bench.slack_url}/_calls", bench.processes[0])
    await wait_until_listening(f"{bench.model_url}/v1/models", bench.processes[1])
    result: dict[str, Any] = {
        "burst": bench.args.burst,
        "model_first_token_seconds": bench.args.first_token_seconds,
        "model_words_per_second": bench.args.words_per_second,
        "answer_words": bench.args.answer_words,
        "streamed": await bench.run("streamed", reflection=False),
    }
    if bench.args.with_reflection:
        result["with_reflection"] = await bench.run("reflect", reflection=True)
    streamed = result["streamed"]
    single_text = streamed["single"]["event_to_first_text"].get("p50_ms")
    single_ttft = streamed["single"]["model_time_to_first_token"].get("p50_ms")
    if single_text and single_ttft:
        result["first_text_to_model_ttft_ratio_p50"] = round(single_text / single_ttft, 2)
    burst = streamed["burst"]
    result["burst_append_stream_within_limit"] = burst["append_stream_most_in_60s"] <= APPEND_LIMIT_PER_MINUTE
    result["burst_calls_per_answer"] = burst["calls_per_answer"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Streamed answers in Slack: first words and Web API calls")
    parser.add_argument("--quick", action="store_true", help="2 single questions, a burst of 20, short answers")
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--single", type=int, default=5)
    parser.add_argument("--first-token-seconds", type=float, default=0.5)
    parser.add_argument("--words-per-second", type=float, default=30.0)
    parser.add_argument("--answer-words", type=int, default=120)
    parser.add_argument("--with-reflection", action="store_true", help="also the default configuration")
    parser.add_argument("--fake-slack", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--fake-model", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.fake_slack:
        run_fake_slack(args.fake_slack)
        return
    if args.fake_model:
        run_fake_model(args.fake_model, args.first_token_seconds, args.words_per_second, args.answer_words)
        return
    if args.quick:
        args.single, args.burst, args.answer_words, args.first_token_seconds = 2, 20, 30, 0.3
    home = Path(tempfile.mkdtemp(prefix="sbstream-", dir="/tmp"))
    home.chmod(0o755)
    bench = StreamBench(home, args)
    try:
        result = asyncio.run(measure(bench))
    finally:
        bench.close()
    for name in ("streamed", "with_reflection"):
        if name in result:
            single = result[name]["single"]
            print(
                f"{name}: first text p50 {single['event_to_first_text'].get('p50_ms')} ms "
                f"(model TTFT p50 {single['model_time_to_first_token'].get('p50_ms')} ms); "
                f"burst: {result[name]['burst']['calls_per_answer']} calls/answer"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
