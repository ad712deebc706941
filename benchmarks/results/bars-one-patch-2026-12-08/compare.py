"""The per-class bar chart before (figures.py of an earlier commit) and after (the checkout's):
rasterised by matplotlib (Agg, 150 dpi, the same bbox) and by WeasyPrint (SVG in a PDF, then
pdftoppm at 150 dpi), pixel by pixel; and WeasyPrint's CPU seconds to lay each SVG out.
Usage (repository root): python compare.py BEFORE_FIGURES_PY OUTDIR"""
import importlib.util, io, subprocess, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from weasyprint import HTML
import genreport.report.figures as new
spec = importlib.util.spec_from_file_location("old_figures", sys.argv[1]); old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
rng = np.random.default_rng(0)
CASES = {
    "three-variants": {"base": [0.93, 0.98, 0.9, 0.94, 0.91, 0.95, 0.86, 0.96, 0.95, 0.95], "modified": list(rng.uniform(0.85, 0.99, 10)), "tuned": list(rng.uniform(0.85, 0.99, 10))},
    "smoke-like": {"base": list(rng.uniform(0.5, 0.7, 10)), "modified": list(rng.uniform(0.0, 0.15, 10)), "tuned": list(rng.uniform(-0.05, 0.1, 10))},
    "ten-user-models": {f"model_{i}.keras": list(rng.uniform(0.6, 0.99, 10)) for i in range(10)},
    "variants-and-pca": {"base": list(rng.uniform(0.8, 0.99, 10)), "tuned": list(rng.uniform(0.8, 0.99, 10)), "pca 16": list(rng.uniform(0.5, 0.8, 10)), "pca 64": list(rng.uniform(0.6, 0.9, 10))},
}
def agg_png(module, means):
    captured = {}
    def grab(fig):
        buffer = io.BytesIO(); fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight"); captured["png"] = buffer.getvalue()
        captured["xlim"] = fig.axes[0].get_xlim(); return ""
    saved = module._svg_uri; module._svg_uri = grab
    try:
        module.per_class_bar_chart(CLASSES, means)
    finally:
        module._svg_uri = saved
    return captured
def weasy(uri, path):
    doc = f'<html><body style="margin:0"><img src="{uri}" style="width:16cm"></body></html>'
    HTML(string=doc).write_pdf(path)
    t = time.process_time(); HTML(string=doc).write_pdf(path); seconds = time.process_time() - t
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(path.with_suffix(""))], check=True)
    return seconds, np.asarray(Image.open(path.with_suffix(".png")).convert("RGB"))
for name, means in CASES.items():
    a, b = agg_png(old, means), agg_png(new, means)
    ia, ib = (np.asarray(Image.open(io.BytesIO(c["png"])).convert("RGB")) for c in (a, b))
    agg = "identical" if ia.shape == ib.shape and np.array_equal(ia, ib) else f"DIFFER shape {ia.shape} {ib.shape} pixels {int((ia != ib).any(-1).sum()) if ia.shape == ib.shape else 'n/a'}"
    sa, pa = weasy(old.per_class_bar_chart(CLASSES, means), out / f"{name}-old.pdf")
    sb, pb = weasy(new.per_class_bar_chart(CLASSES, means), out / f"{name}-new.pdf")
    pdf = "identical" if pa.shape == pb.shape and np.array_equal(pa, pb) else f"DIFFER pixels {int((pa != pb).any(-1).sum()) if pa.shape == pb.shape else 'shape'} of {pa.shape[0]*pa.shape[1]}, max channel difference {int(np.abs(pa.astype(int)-pb.astype(int)).max()) if pa.shape == pb.shape else 'n/a'}"
    print(f"{name}: xlim old {tuple(round(v, 6) for v in a['xlim'])} new {tuple(round(v, 6) for v in b['xlim'])}; Agg PNG {agg}; WeasyPrint raster {pdf}; WeasyPrint layout {sa:.3f} s old, {sb:.3f} s new", flush=True)
