"""``switchboard sync``, ``eval`` and ``ask`` over a real index: the commands a newcomer runs on the handbook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import main
from tests.agents.conftest import brain, chat_requests
from tests.fakes.scripted_model import ScriptedModelServer

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder_environment(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    """A config with one folder source in a temporary folder, against the module's test database."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nRotate the certificate with `nwvpn cert renew`.\n")
    (docs / "leave.md").write_text("# Leave\n\nParents get sixteen weeks of paid leave.\n")
    config = tmp_path / "switchboard.toml"
    config.write_text(f'[[sources]]\ntype = "folder"\nname = "docs"\npath = "{docs}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLM_PROVIDER", "none")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return docs


def test_sync_reports_what_changed_and_a_second_run_does_nothing(
    folder_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder_environment / "broken.txt").write_bytes(b"caf\xe9 au lait")

    assert main(["sync"]) == 0
    first = capsys.readouterr().out
    assert "docs: succeeded" in first and "2 added" in first and "1 failed" in first
    assert "failed: broken.txt: " in first and "UTF-8" in first  # the reason, so the user can fix the file

    (folder_environment / "leave.md").unlink()
    assert main(["sync", "docs"]) == 0
    second = capsys.readouterr().out
    assert "0 added" in second and "1 unchanged" in second and "1 deleted" in second


def test_sync_refuses_an_unknown_source_naming_the_known_ones(
    folder_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "wiki"]) == 1
    assert "no source named 'wiki' in the config file; configured: docs" in capsys.readouterr().err


@pytest.fixture(scope="module")
def handbook_synced(database_url: str) -> str:
    """The bundled handbook, synced once for this module through the real CLI and config file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPOSITORY)
        patch.setenv("SWITCHBOARD_CONFIG", str(REPOSITORY / "switchboard.toml"))
        patch.setenv("DATABASE_URL", database_url)
        patch.setenv("LLM_PROVIDER", "none")
        patch.setenv("LOG_LEVEL", "WARNING")
        assert main(["sync"]) == 0
    return database_url


@pytest.fixture
def handbook_environment(
    handbook_synced: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scripted_model: ScriptedModelServer
) -> ScriptedModelServer:
    config = tmp_path / "switchboard.toml"
    bundled = (
        (REPOSITORY / "switchboard.toml")
        .read_text()
        .replace("examples/handbook", str(REPOSITORY / "examples/handbook"))
    )
    config.write_text(bundled + '\n[groups]\nhr = ["U-HR"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", handbook_synced)
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_BASE_URL", scripted_model.base_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return scripted_model


def test_ask_answers_from_the_handbook_with_its_sources(
    handbook_environment: ScriptedModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    handbook_environment.responder = brain(act=["On a Mac, run `nwvpn cert renew` in Terminal [1]."])

    assert main(["ask", "How do I rotate the VPN certificate on my Mac?", "--json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["answer"].startswith("On a Mac, run `nwvpn cert renew`")
    assert printed["sources"][0]["url"] == "https://handbook.northwind.example/it/vpn-certificate-rotation.md#on-macos"
    assert printed["prompt_versions"]["answer"] == 1
    # The model was shown the handbook's real passage to answer from.
    drafted = chat_requests(handbook_environment, "act")[0]
    assert "Keychain Access" in json.dumps(drafted["messages"])


def test_restricted_pages_reach_only_their_readers(
    handbook_environment: ScriptedModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "What is the salary band for an IC3 engineer in Berlin?"
    handbook_environment.responder = brain()

    assert main(["ask", question, "--user", "U-OUTSIDER", "--json"]) == 0
    outsider = capsys.readouterr().out
    assert "compensation-bands" not in outsider
    assert "Compensation Bands" not in json.dumps(handbook_environment.requests)

    handbook_environment.reset()
    handbook_environment.responder = brain()
    assert main(["ask", question, "--user", "U-HR", "--json"]) == 0
    capsys.readouterr()
    assert "Compensation Bands" in json.dumps(handbook_environment.requests)


def test_eval_measures_each_method_on_the_labelled_handbook_questions(
    handbook_environment: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "none")
    questions = REPOSITORY / "examples/handbook_questions.jsonl"
    assert main(["eval", "--questions", str(questions), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 40
    assert set(report["methods"]) == {"fulltext", "vector", "hybrid"}
    hybrid = report["methods"]["hybrid"]
    assert hybrid["hit"] >= 0.9
    assert hybrid["ndcg"] >= max(report["methods"]["fulltext"]["ndcg"], report["methods"]["vector"]["ndcg"])
