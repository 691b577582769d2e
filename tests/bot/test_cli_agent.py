"""``switchboard ask`` and ``switchboard chat`` from the outside: real CLI entry point, database and loopback model.

The service has no knowledge index in this branch (the index branch wires its HybridRetriever into Service), so
these tests check the command shapes and the conversation features, not retrieval quality.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot import main
from tests.agents.conftest import brain
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply, ScriptedToolCall


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, scripted_model: ScriptedModelServer, tmp_path: Path
) -> ScriptedModelServer:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SWITCHBOARD_HOME": str(tmp_path / "home"),
        "DATABASE_URL": database_url,
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": scripted_model.base_url,
        "LLM_MODEL": "scripted",
        "EMBEDDINGS_PROVIDER": "openai",
        "EMBEDDINGS_BASE_URL": scripted_model.base_url,
        "EMBEDDINGS_MODEL": "scripted",
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    return scripted_model


def test_ask_json_prints_one_object_with_the_contract_fields(
    environment: ScriptedModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.responder = brain(act=["That is not in the knowledge I can see."])

    assert main(["ask", "How do I rotate the VPN certificate?", "--user", "U1", "--json"]) == 0

    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    printed = json.loads(out[0])
    assert printed["answer"] == "That is not in the knowledge I can see."
    assert printed["sources"] == []
    assert isinstance(printed["trace_id"], str) and printed["trace_id"]
    assert printed["prompt_versions"] == {"answer": 1, "reflection": 1}
    assert printed["mode"] == "agent"
    assert printed["notes"] == []


def test_ask_json_without_a_model_is_retrieval_only(
    environment: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "none")

    assert main(["ask", "How do I rotate the VPN certificate?", "--json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["mode"] == "retrieval-only"
    assert printed["prompt_versions"] == {}
    assert printed["answer"].startswith("Retrieval-only")


def test_chat_remembers_lists_and_forgets(
    environment: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    remember = ScriptedToolCall(name="remember", arguments={"text": "I am on the platform team"})
    environment.responder = brain(act=[ScriptedReply(tool_calls=[remember]), "Noted.", "You said so earlier."])
    typed = "remember that I am on the platform team\nwhat did I just say?\n/memories\n/forget 1\n/memories\n/quit\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))

    assert main(["chat", "--user", "U5"]) == 0

    out = capsys.readouterr().out
    assert "switchboard> Noted." in out
    assert "switchboard> You said so earlier." in out
    assert "1. I am on the platform team" in out
    assert "Forgotten: I am on the platform team" in out
    assert "I remember nothing about you yet." in out
    # The second question was asked in the same thread: the model saw the first exchange.
    last = [r for r in environment.requests if "messages" in r and "Noted." in json.dumps(r["messages"])]
    assert last


def test_prompts_commands_change_and_roll_back(
    environment: ScriptedModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompts", "set", "answer", "--text", "Answer tersely.", "--author", "U_ED"]) == 0
    assert main(["prompts", "rollback", "answer", "v1", "--author", "U_ED"]) == 0
    assert main(["prompts", "history", "answer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "answer v2 is live"
    assert out[1] == "answer v3 is live (the text of v1)"
    assert out[2].startswith("v3    live") and out[2].endswith("U_ED - rollback to v1")
    assert main(["prompts", "show", "nope"]) == 1
    assert "no prompt named 'nope'" in capsys.readouterr().err
