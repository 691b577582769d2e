"""One wording for model failures, whichever provider's SDK raised them, so users learn the same fix everywhere."""

from __future__ import annotations

from typing import Literal

from agents.errors import ModelError, ModelRequestError, ModelTimeoutError, ModelUnavailableError
from agents.model_gateway.abc import ChatModelConfig

FailureKind = Literal["timeout", "connection", "status", "other"]


def model_failure(
    kind: FailureKind,
    *,
    endpoint: str,
    config: ChatModelConfig,
    status: int | None = None,
    detail: str = "",
) -> ModelError:
    """The error to raise once the SDK has spent its retries (``config.max_retries``)."""
    attempts = config.max_retries + 1
    if kind == "timeout":
        return ModelTimeoutError(
            f"the model at {endpoint} did not answer within {config.timeout_seconds:g} s "
            f"({attempts} attempts); check the server or raise the timeout"
        )
    if kind == "connection":
        return ModelUnavailableError(
            f"could not reach the model at {endpoint} after {attempts} attempts; check LLM_BASE_URL and the network"
        )
    if kind == "status" and status is not None:
        if status == 429 or status >= 500:
            return ModelUnavailableError(
                f"the model at {endpoint} answered HTTP {status} on all {attempts} attempts; "
                "it is overloaded or down, try again later"
            )
        return ModelRequestError(
            f"the model at {endpoint} rejected the request with HTTP {status}: {detail}; "
            "check LLM_MODEL and LLM_API_KEY"
        )
    return ModelUnavailableError(f"the model at {endpoint} failed: {detail}")
