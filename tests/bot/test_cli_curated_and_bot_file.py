"""The command line end to end: ``switchboard curated ...`` writes a correction that ``ask`` then serves without a
model call; ``switchboard export`` / ``apply`` round-trip the bot, apply twice is a no-op, a bad file is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot import main
from tests.agents.conftest import brain, chat_requests
from tests.fakes.scripted_model import ScriptedModelServer


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, scripted_model: ScriptedModelServer
) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nRenew the VPN certificate with `nwvpn cert renew`.\n")
    config = tmp_path / "switchboard.toml"
    config.write_text(
        f'[[sources]]\ntype = "folder"\nname = "docs"\npath = "{docs}"\nbase_url = "https://docs.example/"\n'
        "sync_interval_minutes = 60\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_BASE_URL", scripted_model.base_url)
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    scripted_model.responder = brain(act_default="The model's answer.")
    assert main(["sync"]) == 0
    return tmp_path


def test_a_correction_from_the_cli_is_served_by_ask_with_no_model_call(
    environment: Path, scripted_model: ScriptedModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    question = "How do I renew the VPN certificate?"
    assert main(["curated", "add", question, "Run `nwvpn cert renew`.", "--source", "vpn.md"]) == 0
    assert "v1\tactive" in capsys.readouterr().out
    scripted_model.reset()
    scripted_model.responder = brain(act_default="The model's answer.")
    assert main(["ask", "how can I renew the VPN certificate?", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["mode"] == "curated" and answer["answer"] == "Run `nwvpn cert renew`."
    assert answer["sources"][0]["url"] == "https://docs.example/vpn.md" and answer["verified"]["author"]
    assert chat_requests(scripted_model) == []
    assert main(["curated", "list"]) == 0
    assert "1 hits" in capsys.readouterr().out
    assert main(["curated", "retire", "1"]) == 0
    assert "retired" in capsys.readouterr().out


def test_export_apply_round_trip_and_a_bad_file_from_the_cli(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot_file = environment / "bot.toml"
    assert main(["export", "-o", str(bot_file)]) == 0
    capsys.readouterr()
    assert main(["apply", str(bot_file), "--yes"]) == 0
    assert "nothing to change" in capsys.readouterr().out

    text = bot_file.read_text()
    changed = re.sub(
        r'\[prompts\.planner\]\nversion = 1\ntext = """.*?"""\n',
        '[prompts.planner]\nversion = 1\ntext = "Plan."\n',
        text,
        flags=re.S,
    )
    assert changed != text
    changed = changed.replace("sync_interval_minutes = 60", "sync_interval_minutes = 15")
    bot_file.write_text(changed)
    assert main(["apply", str(bot_file), "--yes"]) == 0
    out = capsys.readouterr().out
    assert '+text = "Plan."' in out and "+sync_interval_minutes = 15" in out
    assert "applied: prompt planner: new live version v2" in out
    assert "sync_interval_minutes = 15" in (environment / "switchboard.toml").read_text()
    assert main(["apply", str(bot_file), "--yes"]) == 0
    assert "nothing to change" in capsys.readouterr().out

    bot_file.write_text(changed.replace("[[sources]]", "[[sources]]\nflavour = 1", 1))
    assert main(["apply", str(bot_file), "--yes"]) == 1
    error = capsys.readouterr().err
    assert "line" in error and "flavour" in error
