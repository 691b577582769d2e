"""Prompts as data: the bundled prompt files (``*.md``) seed a versioned store with one live version per name."""

from agents.prompts.prompt_store import SEED_DIRECTORY, PromptStore, PromptSummary, PromptVersion

__all__ = ["SEED_DIRECTORY", "PromptStore", "PromptSummary", "PromptVersion"]
