"""What every section is made of: :class:`Section` and :class:`Figure`, and their numbering."""

from __future__ import annotations

from dataclasses import dataclass, field

from conceptlens.report.table_models import Table

UNNUMBERED_TABLES = ("methods", "stages")
"""Keys of the tables the summary prints without a number."""


@dataclass
class Figure:
    """A numbered figure: one image (``uri``) or structured content rendered by the
    template (``panels`` / ``rows``); ``caption`` printed after "Figure N:"."""

    key: str
    caption: str
    uri: str = ""
    panels: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    number: int = 0


@dataclass
class Section:
    key: str
    title: str
    number: int = 0
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    pdf_tables: list[Table] = field(default_factory=list)
    """Tables the PDF prints instead of ``tables`` (e.g. the first description rows)."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """(text, relative URL) printed as links after the text (the neuron explorer)."""
    method_filter: list[tuple[str, int]] = field(default_factory=list)
    """(method, rows) of the HTML's filter by method (the descriptions), in order."""


def numbered(sections: list[Section]) -> list[Section]:
    """Number the sections, and their tables and figures, in the order they appear (the
    summary's tables are not numbered); a PDF table takes its HTML table's number."""
    n_table = n_figure = 0
    for k, section in enumerate(sections, start=1):
        section.number = k
        for k_table, table in enumerate(section.tables):
            if table.key not in UNNUMBERED_TABLES:
                n_table += 1
                table.number = n_table
                if k_table < len(section.pdf_tables):
                    section.pdf_tables[k_table].number = n_table
        for figure in section.figures:
            n_figure += 1
            figure.number = n_figure
    return sections
