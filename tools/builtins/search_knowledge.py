"""Search the synced knowledge as the asker: their reader scope and source restriction, never the model's."""

from __future__ import annotations

from pydantic import BaseModel, Field

from knowledge import SearchQuery
from tools.abc import ToolContext, ToolResult, tool
from tools.errors import ToolUnavailableError


class SearchKnowledgeArguments(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="What to look for, in plain words.")
    limit: int = Field(default=6, ge=1, le=20, description="How many passages to return.")


@tool(name="search_knowledge")
async def search_knowledge(arguments: SearchKnowledgeArguments, context: ToolContext) -> ToolResult:
    """Search the company's internal knowledge (docs, wikis, runbooks) and return the most relevant passages with
    their titles and links. Use it for any question about how things work here; search again with other words if
    the first results do not answer the question. Cite passages by their number."""
    if context.retriever is None:
        raise ToolUnavailableError("no knowledge index is configured for this service, so nothing can be searched")
    passages = await context.retriever.search(
        SearchQuery(text=arguments.query, scope=context.scope, limit=arguments.limit, sources=context.sources)
    )
    if not passages:
        return ToolResult(content=f"No passages in the knowledge match {arguments.query!r}.")
    listing = "\n".join(f"- {p.title} ({p.url})" for p in passages)
    return ToolResult(content=f"{len(passages)} passages found:\n{listing}", passages=passages)
