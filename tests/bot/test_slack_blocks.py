"""Block Kit rendering and Markdown conversion on their own, and the app manifest the CLI prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents import AgentAnswer, Citation, ProgressEvent
from bot import SettingsError, load_settings, main
from bot.markdown_rendering import markdown_to_mrkdwn
from bot.slack.blocks import answer_messages, split_text, working_message


def test_markdown_becomes_slack_mrkdwn() -> None:
    markdown = (
        "## Deploying\n"
        "Use **blue/green** and *never* ~~friday~~ deploys; 1 < 2 & 3 > 2.\n"
        "- see [the runbook](https://runbook.example/a_b)\n"
        "```bash\nmake deploy ENV=prod\n```\n"
        "Run `x**2` inline."
    )
    assert markdown_to_mrkdwn(markdown) == (
        "*Deploying*\n\n"
        "Use *blue/green* and _never_ ~friday~ deploys; 1 &lt; 2 &amp; 3 &gt; 2.\n\n"
        "• see the runbook (https://runbook.example/a_b)\n\n"
        "```\nmake deploy ENV=prod\n```\n\n"
        "Run `x**2` inline."
    )
    # A link to one of the answer's own sources stays a link.
    own = markdown_to_mrkdwn(markdown, own_links=["https://runbook.example/a_b"])
    assert "• see <https://runbook.example/a_b|the runbook>" in own


def test_untrusted_markup_reaches_slack_inert() -> None:
    markdown = (
        "Hey <!channel> and <!here>, ask <@U999> or <!subteam^S0TEAM|oncall>; see "
        "<https://evil.example|https://trusted.example> or [https://trusted.example](https://evil.example) "
        "& `<@U1>`.\n\n- <#C0SECRET>\n\n```\n<!everyone>\n```\n\n| a <!here> |\n|---|\n| <@U2> |"
    )
    rendered = markdown_to_mrkdwn(markdown)
    for live in ("<!channel>", "<!here>", "<@U999>", "<!subteam", "<https://", "<#C0SECRET>", "<!everyone>", "<@U"):
        assert live not in rendered
    assert "&lt;!channel&gt;" in rendered and "&lt;@U999&gt;" in rendered and "&amp;" in rendered
    assert "&lt;!subteam^S0TEAM|oncall&gt;" in rendered
    # What a disguised link shows is where it goes.
    assert "https://trusted.example (https://evil.example)" in rendered
    assert "https://evil.example|https://trusted.example" in rendered


def test_split_text_keeps_pieces_within_the_limit_and_code_blocks_closed() -> None:
    text = "intro\n\n```\n" + "\n".join(f"line {n}" for n in range(800)) + "\n```\n\noutro"
    pieces = split_text(text, 3000)
    assert len(pieces) > 1
    assert all(len(piece) <= 3000 and piece.count("```") % 2 == 0 for piece in pieces)
    assert "line 799" in pieces[-1] or "line 799" in pieces[-2]


def test_split_text_moves_a_code_block_that_fits_to_the_next_piece_whole() -> None:
    code = "```\n" + "\n".join(f"    step {n}: run   it" for n in range(40)) + "\n```"
    text = "word " * 500 + "\n\n" + code + "\n\nafter"
    pieces = split_text(text, 3000)
    assert any(code in piece for piece in pieces)  # whole, indentation and inner spaces kept
    assert all(len(piece) <= 3000 and piece.count("```") % 2 == 0 for piece in pieces)


def test_split_text_never_cuts_inside_a_link_mention_or_escape() -> None:
    link = "<https://handbook.example/a/very/long/path/to/the/deploy/guide|the deploy guide with a long title>"
    text = " ".join(f"{link} &amp; <@U123> x{n}" for n in range(200))
    pieces = split_text(text, 500)
    assert len(pieces) > 5
    for piece in pieces:
        assert len(piece) <= 500
        assert piece.count("<") == piece.count(">")  # every link and mention whole
        assert "&amp;" in piece and "&am " not in piece and not piece.endswith(("&", "&a", "&am", "&amp"))
    assert " ".join(pieces) == text


def test_split_text_cuts_a_code_block_longer_than_a_piece_at_a_line_and_keeps_its_lines() -> None:
    lines = [f"  line {n} with  two spaces" for n in range(300)]
    text = "```\n" + "\n".join(lines) + "\n```"
    pieces = split_text(text, 1000)
    assert len(pieces) > 3
    assert all(len(piece) <= 1000 and piece.startswith("```\n") and piece.endswith("\n```") for piece in pieces)
    kept = [line for piece in pieces for line in piece.split("\n") if line != "```"]
    assert kept == lines


def test_answer_message_has_sources_notes_footer_and_feedback_buttons() -> None:
    answer = AgentAnswer(
        text="Use the **VPN**.",
        citations=[
            Citation(title="VPN guide", url="https://it.example/vpn"),
            Citation(title="VPN guide", url="https://it.example/vpn"),
        ],
        trace_id="t123",
        prompt_versions={"answer": 4, "planner": 2},
        notes=["The budget ran out; this is the best answer so far."],
    )
    [message] = answer_messages(answer, notes=["I could not read scan.pdf."])
    sections = [block["text"]["text"] for block in message.blocks if block["type"] == "section"]
    assert sections[0] == "Use the *VPN*."
    assert any("budget ran out" in s for s in sections) and any("scan.pdf" in s for s in sections)
    assert sections[-1] == "*Sources*\n• <https://it.example/vpn|VPN guide>"
    footer = message.blocks[-3]["elements"][0]["text"]
    assert footer.startswith("prompt answer v4 · planner v2")
    # Slack's native thumbs on the edited message too (a context_actions block), each carrying the trace id.
    feedback = message.blocks[-2]
    assert feedback["type"] == "context_actions"
    [thumbs] = feedback["elements"]
    assert thumbs["type"] == "feedback_buttons" and thumbs["action_id"] == "feedback"
    assert (thumbs["positive_button"]["value"], thumbs["negative_button"]["value"]) == ("up:t123", "down:t123")
    actions = message.blocks[-1]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [("curated_open", "t123")]


def test_an_answer_with_a_table_goes_in_a_markdown_block_escaped_like_streamed_text() -> None:
    table = "| Plan | Seats |\n|---|---|\n| Team <!channel> | 10 |\n| [Pro](https://evil.example) | 50 |"
    answer = AgentAnswer(text=f"Plans:\n\n{table}", trace_id="t1")
    [message] = answer_messages(answer)
    body = message.blocks[0]
    assert body["type"] == "markdown"
    assert "| Plan | Seats |" in body["text"] and "|---|---|" in body["text"]
    assert "<!channel>" not in body["text"] and "\\<\\!channel\\>" in body["text"]
    assert "[Pro](" not in body["text"]  # a model's link is inert, as in a stream
    assert "Plans:" in message.text
    # Without a table, mrkdwn sections as before.
    [plain] = answer_messages(AgentAnswer(text="No table here.", trace_id="t2"))
    assert plain.blocks[0]["type"] == "section"


def test_many_short_paragraphs_respect_the_block_limit() -> None:
    answer = AgentAnswer(text="\n\n".join("x" * 2900 for _ in range(60)), trace_id="t")
    messages = answer_messages(answer)
    assert len(messages) >= 2
    assert all(len(m.blocks) <= 50 and len(m.text) <= 40_000 for m in messages)
    assert messages[-1].blocks[-1]["type"] == "actions"


def test_working_message_names_the_stage() -> None:
    assert (
        "Searching the knowledge base: wiki…" in working_message(ProgressEvent(stage="searching", detail="wiki")).text
    )


def test_slack_manifest_cli_points_events_commands_and_interactivity_at_the_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(str(tmp_path))
    assert main(["slack-manifest", "--url", "https://bot.example.com/"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    url = "https://bot.example.com/slack/events"
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert {"app_mention", "message.im", "message.channels"} <= set(
        manifest["settings"]["event_subscriptions"]["bot_events"]
    )
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == {"/prompt", "/kb", "/schedule", "/memory"}
    assert all(c["url"] == url for c in manifest["features"]["slash_commands"])
    assert {"chat:write", "app_mentions:read", "commands", "files:read", "assistant:write"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )
    # An AI app: conversations in its messages tab (agent view), and a Home tab.
    assert "agent_view" in manifest["features"] and "assistant_view" not in manifest["features"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert main(["slack-manifest", "--url", "https://bot.example.com/", "--assistant-view"]) == 0
    older = json.loads(capsys.readouterr().out)
    assert "assistant_view" in older["features"] and "agent_view" not in older["features"]
    assert {"assistant_thread_started", "assistant_thread_context_changed"} <= set(
        older["settings"]["event_subscriptions"]["bot_events"]
    )


def test_the_manifest_names_the_events_path_without_building_the_bolt_app() -> None:
    # A fresh interpreter, so modules other tests imported do not count.
    probe = (
        "import sys, bot.slack.manifest; print(sorted(m for m in ('bot.slack.app', 'slack_bolt') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_channel_settings_and_groups_load_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        '[channels.C0123]\nsources = ["handbook"]\nrespond_to = "all"\n\n[groups]\nsecurity = ["U1", "U2"]\n'
    )
    settings = load_settings(config)
    assert settings.channels["C0123"].sources == ["handbook"]
    assert settings.channels["C0123"].respond_to == "all"
    assert settings.groups == {"security": ["U1", "U2"]}
    config.write_text('[channels.C0123]\nrespond_to = "sometimes"\n')
    with pytest.raises(SettingsError, match="respond_to"):
        load_settings(config)
