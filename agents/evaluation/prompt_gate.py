"""The evaluation gate on a prompt change: new text becomes live only if its evaluation set does not get worse.

One rule for every way a prompt changes (``/prompt set`` in Slack, ``switchboard prompts set``): the text is stored
as a candidate version, the set named in ``[evaluation] gates`` is answered with it and with the live version, and
the candidate is promoted only when no grader's pass rate drops beyond the threshold. A rollback is not gated: it
restores text that was live before, and it is the way out when a live version misbehaves.
"""

from __future__ import annotations

from pydantic import BaseModel

from agents.evaluation.runs import Comparison, EvaluationRunner
from agents.prompts import PromptStore, PromptVersion


class GatedChange(BaseModel):
    """What became of one gated change: the stored candidate, whether it went live, and the comparison."""

    set_name: str
    before: PromptVersion
    candidate: PromptVersion
    live: PromptVersion
    comparison: Comparison

    @property
    def promoted(self) -> bool:
        return self.live.version == self.candidate.version

    @property
    def dropped(self) -> str:
        """The graders that got worse and by how much, e.g. ``judge by 0.50, cites_source by 1.00``."""
        return ", ".join(f"{grader} by {drop:.2f}" for grader, drop in self.comparison.regressions.items())


class PromptGate:
    """Which prompts are gated, and the gated way to change them."""

    def __init__(self, prompts: PromptStore, evaluation: EvaluationRunner) -> None:
        self._prompts = prompts
        self._evaluation = evaluation

    def set_for(self, prompt_name: str) -> str | None:
        """The evaluation set gating ``prompt_name``, or None when changes to it go live at once."""
        return self._evaluation.config.gates.get(prompt_name)

    async def change(self, name: str, text: str, author: str, note: str) -> GatedChange:
        """Store ``text`` as a candidate version, compare it with the live one, and promote it if it passed.

        Raises:
            ValueError: ``name`` is not gated (call ``PromptStore.set`` instead).
            PromptError, EvaluationError: from the store or the run, with a message for the user.
        """
        set_name = self.set_for(name)
        if set_name is None:
            raise ValueError(f"prompt {name!r} is not gated by an evaluation set")
        before = await self._prompts.get(name)
        candidate = await self._prompts.propose(name, text, author, note=note)
        comparison = await self._evaluation.compare(set_name, name, candidate.version)
        live = await self._prompts.promote(name, candidate.version, author) if comparison.passed else before
        return GatedChange(set_name=set_name, before=before, candidate=candidate, live=live, comparison=comparison)
