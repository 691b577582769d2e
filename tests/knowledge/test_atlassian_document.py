"""Atlassian Document Format (Jira Cloud descriptions and comments) becomes the Markdown the chunker reads."""

from __future__ import annotations

from knowledge.sources.atlassian_document import adf_to_markdown


def text(value: str, *marks: str) -> dict[str, object]:
    return {"type": "text", "text": value, "marks": [{"type": mark} for mark in marks]}


def paragraph(*content: dict[str, object]) -> dict[str, object]:
    return {"type": "paragraph", "content": list(content)}


def test_headings_lists_code_tables_and_marks_keep_their_markdown_form() -> None:
    document = {
        "type": "doc",
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Rollback")]},
            paragraph(text("Run "), text("deploy --undo", "code"), text(" as "), text("root", "strong")),
            {
                "type": "orderedList",
                "content": [
                    {"type": "listItem", "content": [paragraph(text("Stop the workers"))]},
                    {
                        "type": "listItem",
                        "content": [
                            paragraph(text("Restore")),
                            {
                                "type": "bulletList",
                                "content": [{"type": "listItem", "content": [paragraph(text("db"))]}],
                            },
                        ],
                    },
                ],
            },
            {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [text("make rollback")]},
            {
                "type": "table",
                "content": [
                    {"type": "tableRow", "content": [{"type": "tableHeader", "content": [paragraph(text("Host"))]}]},
                    {"type": "tableRow", "content": [{"type": "tableCell", "content": [paragraph(text("db|1"))]}]},
                ],
            },
            paragraph(
                {"type": "mention", "attrs": {"text": "@Bob"}},
                text(" see "),
                {"type": "status", "attrs": {"text": "DONE"}},
            ),
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
            {"type": "futureNode", "content": [paragraph(text("words survive"))]},
        ],
    }

    assert adf_to_markdown(document) == "\n\n".join(
        [
            "## Rollback",
            "Run `deploy --undo` as **root**",
            "1. Stop the workers\n2. Restore\n  - db",
            "```sh\nmake rollback\n```",
            "| Host |\n| --- |\n| db\\|1 |",
            "@Bob see [DONE]",
            "words survive",
        ]
    )


def test_wiki_markup_from_data_center_and_missing_descriptions_pass_through() -> None:
    assert adf_to_markdown("h2. Steps\n* one") == "h2. Steps\n* one"
    assert adf_to_markdown(None) == ""
