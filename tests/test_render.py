"""Rendering a report from saved results: content, self-containment, PDF pages, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pypdf
import pytest
from click.testing import CliRunner

from conftest import write_results_fixture
from genreport.pipeline.data.fashion_mnist import CLASS_NAMES
from genreport.report.cli import main
from genreport.report.render import make_fetcher, render_report

SECTION_HEADINGS = (
    "Summary", "Paired comparisons", "Per class", "Reconstruction grids", "Best and worst",
    "Distribution", "Training", "Tuning", "Architecture", "Method and reproducibility",
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> Path:
    """One HTML and PDF report of a computed results folder (about 10 s of PDF layout), read by the
    tests that only look at it."""
    out = tmp_path_factory.mktemp("rendered") / "report"
    render_report(write_results_fixture(out.parent / "run", real_data_dir), out)
    return out


def test_the_report_says_its_per_class_intervals_of_twelve_images_are_narrower_than_95_percent(rendered: Path) -> None:
    html = (rendered / "report.html").read_text(encoding="utf-8")  # 120 test images: 12 a class
    assert "these percentile bootstrap intervals are narrower than 95%" in html


def test_html_holds_every_section_variant_and_class(rendered: Path) -> None:
    html = (rendered / "report.html").read_text(encoding="utf-8")
    for text in (*SECTION_HEADINGS, "Base", "Modified", "Tuned modified", *CLASS_NAMES):
        assert text.replace("/", "/") in html, text
    assert "0.9250" in html and "0.9421" in html and "0.9436" in html


def test_html_stands_alone(rendered: Path) -> None:
    html = (rendered / "report.html").read_text(encoding="utf-8")
    assert 'src="http' not in html and "src='http" not in html
    assert 'src="/' not in html and 'src="file:' not in html and "href=\"http" not in html
    assert html.count('src="data:image/') > 50


def test_pdf_has_every_heading_and_variant(rendered: Path) -> None:
    reader = pypdf.PdfReader(rendered / "report.pdf")
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in SECTION_HEADINGS:
        assert heading in text, heading
    for label in ("Base", "Modified", "Tuned modified"):
        assert label in text
    assert [item.title for item in reader.outline if not isinstance(item, list)][:1] == ["genreport: autoencoder reconstruction report"]


def test_no_pdf_page_is_blank(rendered: Path, tmp_path: Path) -> None:
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "30", "-gray", str(rendered / "report.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.pgm"))
    assert len(pages) >= 2
    for page in pages:
        pixels = np.asarray(Image.open(page))
        assert (pixels < 200).mean() > 0.002, f"{page.name} looks blank"


def test_render_command_works_where_tensorflow_cannot_be_imported_and_loads_no_scipy_stats(results_dir: Path, tmp_path: Path) -> None:
    """scipy.stats is for comparing and merging; importing it made a render of one folder slower
    (benchmarks/results/scipy-stats-lazy-2026-12-07/)."""
    script = textwrap.dedent(
        f"""
        import atexit, sys
        sys.modules["tensorflow"] = None  # any import of tensorflow now raises ImportError
        sys.modules["keras"] = None
        atexit.register(lambda: print("scipy.stats loaded:", "scipy.stats" in sys.modules))
        from genreport.report.cli import main
        sys.argv = ["genreport", "render", "--results", {str(results_dir)!r}, "--output", {str(tmp_path / "r")!r}]
        main()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "scipy.stats loaded: False"
    assert (tmp_path / "r" / "report.pdf").stat().st_size > 10_000
    assert (tmp_path / "r" / "report.html").is_file()


