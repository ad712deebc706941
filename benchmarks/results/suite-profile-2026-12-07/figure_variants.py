"""Scratch timing of the report context with chart variants (not genreport's code).

Usage: python figure_variants.py base|nomath|notight|nomath-notight RESULTS_DIR [BUILDS]. Patches
matplotlib or genreport.report.figures in this process only, builds the context BUILDS times
(default 4) and prints each time. "nomath" writes log tick labels as plain text (10⁻²);
"notight" replaces bbox_inches="tight" with the tight layout engine (matplotlib still makes its
draw before saving for a layout engine, so this does not remove that draw).
"""
import sys, time, re
import matplotlib
from matplotlib import ticker
from pathlib import Path
mode = sys.argv[1]
if "nomath" in mode:
    SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
    orig = ticker.LogFormatterSciNotation.__call__
    def plain(self, x, pos=None):
        s = orig(self, x, pos)
        m = re.fullmatch(r"\$\\mathdefault\{(?:(-?[\d.]+)\\times)?(\d+)\^\{(-?\d+)\}\}\$", s)
        if not m: return s
        lead, base, exp = m.groups()
        return (f"{lead}×" if lead else "") + base + exp.translate(SUP)
    ticker.LogFormatterSciNotation.__call__ = plain
import genreport.report.figures as figs
if "notight" in mode:
    import io
    def svg(fig):
        fig.set_layout_engine("tight")
        buffer = io.BytesIO(); fig.savefig(buffer, format="svg", metadata={"Date": None})
        return figs.data_uri(buffer.getvalue(), "image/svg+xml")
    figs._svg_uri = svg
from genreport.report.context import build_context
from genreport.pipeline.results.store import load_results
r = load_results(Path(sys.argv[2]))
times = []
for i in range(int(sys.argv[3]) if len(sys.argv) > 3 else 4):
    t = time.perf_counter(); ctx = build_context(r); times.append(time.perf_counter() - t)
print(mode, " ".join(f"{t:.2f}" for t in times))
