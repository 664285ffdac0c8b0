"""The stability section: the stability table of CLIP-Dissect labels and its chart."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from conceptlens.io.atomic import PathLike
from conceptlens.report import figures, table_models
from conceptlens.report.sections.model import Figure, Section


def stability_section(table: pd.DataFrame | None, chart: PathLike | None,
                      published: Mapping) -> Section | None:
    """The table (``stability/table.csv``, with the published rows) and the chart
    (``stability/chart.png``), each when the run made it; None without either."""
    if table is None and not chart:
        return None
    section = Section("stability", "Stability of CLIP-Dissect labels")
    if table is not None:
        section.tables.append(table_models.stability(table, published))
    if chart:
        section.figures.append(Figure(
            "stability_chart", "Stability of CLIP-Dissect labels: share of neurons whose "
            "top-5 label set is unchanged as k grows.", uri=figures.png_file_uri(chart)))
    return section