def test_render_writes_only_the_requested_format(results_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--output", str(tmp_path / "h"), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "h" / "report.html").exists() and not (tmp_path / "h" / "report.pdf").exists()


@pytest.mark.parametrize("onednn, row", [(True, "<th>oneDNN CPU kernels (scoring process)</th><td>on</td>"),
                                          (False, "<th>oneDNN CPU kernels (scoring process)</th><td>off</td>"),
                                          ("absent", None), ("false", None)])
def test_the_report_says_whether_onednn_kernels_ran_where_the_record_knows(results_dir: Path, tmp_path: Path, onednn: object, row: str | None) -> None:
    record = json.loads((results_dir / "run.json").read_text())
    record["machine"].pop("onednn", None)
    if onednn != "absent":  # results written before genreport recorded it have no such fact; a hand-edited string is no fact
        record["machine"]["onednn"] = onednn
    (results_dir / "run.json").write_text(json.dumps(record))
    html = (render_report(results_dir, tmp_path / "r", ("html",)).paths["html"]).read_text(encoding="utf-8")
    if row is None:
        assert "oneDNN CPU kernels" not in html
    else:
        assert row in html


def test_option_values_are_escaped(tmp_path: Path, real_data_dir: Path) -> None:
    results = write_results_fixture(tmp_path / "x", real_data_dir, command_line="genreport full --output '<script>alert(1)</script>'")
    html = (render_report(results, tmp_path / "x", ("html",)).paths["html"]).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pdf_fetcher_refuses_anything_but_its_own_images() -> None:
    fetcher = make_fetcher({"data:image/png;base64,AAAA"})
    for url in ("http://example.com/x.png", "file:///etc/passwd", "data:image/png;base64,BBBB"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


def test_render_of_missing_results_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--results", str(tmp_path / "none")])
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_a_full_disk_while_rendering_is_one_line_and_keeps_the_old_report(results_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    out = tmp_path / "r"
    render_report(results_dir, out, ("html",))
    before = (out / "report.html").read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("genreport.pipeline.core.fsutil.os.fsync", disk_full)
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--output", str(out), "--format", "html"])
    assert result.exit_code != 0
    assert result.stderr.strip() == "Error: No space left on device"
    assert (out / "report.html").read_bytes() == before
    # the folder's run lock (held while rendering), its journal and marker: no temporary file is left
    assert sorted(p.name for p in out.iterdir()) == [".genreport.journal", ".genreport.lock", "report.html"]


def test_class_names_with_dollar_signs_do_not_start_mathtext() -> None:
    from genreport.report.figures import per_class_bar_chart

    uri = per_class_bar_chart(["$\\frac{1}{$", "Coat $5", "Bag"], {"base": [0.9, 0.8, 0.7], "tuned": [0.91, 0.82, 0.75]})
    assert uri.startswith("data:image/svg+xml;base64,")


def test_log_axis_ticks_are_labelled_as_matplotlib_labels_them_in_plain_text() -> None:
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from genreport.report.figures import log_scale

    def tick_labels(axis: object) -> list[str]:
        low, high = axis.get_view_interval()
        shown = sorted((tick.get_loc(), tick.label1.get_text()) for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                       if low <= tick.get_loc() <= high)
        return [text for _, text in shown if text]

    with matplotlib.style.context("default"):  # which ticks get labels depends on sizes a user's matplotlibrc may change
        fig = Figure(figsize=(6.4, 4.8))
        wide, narrow = fig.subplots(1, 2)
        log_scale(wide, "x")
        wide.set_xlim(5, 2e5)
        log_scale(narrow, "y")
        narrow.set_ylim(0.011, 0.021)
        FigureCanvasAgg(fig).draw()
        shown = tick_labels(wide.xaxis), tick_labels(narrow.yaxis)
    # decades only over several decades; the values between them too within one
    assert shown[0] == ["10¹", "10²", "10³", "10⁴", "10⁵"]
    assert shown[1] == ["1.2\u2009×\u200910⁻²", "1.4\u2009×\u200910⁻²", "1.6\u2009×\u200910⁻²", "1.8\u2009×\u200910⁻²", "2\u2009×\u200910⁻²"]


def test_a_log_axis_label_of_another_form_is_kept_as_matplotlib_writes_it() -> None:
    import matplotlib
    from matplotlib.ticker import LogFormatterSciNotation

    from genreport.report.figures import PlainLogFormatter

    with matplotlib.rc_context({"axes.formatter.min_exponent": 7}):  # 10^6 then written as 1e+06
        assert PlainLogFormatter()(1e6) == LogFormatterSciNotation()(1e6) == "$\\mathdefault{1e+06}$"


def test_render_refuses_results_whose_run_is_still_writing_them(results_dir: Path, tmp_path: Path) -> None:
    import shutil

    from genreport.pipeline.core.lock import output_lock

    run_folder = tmp_path / "run"
    shutil.copytree(results_dir, run_folder / "results")
    with output_lock(run_folder):
        result = CliRunner().invoke(main, ["render", "--results", str(run_folder / "results"), "--output", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "is writing to" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.html").exists()


def test_render_quiet_prints_only_where_the_report_is(results_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "-q", "--results", str(results_dir), "--output", str(tmp_path / "q"), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"report: {tmp_path / 'q' / 'report.html'}"]


def test_check_html_probes_a_copy_and_counts_any_console_line_as_an_error(results_dir: Path, tmp_path: Path) -> None:
    from genreport.report.check_html import CONSOLE_ERROR, attribute, probed_copy

    report = render_report(results_dir, tmp_path / "r", ("html",)).paths["html"]
    before = report.read_bytes()
    copy = probed_copy(report, tmp_path)
    assert "data-images-broken" in copy.read_text(encoding="utf-8") and report.read_bytes() == before
    assert CONSOLE_ERROR.search('[1:1:1129/071110.028088:INFO:CONSOLE:528] "image did not load: original"')
    assert not CONSOLE_ERROR.search("[1:1:1129/071107.8:WARNING:ui/base/idle/idle_linux.cc:111] None of the known D-Bus services")
    assert attribute('<body data-images-broken="3">', "data-images-broken") == 3


def test_control_and_bidi_override_characters_from_results_do_not_reach_the_report(results_dir: Path, tmp_path: Path) -> None:
    import json

    forged = "T-shirt\x00\x1b[31m\u202egnp.exe\u2066\u200b\ufeff"
    for name in ("run.json", "metrics.json"):
        text = (results_dir / name).read_text()
        (results_dir / name).write_text(text.replace('"T-shirt/top"', json.dumps(forged)))
    table = (results_dir / "per_image.csv").read_text()
    (results_dir / "per_image.csv").write_text(table.replace("T-shirt/top", forged))
    html = render_report(results_dir, tmp_path / "r", ("html",)).paths["html"].read_text()
    assert "T-shirt[31mgnp.exe" in html
    assert not [c for c in ("\x00", "\x1b", "\u202e", "\u2066", "\u200b", "\ufeff") if c in html]


def test_a_symlinked_results_file_is_refused_and_its_target_s_text_never_shown(results_dir: Path) -> None:
    target = results_dir.parent / "system-file"
    target.write_text("root:x:0:0:secret line\n1,2\n")
    (results_dir / "per_image.csv").unlink()
    (results_dir / "per_image.csv").symlink_to(target)
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"])
    assert result.exit_code == 1
    assert "is a symlink" in result.stderr and "secret" not in result.stderr


def test_a_per_image_table_that_is_not_numbers_is_named_by_file_and_column_not_by_its_text(results_dir: Path) -> None:
    (results_dir / "per_image.csv").write_text("root:x:0:0:secret line,b\nnot a number,2\n")
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"])
    assert result.exit_code == 1
    assert "per_image.csv" in result.stderr and "column 1" in result.stderr and "secret" not in result.stderr
