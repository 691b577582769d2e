"""How long a caller waits on the ConversationRelay line: the first spoken token and the silence after barge-in.

The real service app (``/phone/relay`` mounted as ``switchboard serve`` does, under uvicorn) with the real agent
runtime, hybrid retrieval over an indexed handbook and the embedded PostgreSQL, all on this process's event loop; the
model is the scripted server on loopback (tests/fakes/scripted_model.py), driven through the real OpenAI client and
streaming at a fixed pace: ``--first-token-ms`` before its first word, then one word every ``--token-ms``.

A real WebSocket client speaks Twilio's messages. Per turn it times ``prompt`` sent -> first ``text`` token back,
and, interleaved with it, the model's own time to first token through the same client (the baseline). The headline
is the ratio of the two p50s. Then it interrupts long answers mid-stream and times ``interrupt`` sent -> the last
token that still arrived (tokens have stopped once none comes for ``QUIET_SECONDS``).

Run: .venv/bin/python bench/phone_latency.py [--quick] [--turns N] [--first-token-ms 300] [--token-ms 20]
Last stdout line: one JSON object (latencies in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import uvicorn  # noqa: E402
from knowledge_bench_setup import MemorySource, embedded_database_url  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from agents import ChatMessage, ChatModel  # noqa: E402
from bot import Service, Settings, create_app  # noqa: E402
from bot.phone import PhoneConfig, PhoneLine  # noqa: E402
from knowledge import SourceDocument  # noqa: E402
from tests.fakes.http_server import free_port  # noqa: E402
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply  # noqa: E402

TOKEN = "bench-twilio-auth-token"  # noqa: S105 - the throw-away line this benchmark signs for
CALLER = "+15551230000"
LINE = "+15557650000"
QUESTION = "How many vacation days do I get each year?"
LONG_QUESTION = "Tell me everything about the vacation policy, please."
SHORT_ANSWER = "You get twenty five vacation days a year, and you book them in the HR portal [1]. " * 2
LONG_ANSWER = "Vacation days accrue monthly and carry over until March of the next year [1]. " * 30
QUIET_SECONDS = 0.5
TOKENS_BEFORE_INTERRUPT = 5
DEADLINE = 30.0
HANDBOOK = [
    SourceDocument(
        source="handbook",
        external_id=f"vacation-{n}",
        title=f"Vacation policy part {n}",
        url=f"https://handbook.example.com/vacation-{n}",
        content=f"## Vacation {n}\n\nEmployees get twenty five vacation days a year, booked in the HR portal. "
        "Unused days carry over until March. " * 6,
    )
    for n in range(1, 41)
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def paced(first_token_s: float, token_s: float) -> Any:
    def respond(body: dict[str, Any]) -> ScriptedReply:
        asks_long = LONG_QUESTION in json.dumps(body["messages"][-1]["content"])
        text = LONG_ANSWER if asks_long else SHORT_ANSWER
        return ScriptedReply(text=text.strip(), first_token_delay=first_token_s, token_interval=token_s)

    return respond


async def model_first_token_ms(model: ChatModel) -> float:
    """The baseline: the model's own time to first token through the same client, nothing of Switchboard around it."""
    messages = [ChatMessage(role="system", content="Answer briefly."), ChatMessage(role="user", content=QUESTION)]
    started = time.perf_counter()
    first: float | None = None
    async for event in model.stream(messages):
        if event.delta and first is None:
            first = time.perf_counter()
    assert first is not None, "the scripted model streamed no text"
    return (first - started) * 1000


async def receive(socket: ClientConnection, within: float = DEADLINE) -> dict[str, Any]:
    async with asyncio.timeout(within):
        return dict(json.loads(await socket.recv()))


async def open_call(url: str) -> ClientConnection:
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    socket = await connect(url, additional_headers={"X-Twilio-Signature": signature})
    call_sid = "CA" + uuid.uuid4().hex
    setup = {"type": "setup", "sessionId": "VX" + call_sid[2:], "callSid": call_sid, "from": CALLER, "to": LINE}
    await socket.send(json.dumps(setup))
    return socket


