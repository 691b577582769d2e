"""Chunk boundaries, heading paths and anchors: what decides whether a cited passage makes sense on its own."""

from __future__ import annotations

from knowledge import ChunkingConfig, MarkdownChunker, github_slug

HANDBOOK_PAGE = """Welcome to the IT handbook.

# Laptops

Every engineer gets a laptop on day one.

## Setup

1. Sign in with your SSO account.
2. Install the MDM profile.
   - macOS: System Settings > Profiles
3. Restart.

```bash
sudo softwareupdate --install --all
```

## Setup

A second section with the same title.

# FAQ: What if it breaks?

| Problem | Fix |
| --- | --- |
| Won't boot | Hold power 10 s |
"""


def test_each_chunk_keeps_its_heading_path_and_a_unique_anchor() -> None:
    chunks = MarkdownChunker().chunk("IT handbook", HANDBOOK_PAGE)

    assert [(chunk.heading_path, chunk.anchor) for chunk in chunks] == [
        ([], None),
        (["Laptops"], "laptops"),
        (["Laptops", "Setup"], "setup"),
        (["Laptops", "Setup"], "setup-1"),
        (["FAQ: What if it breaks?"], "faq-what-if-it-breaks"),
    ]
    assert chunks[0].url("https://wiki.example/it") == "https://wiki.example/it"
    assert chunks[3].url("https://wiki.example/it#old") == "https://wiki.example/it#setup-1"


def test_an_explicit_heading_id_is_the_anchor_and_slugs_avoid_it() -> None:
    markdown = "# Install {#setup}\n\nRun it.\n\n# Setup\n\nAgain.\n"

    chunks = MarkdownChunker().chunk("Guide", markdown)

    assert [(chunk.heading_path, chunk.anchor) for chunk in chunks] == [(["Install"], "setup"), (["Setup"], "setup-1")]
    assert "{#" not in chunks[0].search_text


def test_lists_code_and_tables_stay_whole_when_they_fit() -> None:
    setup = MarkdownChunker().chunk("IT handbook", HANDBOOK_PAGE)[2]

    assert "3. Restart." in setup.text and "   - macOS: System Settings > Profiles" in setup.text
    assert "```bash\nsudo softwareupdate --install --all\n```" in setup.text
    faq = MarkdownChunker().chunk("IT handbook", HANDBOOK_PAGE)[4]
    assert faq.text.splitlines()[0] == "| Problem | Fix |"


def test_search_text_carries_title_and_heading_path_for_context() -> None:
    setup = MarkdownChunker().chunk("IT handbook", HANDBOOK_PAGE)[2]

    assert setup.search_text.startswith("IT handbook > Laptops > Setup\n\n1. Sign in")


def test_long_sections_are_split_near_the_target_with_overlap() -> None:
    sentences = " ".join(f"Step {index} of the runbook is to check service {index}." for index in range(60))
    config = ChunkingConfig(chunk_chars=400, overlap_chars=100)

    chunks = MarkdownChunker(config).chunk("Runbook", f"# Restore\n\n{sentences}")

    assert len(chunks) > 3
    assert all(len(chunk.text) <= 400 for chunk in chunks)
    assert all(chunk.heading_path == ["Restore"] for chunk in chunks)
    for previous, following in zip(chunks, chunks[1:], strict=False):
        last_sentence = previous.text.rsplit(". ", 1)[-1]
        assert following.text.startswith(previous.text[-len(last_sentence) :]) or last_sentence in following.text
    every_step = " ".join(chunk.text for chunk in chunks)
    assert all(f"check service {index}." in every_step for index in range(60))


def test_oversized_code_blocks_and_tables_are_split_into_valid_pieces() -> None:
    code = "```python\n" + "\n".join(f"print({index})" for index in range(200)) + "\n```"
    table = "| host | role |\n| --- | --- |\n" + "\n".join(f"| web-{index} | frontend |" for index in range(100))
    config = ChunkingConfig(chunk_chars=300, overlap_chars=50)

    chunks = MarkdownChunker(config).chunk("Infra", f"# Code\n\n{code}\n\n# Hosts\n\n{table}")

    code_chunks = [chunk.text for chunk in chunks if chunk.heading_path == ["Code"]]
    table_chunks = [chunk.text for chunk in chunks if chunk.heading_path == ["Hosts"]]
    assert len(code_chunks) > 1 and len(table_chunks) > 1
    assert all(text.startswith("```python\n") and text.endswith("\n```") for text in code_chunks)
    assert all(text.startswith("| host | role |\n| --- | --- |\n") for text in table_chunks)
    assert all(len(chunk.text) <= 300 for chunk in chunks)


def test_empty_documents_give_no_chunks_and_slugs_follow_github() -> None:
    assert MarkdownChunker().chunk("Empty", "") == []
    assert github_slug("What's new in v2.0?") == "whats-new-in-v20"
    assert github_slug("On-call & escalation") == "on-call--escalation"
