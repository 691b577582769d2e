"""Builders for the binary fixtures (PDF, .docx) the parsing and folder-source tests need, written at test time."""

from __future__ import annotations

import io

import docx
from fpdf import FPDF


def pdf_bytes(
    title: str | None = "Travel policy", sections: dict[str, list[str]] | None = None, password: str | None = None
) -> bytes:
    """A PDF with a large heading per section (set in a bigger font) followed by its paragraphs."""
    sections = sections or {
        "Booking travel": [
            "Employees book every trip through the travel portal at least two weeks ahead. " * 3,
            "Trains are preferred to flights for trips under four hours.",
        ],
        "Per diem": ["Meals are reimbursed up to 60 EUR a day with receipts. " * 3],
    }
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.add_page()
    for heading, paragraphs in sections.items():
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(5)
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    return bytes(pdf.output())


def docx_bytes(core_title: str | None = "Laptop policy") -> bytes:
    """A Word document with headings, a bulleted list with a nested item, a numbered list and a table."""
    document = docx.Document()
    document.core_properties.title = core_title or ""
    document.add_heading("Laptops", 1)
    document.add_paragraph("Every employee receives a laptop on their first day.")
    document.add_heading("Returning a laptop", 2)
    document.add_paragraph("Back up your files", style="List Bullet")
    document.add_paragraph("Hand it to the IT desk", style="List Bullet")
    document.add_paragraph("Ask for a receipt", style="List Bullet 2")
    document.add_paragraph("Open a ticket", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, (model, years) in enumerate(
        [("Model", "Replacement cycle"), ("ThinkPad X1", "3 years"), ("MacBook", "4")]
    ):
        table.cell(row, 0).text = model
        table.cell(row, 1).text = years
    document.add_paragraph("Lost laptops are reported to security within one hour.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
