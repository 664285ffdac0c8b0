"""Render the report: jinja2 templates of ``reports/`` -> HTML; weasyprint -> PDF.

The HTML is self-contained (CSS and a small script inline, every image a PNG data URI);
weasyprint is given a URL fetcher that refuses anything but ``data:`` URLs, so the PDF
cannot depend on the network or on files either. Both files are written atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2

from conceptlens.report.sections import build_report
from conceptlens.shipped import shipped_path, workflow_dir

REPORTS_DIR = workflow_dir() / "reports"
"""The workflow's ``reports/`` folder: ``templates/report.html.j2`` and ``report.css`` (in
the checkout or the installed package: :mod:`conceptlens.shipped`)."""
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"


def render_html(context: Mapping, reports_dir: str | os.PathLike = REPORTS_DIR) -> str:
    """The report's HTML from ``context`` (see :func:`build_report`), with the stylesheet
    inlined."""
    root = Path(reports_dir)
    if root == REPORTS_DIR:  # the shipped templates: a missing one is named, with the fix
        shipped_path(f"reports/{STYLESHEET}")
        shipped_path(f"reports/templates/{TEMPLATE}")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    css = (root / STYLESHEET).read_text()
    return env.get_template(TEMPLATE).render(**context, css=css)


def _data_only_fetcher():
    """A weasyprint URL fetcher that fetches only ``data:`` URLs and stops the rendering on
    any other (weasyprint >= 67: URLFetcher; older: a function)."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # weasyprint < 67
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args, **kwargs) -> dict:
            if not url.startswith("data:"):
                raise ValueError(f"report: refusing to fetch {url!r} (only data: URLs)")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch
    return URLFetcher(allowed_protocols=["data"], fail_on_errors=True)


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of ``html`` (weasyprint; fonts embedded, only ``data:`` URLs)."""
    import weasyprint

    return weasyprint.HTML(string=html, url_fetcher=_data_only_fetcher()).write_pdf()


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_report(inputs: Mapping[str, Sequence[str]], settings: Mapping,
                  html_path: str | os.PathLike, pdf_path: str | os.PathLike,
                  reports_dir: str | os.PathLike = REPORTS_DIR, date: str | None = None
                  ) -> dict[str, float]:
    """Render ``html_path`` and ``pdf_path`` from the run's files.

    The HTML carries every description row (sortable, filterable); the PDF the first
    ``settings["pdf_description_rows"]``. Returns seconds per step and the files' bytes.
    """
    from conceptlens.progress import progress

    times: dict[str, float] = {}
    with progress(total=3, desc="report (figures and tables, HTML, PDF)", unit="steps") as bar:
        t0 = time.perf_counter()
        context = build_report(inputs, settings, date=date)
        times["build_s"] = time.perf_counter() - t0
        bar.update()
        t1 = time.perf_counter()
        html = render_html({**context, "pdf": False}, reports_dir)
        times["html_s"] = time.perf_counter() - t1
        bar.update()
        t2 = time.perf_counter()
        pdf = html_to_pdf(render_html({**context, "pdf": True}, reports_dir))
        times["pdf_s"] = time.perf_counter() - t2
        bar.update()
    write_atomic(html_path, html)
    write_atomic(pdf_path, pdf)
    times["html_bytes"] = float(len(html.encode("utf-8")))
    times["pdf_bytes"] = float(len(pdf))
    return times
