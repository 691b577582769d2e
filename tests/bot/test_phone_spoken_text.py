"""What a caller hears and what a person reads: spoken answers, masked numbers, the intake message."""

from __future__ import annotations

import json

from agents import Citation, IntakeSummary
from bot.phone import caller_user_id, mask_number, to_spoken_text
from bot.phone.intake_blocks import intake_blocks
from bot.phone.spoken_text import SpokenStream


def test_markdown_links_and_code_become_plain_sentences() -> None:
    answer = (
        "# Expenses\n\nSubmit receipts within **30 days** via [Expensify](https://expensify.example.com).\n"
        "1. Photograph the receipt\n2. Upload it at https://expenses.example.com/new\n\n"
        "```bash\nexpenses submit --all\n```\n| limit | amount |\n|---|---|\n| meals | 50 |"
    )
    spoken = to_spoken_text(answer, [Citation(title="Finance FAQ", url="https://wiki.example.com/finance")])
    assert spoken.startswith("Expenses. Submit receipts within 30 days via Expensify.")
    assert "Photograph the receipt." in spoken
    assert spoken.endswith("Source: Finance FAQ.")
    for forbidden in ("http", "example.com", "**", "`", "#", "|", "expenses submit"):
        assert forbidden not in spoken


def test_bare_hosts_with_paths_are_dropped_but_numbers_are_kept() -> None:
    spoken = to_spoken_text("Rated 4.5/5 by staff; details on handbook.example.org/benefits today.")
    assert spoken == "Rated 4.5/5 by staff; details on today."


def test_long_answers_are_cut_at_a_sentence_and_still_name_their_sources() -> None:
    answer = " ".join(f"Sentence number {i} is here." for i in range(100))
    citations = [Citation(title="A", url="https://a.example"), Citation(title="B", url="https://b.example")]
    spoken = to_spoken_text(answer, citations, max_chars=200)
    assert len(spoken) <= 200
    assert spoken.endswith("is here. Sources: A and B.")


def test_caller_numbers_are_masked_and_ids_do_not_reveal_them() -> None:
    assert mask_number("+15551234567") == "+1******4567"
    assert mask_number("") == "unknown"
    assert mask_number("1234") == "****"
    assert caller_user_id("+15551234567") == caller_user_id(" +15551234567 ")
    assert "5551234567" not in caller_user_id("+15551234567")


def test_the_intake_message_shows_a_masked_number_and_how_to_fetch_the_transcript() -> None:
    summary = IntakeSummary(
        caller_name=None,
        caller_number="+15551234567",
        reason="Laptop will not boot",
        details="Tried restarting twice.",
        urgency="high",
        promised="A person will call back.",
        follow_up=True,
        mode="model",
    )
    rendered = json.dumps(intake_blocks(summary, "CA123"))
    assert "+1******4567" in rendered and "+15551234567" not in rendered
    assert "call back requested" in rendered
    assert "switchboard phone transcript CA123" in rendered
    assert "not given" in rendered


def test_dates_and_abbreviations_are_said_as_a_person_would_say_them() -> None:
    spoken = to_spoken_text("Enrolment closes 2026-12-02 (e.g. for dental). The review is at 2026-03-05T14:30Z.")
    assert "December 2, 2026" in spoken and "for example" in spoken
    assert "March 5, 2026 at 14:30 UTC" in spoken
    assert "2026-12-02" not in spoken and "e.g." not in spoken


def test_dates_are_left_to_the_speech_engine_on_other_languages() -> None:
    assert "2026-12-02" in to_spoken_text("Frist: 2026-12-02.", language="de-DE")


def test_a_streamed_answer_says_dates_too() -> None:
    stream = SpokenStream()
    heard = stream.feed("Closes on 2026-") + stream.feed("12-02 at noon ") + stream.flush()
    assert heard == "Closes on December 2, 2026 at noon"
