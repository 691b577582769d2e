"""How evaluation runs behave (config-file table ``[evaluation]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The candidate fails when its pass rate of any grader is below the live version's by more than this.
    regression_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    # Cases answered at once (each is a full agent run).
    concurrency: int = Field(default=4, ge=1, le=32)
    # None runs every installed grader; a list keeps only those names.
    graders: list[str] | None = None
    # The cut-off of the retrieval grader (hit@k).
    retrieval_k: int = Field(default=5, ge=1, le=50)
    # Prompt name -> evaluation set: `/prompt set` makes a new version of such a prompt live only when it passes.
    gates: dict[str, str] = Field(default_factory=dict)