def prompt(words: str) -> str:
    return json.dumps({"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True})


async def relay_first_token_ms(url: str) -> float:
    """One call: ``prompt`` sent -> first ``text`` token received; the rest of the answer is read to its end."""
    socket = await open_call(url)
    try:
        started = time.perf_counter()
        await socket.send(prompt(QUESTION))
        message = await receive(socket)
        first = time.perf_counter()
        assert message["type"] == "text", message
        while not message["last"]:
            message = await receive(socket)
        return (first - started) * 1000
    finally:
        await socket.close()


async def interrupt_to_silence_ms(url: str) -> tuple[float, int]:
    """Interrupt a long answer after a few tokens; ms until the last token that still came, and how many came."""
    socket = await open_call(url)
    try:
        await socket.send(prompt(LONG_QUESTION))
        heard = []
        for _ in range(TOKENS_BEFORE_INTERRUPT):
            heard.append((await receive(socket))["token"])
        interrupted = time.perf_counter()
        message = {"type": "interrupt", "utteranceUntilInterrupt": "".join(heard)}
        await socket.send(json.dumps(message))
        last, after = interrupted, 0
        while True:
            try:
                message = await receive(socket, within=QUIET_SECONDS)
            except TimeoutError:
                break
            last, after = time.perf_counter(), after + 1
            assert not message.get("last"), "the long answer finished before the interrupt took effect"
        return (last - interrupted) * 1000, after
    finally:
        await socket.close()


async def run(database_url: str, model_server: ScriptedModelServer, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url,
        llm_provider="openai",
        llm_base_url=model_server.base_url,
        llm_api_key="bench-key",
        llm_model="scripted",
        llm_max_retries=0,
        twilio_auth_token=TOKEN,
        public_base_url=base,
        phone_voice_mode="relay",
    )
    service = await Service.start(settings, migrate=False)
    line = PhoneLine(
        PhoneConfig.from_settings(settings),
        service.sessions,
        runner=service.runner,
        chat_model=service.chat_model,
        slack=None,
        prompts=service.runner.prompts,
    )
    app = create_app(service, extra_routes=line.routes())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        summary = await service.sync_engine.sync(MemorySource("handbook", HANDBOOK))
        async with asyncio.timeout(DEADLINE):
            while not server.started:  # noqa: ASYNC110 - uvicorn has no started event; polled with a deadline
                await asyncio.sleep(0.01)
        model = service.chat_model
        assert model is not None
        url = base.replace("http://", "ws://") + "/phone/relay"
        for _ in range(args.warmup):
            await relay_first_token_ms(url)
            await model_first_token_ms(model)
        relay_ms: list[float] = []
        model_ms: list[float] = []
        for _ in range(args.turns):  # interleaved, so drift on a shared machine hits both alike
            relay_ms.append(await relay_first_token_ms(url))
            model_ms.append(await model_first_token_ms(model))
        silence: list[float] = []
        tokens_after: list[int] = []
        for _ in range(args.interrupts):
            elapsed, after = await interrupt_to_silence_ms(url)
            silence.append(elapsed)
            tokens_after.append(after)
        grounded = sum("Sources from the knowledge" in json.dumps(body) for body in model_server.requests)
    finally:
        server.should_exit = True
        await serving
        await line.aclose()
        await service.aclose()
    return {
        "turns": args.turns,
        "documents_indexed": summary.added,
        "model_first_token_delay_ms": args.first_token_ms,
        "model_token_interval_ms": args.token_ms,
        "relay_first_token_p50_ms": round(statistics.median(relay_ms), 2),
        "relay_first_token_p95_ms": round(percentile(relay_ms, 0.95), 2),
        "model_first_token_p50_ms": round(statistics.median(model_ms), 2),
        "model_first_token_p95_ms": round(percentile(model_ms, 0.95), 2),
        "overhead_p50_ms": round(statistics.median(relay_ms) - statistics.median(model_ms), 2),
        "ratio_p50": round(statistics.median(relay_ms) / statistics.median(model_ms), 3),
        "interrupts": args.interrupts,
        "interrupt_to_silence_p50_ms": round(statistics.median(silence), 2),
        "interrupt_to_silence_max_ms": round(max(silence), 2),
        "tokens_after_interrupt_max": max(tokens_after),
        "model_requests_with_sources": grounded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 turns, 5 interrupts (well under a minute)")
    parser.add_argument("--turns", type=int, default=None, help="measured turns (default 60, quick 15)")
    parser.add_argument("--first-token-ms", type=float, default=300.0, help="the model's wait before its first word")
    parser.add_argument("--token-ms", type=float, default=20.0, help="the model's wait between words")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args.turns = args.turns or (15 if args.quick else 60)
    args.interrupts = 5 if args.quick else 20
    args.warmup = 2
    model_server = ScriptedModelServer().start()
    model_server.responder = paced(args.first_token_ms / 1000, args.token_ms / 1000)
    try:
        with embedded_database_url() as database_url:
            result = asyncio.run(run(database_url, model_server, args))
    finally:
        model_server.stop()
    print(
        f"first token: relay p50 {result['relay_first_token_p50_ms']} ms vs model p50 "
        f"{result['model_first_token_p50_ms']} ms (ratio {result['ratio_p50']}) | interrupt to silence p50 "
        f"{result['interrupt_to_silence_p50_ms']} ms, max {result['interrupt_to_silence_max_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
