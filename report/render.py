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

from genreport.pipeline.core.fsutil import replaced_together
from genreport.pipeline.core.journal import record_report_file
from genreport.pipeline.results.store import load_results
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


def lay_out_pdf(html: str, target: Path) -> None:
    """Lay out ``html`` with WeasyPrint into the file ``target``."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=None, url_fetcher=make_fetcher(own_data_uris(html)))
    document.write_pdf(target=str(target))


def render_report(results_dir: Path, output_dir: Path, formats: tuple[str, ...] = ("html", "pdf")) -> Rendered:
    """Render the results in ``results_dir`` into ``output_dir`` in each requested format.

    The report files are replaced as a pair (both or neither), and their digests go into the
    folder's journal, which is how a later render knows they are genreport's to replace.
    """
    started = time.monotonic()
    html = render_html(build_context(load_results(results_dir)))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: output_dir / f"report.{kind}" for kind in ("html", "pdf") if kind in formats}
    with replaced_together(list(paths.values())) as temporaries:
        if "html" in paths:
            temporaries[paths["html"]].write_bytes(html.encode("utf-8"))
        if "pdf" in paths:
            lay_out_pdf(html, temporaries[paths["pdf"]])
        for path in paths.values():
            record_report_file(path, temporaries[path])
    return Rendered(paths, time.monotonic() - started)
