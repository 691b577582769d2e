"""The built-in graders: deterministic checks first (sources, facts, declining), retrieval, and an LLM judge."""

from __future__ import annotations

import logging
import re
from urllib.parse import urldefrag

from agents.answer_parsing import parse_json_object
from agents.errors import ModelError
from agents.evaluation.cases import EvaluationCase
from agents.evaluation.graders.abc import CaseOutcome, Grade, Grader, GradingContext
from agents.model_gateway import ChatMessage
from knowledge import SearchQuery

logger = logging.getLogger(__name__)

# How the bundled prompts (and most models) say the knowledge has no answer; matched case-insensitively.
DECLINING_PHRASES = (
    "could not find",
    "couldn't find",
    "cannot find",
    "can't find",
    "not in the knowledge",
    "does not contain",
    "doesn't contain",
    "no information",
    "don't know",
    "do not know",
    "nothing in the knowledge",
    "not able to find",
    "unable to find",
)
JUDGE_ANSWER_CHARS = 6_000


def source_matches(expected: str, url: str, external_id: str | None = None) -> bool:
    """Whether a cited or retrieved document is the expected one: the same URL (fragment ignored), the same
    document id, or a URL ending in the expected relative path (``it/vpn.md``)."""
    wanted = urldefrag(expected.strip())[0].rstrip("/")
    found = urldefrag(url)[0].rstrip("/")
    if not wanted:
        return False
    return wanted in (found, external_id) or found.endswith("/" + wanted.lstrip("/"))


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[`*_]", "", text).lower().split())


def declines(answer: str) -> bool:
    text = _normalised(answer)
    return any(phrase in text for phrase in DECLINING_PHRASES)


class CitesExpectedSource(Grader):
    name = "cites_source"
    description = "the answer cites at least one of the expected sources"

    async def grade(self, case: EvaluationCase, outcome: CaseOutcome, context: GradingContext) -> Grade | None:
        if not case.expected_sources or not case.answerable:
            return None
        cited = [c.url for c in outcome.citations]
        hits = [s for s in case.expected_sources if any(source_matches(s, url) for url in cited)]
        detail = f"cited {', '.join(cited) or 'nothing'}; expected one of {', '.join(case.expected_sources)}"
        return Grade(passed=bool(hits), score=len(hits) / len(case.expected_sources), detail=detail)


class ContainsExpectedFacts(Grader):
    name = "contains_facts"
    description = "every expected fact appears in the answer (case and spacing ignored)"

    async def grade(self, case: EvaluationCase, outcome: CaseOutcome, context: GradingContext) -> Grade | None:
        if not case.expected_facts or not case.answerable:
            return None
        answer = _normalised(outcome.answer)
        missing = [fact for fact in case.expected_facts if _normalised(fact) not in answer]
        found = len(case.expected_facts) - len(missing)
        detail = "all facts present" if not missing else "missing: " + "; ".join(missing)
        return Grade(passed=not missing, score=found / len(case.expected_facts), detail=detail)


class DeclinesWhenUnanswerable(Grader):
    name = "declines"
    description = "says the knowledge has no answer exactly when it has none"

    async def grade(self, case: EvaluationCase, outcome: CaseOutcome, context: GradingContext) -> Grade | None:
        declined = declines(outcome.answer)
        passed = declined != case.answerable
        if case.answerable:
            detail = "declined a question the knowledge answers" if declined else "answered"
        else:
            detail = "declined, as it should" if declined else "answered a question the knowledge cannot answer"
        return Grade(passed=passed, score=1.0 if passed else 0.0, detail=detail)


class RetrievesExpectedSource(Grader):
    name = "retrieval"
    description = "an expected source is among the top k passages retrieved for the question (hit@k)"

    async def grade(self, case: EvaluationCase, outcome: CaseOutcome, context: GradingContext) -> Grade | None:
        if context.retriever is None or not case.expected_sources or not case.answerable:
            return None
        passages = await context.retriever.search(
            SearchQuery(text=case.question, scope=context.scope, limit=max(context.retrieval_k * 4, 20))
        )
        documents: dict[str, str] = {}
        for passage in passages:
            documents.setdefault(passage.external_id, passage.url)
        ranked = list(documents.items())[: context.retrieval_k]
        ranks = [
            rank
            for rank, (external_id, url) in enumerate(ranked, start=1)
            if any(source_matches(s, url, external_id) for s in case.expected_sources)
        ]
        if not ranks:
            return Grade(passed=False, score=0.0, detail=f"no expected source in the top {context.retrieval_k}")
        return Grade(passed=True, score=1.0 / ranks[0], detail=f"first expected source at rank {ranks[0]}")


class LlmJudge(Grader):
    name = "judge"
    description = "the configured model, with the versioned `eval_judge` prompt, compares the answer to the case"

    async def grade(self, case: EvaluationCase, outcome: CaseOutcome, context: GradingContext) -> Grade | None:
        if context.model is None or context.judge_prompt is None:
            return None
        if case.answerable and not (case.expected_facts or case.reference_answer):
            return None
        facts = "\n".join(f"- {fact}" for fact in case.expected_facts) or "(none given)"
        user = (
            "<case>\n"
            f"<question>{case.question}</question>\n"
            f"<knowledge_has_answer>{'yes' if case.answerable else 'no'}</knowledge_has_answer>\n"
            f"<expected_facts>\n{facts}\n</expected_facts>\n"
            f"<reference_answer>{case.reference_answer or '(none given)'}</reference_answer>\n"
            f"<answer>{outcome.answer[:JUDGE_ANSWER_CHARS]}</answer>\n"
            "</case>"
        )
        version = f"eval_judge v{context.judge_prompt.version}"
        try:
            response = await context.model.complete(
                [ChatMessage(role="system", content=context.judge_prompt.text), ChatMessage(role="user", content=user)],
                temperature=0.0,
            )
        except ModelError as error:
            logger.warning("the judge could not grade case %s: %s", case.key, error)
            return Grade(passed=False, score=0.0, detail=f"{version}: the judge model failed ({error})")
        verdict = parse_json_object(response.text) or {}
        reasoning = str(verdict.get("reasoning") or "").strip()
        if verdict.get("verdict") not in ("pass", "fail"):
            return Grade(passed=False, score=0.0, detail=f"{version}: unreadable verdict: {response.text[:200]}")
        passed = verdict["verdict"] == "pass"
        return Grade(passed=passed, score=1.0 if passed else 0.0, detail=f"{version}: {reasoning}")


cites_source = CitesExpectedSource()
contains_facts = ContainsExpectedFacts()
declines_unanswerable = DeclinesWhenUnanswerable()
retrieval = RetrievesExpectedSource()
judge = LlmJudge()
