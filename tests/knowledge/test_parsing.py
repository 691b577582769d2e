"""Each supported file type becomes Markdown with its structure and a title."""

from __future__ import annotations

import pytest

from knowledge import MarkdownChunker
from knowledge.errors import DocumentParseError, UnsupportedDocumentError
from knowledge.parsing import find_format, parse_document
from tests.knowledge.document_files import docx_bytes, pdf_bytes

HANDBOOK_PAGE = b"""<!doctype html><html><head><title>VPN setup | Northwind Handbook</title>
<script>var tracking = "SCRIPT-TEXT";</script><style>.x { color: red }</style></head>
<body><header><a href="/">Northwind HEADER-TEXT</a></header>
<nav><ul><li><a href="/it/">IT NAV-TEXT</a></li></ul></nav>
<aside><h3>ASIDE-TEXT</h3></aside>
<main>
<h1>Setting up the VPN</h1>
<p>All staff connect through <strong>WireGuard</strong>.</p>
<h2>Install the client</h2>
<ol><li>Download the client.</li><li>Import the profile.</li></ol>
<pre><code class="language-bash">wg-quick up northwind
</code></pre>
<h2>Supported platforms</h2>
<table><tr><th>Platform</th><th>Client</th></tr><tr><td>macOS</td><td>WireGuard app</td></tr></table>
</main>
<footer>FOOTER-TEXT</footer></body></html>"""


def test_markdown_keeps_its_text_and_takes_the_title_from_front_matter() -> None:
    parsed = parse_document(
        b"---\ntitle: Expense policy\nowner: finance\n---\n# Expenses\n\nClaim within 30 days.\n", name="x.md"
    )

    assert parsed.title == "Expense policy"
    assert parsed.content == "# Expenses\n\nClaim within 30 days.\n"


def test_markdown_title_is_the_first_level_one_heading() -> None:
    parsed = parse_document(b"Intro line\n\n## Setup\n\n# Onboarding\n\n```\n# not a heading\n```\n", name="a.md")

    assert parsed.title == "Onboarding"


def test_plain_text_keeps_paragraphs_and_turns_underlined_lines_into_headings() -> None:
    text = (
        b"Office guide\n============\n\nThe office opens at 8.\nBadges at reception.\n\nParking\n-------\n\nLevel -2.\n"
    )

    parsed = parse_document(text, name="guide.txt")

    assert parsed.title == "Office guide"
    assert (
        parsed.content == "# Office guide\n\nThe office opens at 8.\nBadges at reception.\n\n## Parking\n\nLevel -2.\n"
    )


def test_plain_text_lines_in_capitals_standing_alone_are_headings() -> None:
    text = b"SICK LEAVE\n\nTell your manager.\nNOT A HEADING\n\nHOW TO CALL IN SICK\n\n1. Message your manager.\n"

    parsed = parse_document(text, name="sick-leave.txt")

    assert parsed.title == "SICK LEAVE"
    assert parsed.content == (
        "# SICK LEAVE\n\nTell your manager.\nNOT A HEADING\n\n## HOW TO CALL IN SICK\n\n1. Message your manager.\n"
    )


def test_html_keeps_the_main_content_structure_and_drops_boilerplate() -> None:
    parsed = parse_document(HANDBOOK_PAGE, content_type="text/html; charset=utf-8")

    assert parsed.title == "Setting up the VPN"
    for boilerplate in ("SCRIPT-TEXT", "HEADER-TEXT", "NAV-TEXT", "ASIDE-TEXT", "FOOTER-TEXT", "color: red"):
        assert boilerplate not in parsed.content
    assert "# Setting up the VPN" in parsed.content
    assert "## Install the client" in parsed.content
    assert "1. Download the client.\n2. Import the profile." in parsed.content
    assert "```bash\nwg-quick up northwind\n```" in parsed.content
    assert "| Platform | Client |\n| --- | --- |\n| macOS | WireGuard app |" in parsed.content
    assert "**WireGuard**" in parsed.content


def test_html_without_a_main_element_drops_chrome_marked_by_class() -> None:
    page = b"""<html><head><title>On-call</title></head><body>
    <div class="navbar">NAV-TEXT</div><div id="sidebar"><ul><li>SIDEBAR-TEXT</li></ul></div>
    <div class="content"><h2>Escalation</h2><ul><li>Primary<ul><li>page twice</li></ul></li></ul></div>
    <div class="site-footer">FOOTER-TEXT</div></body></html>"""

    parsed = parse_document(page, name="oncall.html")

    assert parsed.title == "On-call"
    assert "NAV-TEXT" not in parsed.content and "SIDEBAR-TEXT" not in parsed.content
    assert "FOOTER-TEXT" not in parsed.content
    assert "- Primary\n  - page twice" in parsed.content


