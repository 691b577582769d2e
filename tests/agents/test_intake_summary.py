"""Reading the intake-summary prompt's answer into an intake, whatever shape the model wraps it in."""

from __future__ import annotations

import pytest

from agents.intake import CallTurn, parse_intake_draft, transcript_summary


def test_a_fenced_json_answer_is_read() -> None:
    draft = parse_intake_draft('Here you go:\n```json\n{"reason": "Password reset", "urgency": "high"}\n```')
    assert draft.reason == "Password reset" and draft.urgency == "high" and draft.follow_up is False


@pytest.mark.parametrize("answer", ["no json here", '{"reason": ""}', '{"reason": "x", "urgency": "extreme"}'])
def test_unusable_answers_are_refused(answer: str) -> None:
    with pytest.raises(ValueError):
        parse_intake_draft(answer)


def test_a_transcript_summary_uses_what_the_caller_said() -> None:
    turns = [
        CallTurn(speaker="assistant", text="Hello"),
        CallTurn(speaker="caller", text="My printer is jammed"),
        CallTurn(speaker="caller", text="It is on floor three"),
    ]
    summary = transcript_summary(turns, caller_number="+15550001111", follow_up_requested=True)
    assert summary.reason == "My printer is jammed"
    assert summary.details == "My printer is jammed / It is on floor three"
    assert summary.follow_up and summary.mode == "transcript"
