"""The answer graph's wiring: start -> (plan) -> act <-> approve/tools -> reflect -> respond.

The nodes live in ``agents.answer_nodes``; this module only says how they connect. ``start`` routes a direct
question straight to ``act`` and any other to ``plan`` first; ``act`` and ``reflect`` choose their next node
themselves (``Command``), so their possible destinations are declared here.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from agents.answer_nodes import act, approve, plan, reflect, respond, run_tools, start
from agents.answer_state import AnswerContext, AnswerState


def build_answer_graph(
    checkpointer: BaseCheckpointSaver[Any] | None, store: BaseStore | None = None
) -> CompiledStateGraph[AnswerState, AnswerContext, AnswerState, AnswerState]:
    """Compile the answer graph on a checkpointer (short-term memory) and store (long-term memory)."""
    graph = StateGraph(AnswerState, context_schema=AnswerContext)
    graph.add_node("start", start)
    graph.add_node("plan", plan)
    graph.add_node("act", act, destinations=("approve", "reflect", "respond"))
    graph.add_node("approve", approve)
    graph.add_node("tools", run_tools)
    graph.add_node("reflect", reflect, destinations=("act", "respond"))
    graph.add_node("respond", respond)
    graph.add_edge(START, "start")
    graph.add_conditional_edges("start", _after_start, ["plan", "act"])
    graph.add_edge("plan", "act")
    graph.add_edge("approve", "tools")
    graph.add_edge("tools", "act")
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=checkpointer, store=store)


def _after_start(state: AnswerState) -> Literal["plan", "act"]:
    return "plan" if state["route"] == "planned" else "act"
