"""Agents: the answer boundary the channels use, the model gateway, and (soon) graphs, memory, prompts, schedules."""

from agents.answers import (
    AgentAnswer,
    AgentRequest,
    AgentRunner,
    Asker,
    Attachment,
    Citation,
    PendingApproval,
    ProgressCallback,
    ProgressEvent,
)
from agents.errors import (
    AgentError,
    ModelError,
    ModelNotConfiguredError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    ScheduleError,
    ScheduleInputError,
    ScheduleNotFoundError,
    SchedulePermissionError,
    SchedulePhraseError,
)

# Phone intake summaries (issue 6).
from agents.intake import CallTurn, IntakeDraft, IntakeSummary, summarize_call, transcript_summary
from agents.model_gateway import (
    ChatMessage,
    ChatModel,
    ChatModelConfig,
    ChatResponse,
    StreamEvent,
    TokenUsage,
    ToolCall,
    ToolSpec,
    create_chat_model,
)

__all__ = [
    "AgentAnswer",
    "AgentRequest",
    "AgentRunner",
    "Asker",
    "Attachment",
    "Citation",
    "PendingApproval",
    "ProgressCallback",
    "ProgressEvent",
    "AgentError",
    "ChatMessage",
    "ChatModel",
    "ChatModelConfig",
    "ChatResponse",
    "ModelError",
    "ModelNotConfiguredError",
    "ModelRequestError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "ScheduleError",
    "ScheduleInputError",
    "ScheduleNotFoundError",
    "SchedulePermissionError",
    "SchedulePhraseError",
    "StreamEvent",
    "TokenUsage",
    "ToolCall",
    "ToolSpec",
    "create_chat_model",
    # Phone intake summaries (issue 6).
    "CallTurn",
    "IntakeDraft",
    "IntakeSummary",
    "summarize_call",
    "transcript_summary",
]
