"""Errors raised by the agent layer; the edges (CLI, Slack, phone, scheduler) turn them into messages."""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error the agents package raises."""


class ModelError(AgentError):
    """The chat model could not produce an answer."""


class ModelNotConfiguredError(ModelError, LookupError):
    """A model call was attempted in retrieval-only mode (``LLM_PROVIDER=none``)."""


class ModelUnavailableError(ModelError, ConnectionError):
    """The model endpoint kept failing (429, 5xx or connection errors) after every retry."""


class ModelTimeoutError(ModelError, TimeoutError):
    """The model endpoint did not answer within the configured timeout, retries included."""


class ModelRequestError(ModelError, ValueError):
    """The model endpoint rejected the request (4xx other than 429): wrong model name, key or arguments."""


class ScheduleError(AgentError):
    """Root of the errors about scheduled agent tasks (``/schedule``)."""


class SchedulePhraseError(ScheduleError, ValueError):
    """WHEN is neither an accepted phrase nor a valid cron expression; the message lists the accepted forms."""


class ScheduleInputError(ScheduleError, ValueError):
    """A schedule's channel, instruction or time zone is unusable; the message says what is expected."""


class ScheduleNotFoundError(ScheduleError, LookupError):
    """No schedule has the given id (or it was removed)."""

    def __init__(self, schedule_id: int) -> None:
        super().__init__(f"there is no schedule #{schedule_id}; `/schedule list` shows the existing ones")
        self.schedule_id = schedule_id


class SchedulePermissionError(ScheduleError, PermissionError):
    """The user may not create, remove or run this schedule (channel schedules need an editor or admin)."""


class PromptError(AgentError):
    """A prompt could not be read or changed."""


class PromptNotFoundError(PromptError, LookupError):
    """No prompt (or no such version of it) exists; the message names what does."""


class PromptValidationError(PromptError, ValueError):
    """A prompt name or text is not acceptable (empty text, a name with spaces)."""


class ApprovalError(AgentError):
    """A pending approval could not be decided."""


class ApprovalNotFoundError(ApprovalError, LookupError):
    """No run is waiting for this approval id (unknown, or already decided)."""


class MemoryNotFoundError(AgentError, LookupError):
    """The user has no memory with this id."""


class EvaluationError(AgentError):
    """Root of the errors about evaluation sets, cases, graders and runs."""


class EvaluationSetNotFoundError(EvaluationError, LookupError):
    """No evaluation set has the given name; the message names the sets that exist."""


class EvaluationInputError(EvaluationError, ValueError):
    """A case file or case is unusable; the message says which line and what is expected."""


class GraderPluginError(EvaluationError, ImportError):
    """A grader declared in the ``switchboard.graders`` entry points failed to load, or two share a name."""


class CuratedAnswerError(AgentError):
    """Root of the errors about curated answers (expert corrections)."""


class CuratedAnswerNotFoundError(CuratedAnswerError, LookupError):
    """No curated answer has the given id."""

    def __init__(self, curated_id: int) -> None:
        super().__init__(f"there is no curated answer #{curated_id}; `switchboard curated list` shows them")
        self.curated_id = curated_id


class CuratedAnswerInputError(CuratedAnswerError, ValueError):
    """A correction is unusable (empty answer, a source not in the knowledge index); the message says which."""
