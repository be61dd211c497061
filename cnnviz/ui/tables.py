"""Markdown tables for the pages: readable on a projector, and links work in cells
(``st.dataframe`` shows neither). Plain strings; no Streamlit call."""

from __future__ import annotations

from typing import Sequence


def md_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell (no column break, no line break)."""
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, escape_last: bool = True) -> str:
    """A Markdown table. With ``escape_last=False`` the last column is left as given, so it
    can hold a Markdown link (escape its text with :func:`md_cell` first)."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [md_cell(c) for c in row[:-1]] + [md_cell(row[-1]) if escape_last else row[-1]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
