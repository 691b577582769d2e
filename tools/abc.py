"""The tool plugin interface: what a tool declares, what it receives when called, and what it returns.

A tool is a small class (subclass ``Tool``) or an async function decorated with ``@tool``. Either way it has a
pydantic argument model (its JSON Schema is what the model fills in), a description written for the model, and two
flags: ``side_effects`` (the run pauses for a person's approval before it executes) and ``required_role``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import sys
import typing
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, Field

from knowledge import Passage, ReaderScope, Retriever
from tools.config import ToolsConfig
from tools.permissions import Role

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class ToolResult(BaseModel):
    """What a tool hands back: text for the model, and any knowledge passages it found (kept for citations)."""

    content: str
    passages: list[Passage] = Field(default_factory=list)
    is_error: bool = False
    # For the person asking, beside the answer: a tool that could not be used (down, too slow) is said so.
    note: str | None = None

    @classmethod
    def error(cls, message: str, *, note: str | None = None) -> ToolResult:
        return cls(content=f"ERROR: {message}", is_error=True, note=note)


class MemoryWriter(Protocol):
    """Where ``remember`` saves a user's long-term memory (the agent runtime's memory store)."""

    async def remember(self, *, workspace_id: str, user_id: str, text: str) -> str:
        """Save ``text`` for this user and return the new memory's id."""
        ...


@dataclass(frozen=True)
class ToolContext:
    """Who the run is for and what tools may use; built per run by the agent runtime, never global.

    Permissions come from here and never from the model's arguments: ``search_knowledge`` searches with ``scope``
    and ``sources`` whatever the model asks for.
    """

    user_id: str
    workspace_id: str
    scope: ReaderScope
    settings: ToolsConfig = field(default_factory=ToolsConfig)
    roles: frozenset[str] = frozenset()
    sources: tuple[str, ...] | None = None
    retriever: Retriever | None = None
    memory: MemoryWriter | None = None
    # What the asker wrote in this turn: the only text ``remember`` may save (never documents or tool output).
    asker_message: str = ""
    # A person can approve side-effect calls where this run is answered; without one they are neither offered to
    # the model nor run.
    approver_present: bool = False
    # The idempotency key of the side-effect call being made (one per run and tool call; the same when a retried
    # run repeats the step). The runtime never makes such a call twice; a tool calling an outside API should pass
    # it on (an ``Idempotency-Key`` header, say) so the other side, too, acts once. None for read-only calls.
    call_key: str | None = None

    def has_role(self, role: Role | None) -> bool:
        """Admins may do everything editors may."""
        if role is None:
            return True
        return role in self.roles or "admin" in self.roles


class Tool(ABC, Generic[ArgsT]):
    """A tool the agent may call. Subclasses set the class attributes and implement ``run``."""

    name: str
    description: str
    arguments: type[ArgsT]
    side_effects: bool = False
    required_role: Role | None = None

    @abstractmethod
    async def run(self, arguments: ArgsT, context: ToolContext) -> ToolResult | str:
        """Do the work. Raise any exception to report a failure: the registry turns it into a readable error."""

    @property
    def display_name(self) -> str:
        """The name people see (listings, approvals); ``name`` is what the model calls."""
        return self.name

    def describe(self, context: ToolContext) -> str:
        """The description the model reads; override to mention per-deployment details (configured endpoints)."""
        return self.description

    def summarize_call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        """One line telling the person who approves a side-effect call what exactly will happen."""
        return f"run {self.name} with {json.dumps(arguments, ensure_ascii=False, sort_keys=True)}"

    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments, as the model sees it."""
        return copy.deepcopy(_arguments_schema(self.arguments))


@functools.cache
def _arguments_schema(model: type[BaseModel]) -> dict[str, Any]:
    # Generating a schema costs about 1.5 ms, and every model turn lists every tool: generate once per model class.
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


ToolFunction = Callable[[ArgsT, ToolContext], Awaitable[ToolResult | str]]


class FunctionTool(Tool[ArgsT]):
    """A tool made from an async function by ``@tool``: the docstring is the description."""

    def __init__(
        self,
        function: ToolFunction[ArgsT],
        *,
        name: str,
        description: str,
        arguments: type[ArgsT],
        side_effects: bool,
        required_role: Role | None,
    ) -> None:
        self._function = function
        self.name = name
        self.description = description
        self.arguments = arguments
        self.side_effects = side_effects
        self.required_role = required_role

    async def run(self, arguments: ArgsT, context: ToolContext) -> ToolResult | str:
        return await self._function(arguments, context)

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"


def tool(
    *, name: str | None = None, side_effects: bool = False, required_role: Role | None = None
) -> Callable[[ToolFunction[ArgsT]], FunctionTool[ArgsT]]:
    """Turn ``async def my_tool(arguments: MyArgs, context: ToolContext) -> str`` into a tool.

    The first parameter's annotation is the argument model; the docstring is what the model reads.
    """
    # Argument models defined next to a tool inside a function are found through the caller's local names.
    caller_names = dict(sys._getframe(1).f_locals)

    def decorate(function: ToolFunction[ArgsT]) -> FunctionTool[ArgsT]:
        hints = typing.get_type_hints(function, localns=caller_names)
        first = next(iter(inspect.signature(function).parameters), None)
        model = hints.get(first) if first else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"tool {function.__name__}: the first parameter must be annotated with a pydantic model")
        description = inspect.cleandoc(function.__doc__ or "")
        if not description:
            raise TypeError(f"tool {function.__name__}: write a docstring; it is the description the model reads")
        return FunctionTool(
            function,
            name=name or function.__name__,
            description=description,
            arguments=typing.cast(type[ArgsT], model),
            side_effects=side_effects,
            required_role=required_role,
        )

    return decorate
