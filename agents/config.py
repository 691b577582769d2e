"""How much one run may spend, and how much conversation it keeps; built by the service's settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.trace_privacy import TracePrivacyConfig


class CuratedConfig(BaseModel):
    """How later questions are matched to curated answers (config-file section ``[agent.curated]``).

    The match score is a weighted mean of a lexical score (IDF-weighted overlap of the two questions' stemmed
    words) and a semantic one (cosine similarity of their embeddings). Defaults were tuned on one set of paraphrases
    and reported on another (bench/curated_match.py, bench/RESULTS.md).
    """

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    # From this score on, a question is answered from the curated answer, without a model call.
    # Tuned for F0.5 (precision first: a wrong curated answer costs more than a model call) on the offline embedder.
    threshold: float = Field(default=0.49, ge=0.0, le=1.0)
    lexical_weight: float = Field(default=0.4, ge=0.0)
    semantic_weight: float = Field(default=0.6, ge=0.0)
    # Below the threshold but from this score on, curated answers are given to the agent as context.
    context_threshold: float = Field(default=0.35, ge=0.0, le=1.0)
    context_limit: int = Field(default=2, ge=0, le=10)


class AgentConfig(BaseModel):
    """Budgets and memory sizes for the answer graph (config-file section ``[agent]``)."""

    model_config = ConfigDict(frozen=True)

    # Model calls plus tool calls in one run; when any budget runs out the user gets the best answer so far.
    max_steps: int = Field(default=10, ge=2, le=100)
    max_seconds: float = Field(default=120.0, gt=0)
    max_tokens: int = Field(default=40_000, ge=500)
    # Reflection critiques every draft (one model call); off trades the check for latency (e.g. the phone line).
    reflection: bool = True
    # How often reflection may send a draft back for revision.
    max_revisions: int = Field(default=1, ge=0, le=5)
    # Earlier turns of the thread kept verbatim; older ones are folded into a running summary.
    history_token_budget: int = Field(default=2_000, ge=100)
    retrieval_limit: int = Field(default=6, ge=1, le=20)
    memory_recall_limit: int = Field(default=5, ge=0, le=20)
    # Recalled memories scoring below this similarity are left out of the prompt.
    memory_min_score: float = Field(default=0.2, ge=-1.0, le=1.0)
    # Tool arguments and results are cut to this many characters in traces.
    trace_text_chars: int = Field(default=2_000, ge=100)
    # Live prompt versions are re-read at most this often per process (a change on this replica shows at once).
    prompt_cache_seconds: float = Field(default=2.0, ge=0.0, le=300.0)
    # `[agent.trace_privacy]`: what is redacted from traces before they are stored, and how long they are kept.
    trace_privacy: TracePrivacyConfig = Field(default_factory=TracePrivacyConfig)
    # None enables every installed tool; a list keeps only those names.
    enabled_tools: list[str] | None = None
    # `[agent.curated]`: when an expert's correction answers a later question.
    curated: CuratedConfig = Field(default_factory=CuratedConfig)
