"""``switchboard eval import|export|run``: a set of cases in the database, answered by two prompt versions with the
scripted model; the run's exit code gates a prompt change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import main
from tests.agents.conftest import ACCEPT, role_of
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply

GOOD_PROMPT = "GOOD: answer from the sources, with the exact command, citing them."
BAD_PROMPT = "BAD: be vague."
CASES = [
    {
        "question": "How do I renew the VPN certificate?",
        "expected_facts": ["nwvpn cert renew"],
        "expected_sources": ["vpn.md"],
        "answerable": True,
    },
    {
        "question": "What is the office wifi password on Mars?",
        "expected_facts": [],
        "expected_sources": [],
        "answerable": False,
    },
]


def evaluation_model(body: dict[str, Any]) -> ScriptedReply:
    """A GOOD prompt answers with the command and cites passage 1; a BAD one does not; the judge passes an answer
    that contains the command or declines the unanswerable question."""
    system = str(body["messages"][0]["content"])
    if system.startswith("You grade an answer"):
        case = str(body["messages"][1]["content"])
        answer = case.split("<answer>", 1)[1]
        fine = "nwvpn cert renew" in answer or ("Mars" in case and "could not find" in answer)
        return ScriptedReply(text=json.dumps({"reasoning": "checked", "verdict": "pass" if fine else "fail"}))
    if role_of(body) == "reflect":
        return ScriptedReply(text=ACCEPT)
    question = str(body["messages"][-1]["content"])
    if "Mars" in question:
        return ScriptedReply(text="I could not find that in the knowledge.")
    if system.startswith(GOOD_PROMPT):
        return ScriptedReply(text="Run `nwvpn cert renew` in a terminal [1].")
    return ScriptedReply(text="Ask someone in IT, they know about certificates.")


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, scripted_model: ScriptedModelServer
) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nRenew the VPN certificate with `nwvpn cert renew`.\n")
    (docs / "leave.md").write_text("# Leave\n\nParents get sixteen weeks of paid leave.\n")
    config = tmp_path / "switchboard.toml"
    config.write_text(
        f'[[sources]]\ntype = "folder"\nname = "docs"\npath = "{docs}"\nbase_url = "https://docs.example/"\n'
        "[evaluation]\nregression_threshold = 0.1\nconcurrency = 2\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_BASE_URL", scripted_model.base_url)
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    scripted_model.responder = evaluation_model
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(case) + "\n" for case in CASES))
    assert main(["sync"]) == 0
    return cases


def _live_version(capsys: pytest.CaptureFixture[str]) -> int:
    capsys.readouterr()
    assert main(["prompts", "show", "answer"]) == 0
    return int(capsys.readouterr().out.split(" v", 1)[1].split(" ", 1)[0])


def test_export_then_import_reproduces_a_set_and_an_edit_makes_a_new_version(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "import", "--set", "round-trip", str(environment)]) == 0
    assert "2 added, 0 changed (new versions), 0 unchanged" in capsys.readouterr().out
    exported = tmp_path / "exported.jsonl"
    assert main(["eval", "export", "--set", "round-trip", str(exported)]) == 0

    assert main(["eval", "import", "--set", "copy", str(exported)]) == 0
    assert "2 added" in capsys.readouterr().out
    assert main(["eval", "export", "--set", "copy"]) == 0
    assert capsys.readouterr().out == exported.read_text()
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    for written, read in zip(CASES, rows, strict=True):
        assert {k: read[k] for k in written} == written

    # The same file again changes nothing; an edited case becomes version 2 of the same key.
    assert main(["eval", "import", "--set", "copy", str(exported)]) == 0
    assert "0 added, 0 changed (new versions), 2 unchanged" in capsys.readouterr().out
    rows[0]["expected_facts"] = ["nwvpn cert renew", "Terminal"]
    exported.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["eval", "import", "--set", "copy", str(exported)]) == 0
    assert "0 added, 1 changed (new versions), 1 unchanged" in capsys.readouterr().out


def test_import_names_the_bad_line(environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(CASES[0]) + "\n" + '{"expected_facts": []}\n')
    assert main(["eval", "import", "--set", "broken", str(bad)]) == 1
    assert f"{bad}:2: question: Field required" in capsys.readouterr().err
    assert main(["eval", "export", "--set", "broken"]) == 1
    assert "no evaluation set named 'broken'" in capsys.readouterr().err


def test_run_exits_1_when_the_candidate_is_worse_than_live_and_0_when_it_is_not(
    environment: Path, capsys: pytest.CaptureFixture[str], scripted_model: ScriptedModelServer
) -> None:
    assert main(["eval", "import", "--set", "vpn", str(environment)]) == 0
    assert main(["prompts", "set", "answer", "--text", BAD_PROMPT]) == 0
    assert main(["prompts", "set", "answer", "--text", GOOD_PROMPT]) == 0
    good = _live_version(capsys)
    bad = good - 1

    assert main(["eval", "run", "--set", "vpn", "--prompt", "answer", "--version", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["live"] == {
        "cites_source": 1.0,
        "contains_facts": 1.0,
        "declines": 1.0,
        "judge": 1.0,
        "retrieval": 1.0,
    }
    assert report["candidate"]["contains_facts"] == 0.0 and report["candidate"]["judge"] == 0.5
    assert report["candidate"]["declines"] == 1.0 and report["candidate"]["retrieval"] == 1.0
    assert set(report["regressions"]) == {"cites_source", "contains_facts", "judge"}
    assert (report["candidate_version"], report["live_version"], report["passed"]) == (bad, good, False)
    changed = {(d["grader"], d["before"], d["after"]) for d in report["differences"]}
    assert ("contains_facts", True, False) in changed
    assert report["runs"]["candidate"]["input_tokens"] > 0

    assert main(["eval", "run", "--set", "vpn", "--prompt", "answer", "--version", f"v{good}"]) == 0
    table = capsys.readouterr().out
    assert f"answer v{good} (candidate) against v{good} (live) on set vpn: 2 cases" in table
    assert "contains_facts       1.000     1.000   +0.000" in table
    assert "PASSED" in table

    run_ids = (report["runs"]["live"]["run_id"], report["runs"]["candidate"]["run_id"])
    assert main(["eval", "diff", str(run_ids[0]), str(run_ids[1])]) == 0
    assert "contains_facts: pass -> FAIL" in capsys.readouterr().out


def test_retrieval_eval_with_questions_still_works_beside_the_subcommands(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": "renew the VPN certificate", "relevant": ["vpn.md"]}) + "\n")
    assert main(["eval", "--questions", str(questions), "--k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 1 and report["methods"]["hybrid"]["hit"] == 1.0


def test_traces_list_filters_by_prompt_version_and_show_prints_one_run_in_full(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompts", "set", "answer", "--text", GOOD_PROMPT]) == 0
    good = _live_version(capsys)
    assert main(["ask", "How do I renew the VPN certificate?", "--user", "U-TRACE", "--json"]) == 0
    trace_id = json.loads(capsys.readouterr().out)["trace_id"]

    assert main(["traces", "list", "--user", "U-TRACE", "--prompt", "answer", "--version", str(good), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["trace_id"], row["channel"], row["prompt_versions"]["answer"]) == (trace_id, "cli", good)
    assert main(["traces", "list", "--user", "U-TRACE", "--rating", "down", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    assert main(["traces", "show", trace_id]) == 0
    shown = capsys.readouterr().out
    assert f"trace_id         {trace_id}" in shown and f"answer v{good}" in shown
    assert "search_knowledge" in shown and "nwvpn cert renew" in shown and "reflection:" in shown
    assert main(["traces", "daily"]) == 0
    assert f"v{good}" in capsys.readouterr().out


def test_a_gated_prompt_set_from_the_cli_goes_live_only_if_it_passes_its_set(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(config.read_text().replace("[evaluation]\n", '[evaluation]\ngates = { answer = "vpn" }\n'))
    assert main(["eval", "import", "--set", "vpn", str(environment)]) == 0
    assert main(["prompts", "set", "answer", "--text", GOOD_PROMPT]) == 0
    good = _live_version(capsys)

    assert main(["prompts", "set", "answer", "--text", BAD_PROMPT]) == 1
    refused = capsys.readouterr().out
    assert f"answer v{good + 1} was stored but not made live" in refused and "contains_facts by 1.00" in refused
    assert _live_version(capsys) == good
    # A rollback is the way out of a bad live version, so it is not gated.
    assert main(["prompts", "rollback", "answer", "v1"]) == 0
    assert _live_version(capsys) == good + 2
