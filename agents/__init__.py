"""Agents: the answer boundary the channels use, the model gateway, the answer graph, memory, prompts and traces."""

from agents.answer_graph import build_answer_graph
from agents.answers import (
    AgentAnswer,
    AgentRequest,
    AgentRunner,
    AnswerTextCallback,
    Asker,
    Attachment,
    Channel,
    Citation,
    PendingApproval,
    ProgressCallback,
    ProgressEvent,
)
from agents.approvals import ApprovalRecord, ApprovalStore, ApprovalSurface
from agents.config import AgentConfig
from agents.errors import (
    AgentError,
    ApprovalError,
    ApprovalNotFoundError,
    EvaluationError,
    EvaluationInputError,
    EvaluationSetNotFoundError,
    GraderPluginError,
    MemoryNotFoundError,
    ModelError,
    ModelNotConfiguredError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    PromptError,
    PromptNotFoundError,
    PromptValidationError,
    ScheduleError,
    ScheduleInputError,
    ScheduleNotFoundError,
    SchedulePermissionError,
    SchedulePhraseError,
)

# Phone intake summaries.
from agents.intake import CallTurn, IntakeDraft, IntakeSummary, summarize_call, transcript_summary
from agents.long_term_memory import Memory, MemoryStore
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
from agents.persistence import AgentPersistence
from agents.prompts import PromptStore, PromptSummary, PromptVersion
from agents.runtime import AgentRuntime
from agents.traces import TraceRecord, TraceStore
from agents.voice_answers import VoiceEvent

__all__ = [
    "AgentConfig",
    "AgentPersistence",
    "AgentRuntime",
    "ApprovalError",
    "ApprovalNotFoundError",
    "ApprovalRecord",
    "ApprovalStore",
    "ApprovalSurface",
    "Memory",
    "MemoryNotFoundError",
    "MemoryStore",
    "PromptError",
    "PromptNotFoundError",
    "PromptStore",
    "PromptSummary",
    "PromptValidationError",
    "PromptVersion",
    "TraceRecord",
    "TraceStore",
    "build_answer_graph",
    "AgentAnswer",
    "AgentRequest",
    "AgentRunner",
    "Asker",
    "Channel",
    "Attachment",
    "Citation",
    "PendingApproval",
    "AnswerTextCallback",
    "ProgressCallback",
    "ProgressEvent",
    "AgentError",
    "EvaluationError",
    "EvaluationInputError",
    "EvaluationSetNotFoundError",
    "GraderPluginError",
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
    # Phone intake summaries.
    "CallTurn",
    "IntakeDraft",
    "IntakeSummary",
    "summarize_call",
    "transcript_summary",
    # The phone's fast path.
    "VoiceEvent",
]
