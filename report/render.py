"""Renders saved results into ``report.html`` and ``report.pdf``.

The HTML stands alone (every image is a data URI). WeasyPrint gets a URL fetcher that serves
only the data URIs this renderer put in the page; anything else is refused and logged.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genreport.pipeline.fsutil import write_atomically, write_text_atomically
from genreport.pipeline.results import load_results
from genreport.report.context import build_context
from genreport.report.jinja_env import make_environment

LOG = logging.getLogger("genreport.render")
TEMPLATE = "report.html.j2"
DATA_URI = re.compile(r"""data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+""")


@dataclass
class Rendered:
    """The files written and the seconds it took."""

    paths: dict[str, Path]
    seconds: float


def render_html(context: dict[str, Any]) -> str:
    """The report's HTML text from a context of plain values."""
    return make_environment().get_template(TEMPLATE).render(**context)


def own_data_uris(html: str) -> set[str]:
    """The data URIs present in the HTML the renderer made: the only URLs WeasyPrint may fetch."""
    return set(DATA_URI.findall(html))


def make_fetcher(allowed: set[str]) -> Any:
    """A WeasyPrint URL fetcher that serves ``allowed`` data URIs and refuses everything else."""
    from weasyprint.urls import URLFetcher

    class OwnImagesOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url not in allowed:
                LOG.warning("refused to fetch %s", url[:120])
                raise ValueError(f"genreport serves only its own images, not {url[:80]}")
            return super().fetch(url, headers)

    return OwnImagesOnly(allowed_protocols={"data"}, timeout=1)


def write_pdf(html: str, path: Path) -> Path:
    """Lay out ``html`` with WeasyPrint and write the PDF whole."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=None, url_fetcher=make_fetcher(own_data_uris(html)))
    return write_atomically(path, lambda tmp: document.write_pdf(target=str(tmp)), suffix=".pdf")


def render_report(results_dir: Path, output_dir: Path, formats: tuple[str, ...] = ("html", "pdf")) -> Rendered:
    """Render the results in ``results_dir`` into ``output_dir`` in each requested format."""
    started = time.monotonic()
    html = render_html(build_context(load_results(results_dir)))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if "html" in formats:
        paths["html"] = write_text_atomically(output_dir / "report.html", html)
    if "pdf" in formats:
        paths["pdf"] = write_pdf(html, output_dir / "report.pdf")
    return Rendered(paths, time.monotonic() - started)