def test_html_heading_ids_become_the_anchors_passages_link_to() -> None:
    page = b"""<html><body><main><h1 id="top">Backups</h1><p>Nightly.</p>
    <h2 id="restore_steps">Restore a database</h2><p>Use pgBackRest.</p>
    <section id="retention"><h2>Retention</h2><p>Thirty days.</p></section>
    <h2><a name="faq"></a>FAQ</h2><p>Ask in #ops.</p>
    <h2>Contacts</h2><p>The platform team.</p></main></body></html>"""

    parsed = parse_document(page, name="backups.html")
    chunks = MarkdownChunker().chunk(parsed.title or "", parsed.content)

    assert parsed.title == "Backups"
    assert [(chunk.heading_path, chunk.anchor) for chunk in chunks] == [
        ([], "top"),
        (["Restore a database"], "restore_steps"),
        (["Retention"], "retention"),
        (["FAQ"], "faq"),
        (["Contacts"], "contacts"),  # no id on the page: the GitHub-style slug
    ]
    assert chunks[1].url("https://wiki.example/backups") == "https://wiki.example/backups#restore_steps"


def test_html_title_falls_back_to_the_title_element() -> None:
    parsed = parse_document(
        b"<html><head><title>Lunch menu</title></head><body><p>Soup.</p></body></html>", name="m.htm"
    )

    assert parsed.title == "Lunch menu"
    assert parsed.content == "Soup.\n"


def test_pdf_text_keeps_paragraphs_and_large_lines_become_headings() -> None:
    parsed = parse_document(pdf_bytes(), name="travel.pdf")

    assert parsed.title == "Travel policy"
    blocks = parsed.content.strip().split("\n\n")
    assert blocks[0] == "# Booking travel"
    assert blocks[1].startswith("Employees book every trip") and blocks[1].endswith("two weeks ahead.")
    assert blocks[2] == "Trains are preferred to flights for trips under four hours."
    assert blocks[3] == "# Per diem"


def test_pdf_without_metadata_title_uses_its_first_heading() -> None:
    assert parse_document(pdf_bytes(title=None), name="travel.pdf").title == "Booking travel"


def test_encrypted_pdf_is_a_parse_error_saying_so() -> None:
    with pytest.raises(DocumentParseError, match="encrypted PDF"):
        parse_document(pdf_bytes(password="hunter2"), name="secret.pdf")


def test_word_headings_lists_and_tables_become_markdown() -> None:
    parsed = parse_document(docx_bytes(), name="laptops.docx")

    assert parsed.title == "Laptop policy"
    assert parsed.content == (
        "# Laptops\n\nEvery employee receives a laptop on their first day.\n\n## Returning a laptop\n\n"
        "- Back up your files\n- Hand it to the IT desk\n  - Ask for a receipt\n1. Open a ticket\n\n"
        "| Model | Replacement cycle |\n| --- | --- |\n| ThinkPad X1 | 3 years |\n| MacBook | 4 |\n\n"
        "Lost laptops are reported to security within one hour.\n"
    )


def test_word_title_falls_back_to_the_first_heading() -> None:
    assert parse_document(docx_bytes(core_title=None), name="laptops.docx").title == "Laptops"


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"caf\xe9 au lait", "menu.txt", "not valid UTF-8"),
        (b"%PDF-1.4 truncated", "broken.pdf", "not a readable PDF"),
        (b"plain bytes", "broken.docx", "not a readable .docx"),
    ],
)
def test_unreadable_files_raise_a_parse_error_with_a_reason(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(DocumentParseError, match=reason):
        parse_document(data, name=name)


def test_unknown_types_are_unsupported() -> None:
    with pytest.raises(UnsupportedDocumentError, match="image/png"):
        parse_document(b"\x89PNG", content_type="image/png")


def test_formats_are_found_by_content_type_before_extension() -> None:
    html_format = find_format("report.pdf", "text/html; charset=utf-8")
    pdf_format = find_format("https://example.com/files/report.PDF?download=1")

    assert html_format is not None and html_format.name == "html"
    assert pdf_format is not None and pdf_format.name == "pdf"
