"""Markdown rewritten before chunking: relative links made absolute, template noise dropped, code left alone."""

from __future__ import annotations

from knowledge import MarkdownChunker
from knowledge.markdown_rewriting import prepare_markdown

PAGE_URL = "https://handbook.example.com/benefits/perks/index.md"


def test_relative_links_resolve_against_the_document_url() -> None:
    markdown = (
        "See the [monthly budget](spending-company-money.md#recurring-expenses), the [remote guide]"
        "(../../company/remote/index.md) and ![a chart](./img/chart.png).\n\n[policy]: ../policy.md\n"
    )

    prepared = prepare_markdown(markdown, PAGE_URL)

    assert "(https://handbook.example.com/benefits/perks/spending-company-money.md#recurring-expenses)" in prepared
    assert "(https://handbook.example.com/company/remote/index.md)" in prepared
    assert "(https://handbook.example.com/benefits/perks/img/chart.png)" in prepared
    assert "[policy]: https://handbook.example.com/benefits/policy.md" in prepared


def test_links_to_the_documents_own_headings_become_deep_links() -> None:
    prepared = prepare_markdown("# Perks\n\nAs said [above](#perks).\n", PAGE_URL + "#old-anchor")

    assert "[above](https://handbook.example.com/benefits/perks/index.md#perks)" in prepared


def test_absolute_links_and_html_attributes() -> None:
    markdown = (
        '[site](https://example.org/a) [mail](mailto:people@example.com) <a href="../team.md">team</a> '
        "<img src='logo.png'>\n"
    )

    prepared = prepare_markdown(markdown, PAGE_URL)

    assert "[site](https://example.org/a)" in prepared
    assert "[mail](mailto:people@example.com)" in prepared
    assert 'href="https://handbook.example.com/benefits/team.md"' in prepared
    assert "src='https://handbook.example.com/benefits/perks/logo.png'" in prepared


def test_liquid_and_jinja_tags_are_dropped_but_their_text_kept() -> None:
    markdown = (
        "{% include banner.html %}\n\nHello {{ page.author }}, "
        "{% if site.remote %}we are all remote{% endif %}.\n\n"
        "{% comment %}Internal: do not publish the salary bands.{% endcomment %}\n\n{{generator:team_members_list}}\n"
    )

    prepared = prepare_markdown(markdown, PAGE_URL)

    assert "{%" not in prepared and "{{" not in prepared
    assert "we are all remote" in prepared
    assert "salary bands" not in prepared


def test_html_comments_and_mdx_module_lines_are_dropped() -> None:
    markdown = (
        "import Callout from '../components/Callout'\nimport '../styles.css'\n"
        "export const meta = { owner: 'people' }\n\n"
        "# Stipends\n\n<!-- TODO: update for 2025\n(numbers are from 2023) -->\nThe stipend is $500 a year.\n"
    )

    prepared = prepare_markdown(markdown, PAGE_URL)

    assert "import" not in prepared and "export" not in prepared
    assert "TODO" not in prepared and "2023" not in prepared
    assert "# Stipends" in prepared and "The stipend is $500 a year." in prepared


def test_code_is_never_rewritten() -> None:
    markdown = (
        "Use `{{ .Values.image }}` and `[x](y.md)` in templates.\n\n"
        '```go\nimport (\n\t"fmt"\n)\n// <!-- kept --> {{ kept }} [link](kept.md)\n```\n\n'
        "- a list\n\n    - nested [guide](guide.md)\n"
    )

    prepared = prepare_markdown(markdown, PAGE_URL)

    assert "`{{ .Values.image }}`" in prepared and "`[x](y.md)`" in prepared
    assert "import (\n" in prepared and "// <!-- kept --> {{ kept }} [link](kept.md)" in prepared
    assert "[guide](https://handbook.example.com/benefits/perks/guide.md)" in prepared


def test_chunks_carry_only_absolute_links_and_no_template_noise() -> None:
    markdown = (
        "import Tabs from '@theme/Tabs'\n\n# Home office\n\n{% raw %}The [stipend](spending.md) is $500.{% endraw %}"
        "\n<!-- internal note -->\n"
    )

    chunks = MarkdownChunker().chunk("Home office", markdown, PAGE_URL)

    assert [chunk.text for chunk in chunks] == [
        "The [stipend](https://handbook.example.com/benefits/perks/spending.md) is $500."
    ]
    assert "Tabs" not in chunks[0].search_text
