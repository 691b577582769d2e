"""A retrieval-only answer reads as an answer: a section's passages in document order, adjacent ones merged."""

from __future__ import annotations

from knowledge import Passage, PassageCopy, SearchQuery
from tests.agents.conftest import RuntimeFactory, make_request

STIPEND_URL = "https://handbook.example.com/benefits/spending-company-money.md#home-office"
# The chunker repeats the last sentence of a passage at the start of the next one.
BEGINNING = "Every teammate gets a $500 home office stipend when they join. It renews every two years."
END = "It renews every two years. To expense it, upload the receipt in Ramp within 30 days of purchase."


def section_passage(chunk_id: int, ordinal: int, text: str, **extra: object) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        document_id=7,
        external_id="benefits/spending-company-money.md",
        source="handbook",
        title="Spending company money",
        url=STIPEND_URL,
        heading_path=["Home office"],
        text=text,
        score=1.0,
        ordinal=ordinal,
        **extra,  # type: ignore[arg-type]
    )


class RankedRetriever:
    """Returns its passages in the order given, as a relevance ranking would."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages

    async def search(self, query: SearchQuery) -> list[Passage]:
        return self.passages[: query.limit]


async def test_a_sections_passages_are_shown_in_reading_order_and_merged(make_runtime: RuntimeFactory) -> None:
    copy = PassageCopy(
        document_id=9,
        external_id="people/home-office.md",
        source="handbook",
        title="Home office (People team)",
        url="https://handbook.example.com/people/home-office.md#stipend",
    )
    later_section = section_passage(3, 9, "Coworking spaces are covered up to $300 a month.")
    other_document = Passage(
        chunk_id=4,
        document_id=8,
        external_id="finance/ramp.md",
        source="handbook",
        title="Ramp",
        url="https://handbook.example.com/finance/ramp.md",
        text="Ramp is our expense tool.",
        score=0.5,
        ordinal=0,
    )
    ranked = [section_passage(2, 5, END, also_in=[copy]), other_document, section_passage(1, 4, BEGINNING)]
    runtime = make_runtime(retriever=RankedRetriever([*ranked, later_section]), with_model=False)

    answer = await runtime.answer(make_request("how much is the home office stipend and how to expense it?", "t-ro"))

    merged = (
        "Every teammate gets a $500 home office stipend when they join. It renews every two years. "
        "To expense it, upload the receipt in Ramp within 30 days of purchase."
    )
    assert f"[1] Spending company money > Home office\n{merged}\n{STIPEND_URL}" in answer.text
    assert answer.text.count("It renews every two years.") == 1
    assert f"also in: Home office (People team) ({copy.url})" in answer.text
    # A later, non-adjacent passage of the same section follows it; the other document keeps its place after.
    assert answer.text.index("[2] Spending company money > Home office\nCoworking") < answer.text.index("[3] Ramp")
