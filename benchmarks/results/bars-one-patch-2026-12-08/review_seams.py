# The reviewer's seam finder (2026-12-08, kept as it ran): rasterises PDFs with pdftoppm or pdftocairo at 72-300 dpi
# and counts light columns inside bars of a known face colour. Usage as in its __main__.
import subprocess, sys, numpy as np
from PIL import Image
FACES = {"blue": (59, 110, 168), "orange": (217, 95, 2), "dark": (27, 27, 27), "green": (27, 158, 119)}
def load(pdf, tool, dpi, page=None):
    base = pdf[:-4] + f"-{tool}-{dpi}-s4"
    args = [tool, "-r", str(dpi), "-png", "-singlefile"] + (["-f", str(page), "-l", str(page)] if page else []) + [pdf, base]
    subprocess.run(args, check=True)
    return np.asarray(Image.open(base + ".png").convert("RGB")).astype(int)
def seams(z, face, k=3):
    face = np.array(face)
    isface = (np.abs(z - face).max(-1) < 8)
    inside = np.zeros_like(isface); inside[:, k:-k] = isface[:, :-2*k] & isface[:, 2*k:]
    lighter = (z.sum(-1) > face.sum() + 60) & ~(z == 255).all(-1)
    m = inside & lighter
    cols = np.bincount(np.nonzero(m)[1], minlength=z.shape[1])
    return int(m.sum()), [int(c) for c in np.nonzero(cols >= 15)[0]]
if __name__ == "__main__":
    page = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else None
    pairs = sys.argv[1]
    for dpi in (72, 96, 100, 120, 150, 200, 300):
        out = []
        for v in ("old", "new"):
            z = load(pairs.replace("VER", v), "pdftoppm", dpi, page)
            out.append({c: seams(z, f) for c, f in FACES.items()})
        print(pairs, dpi, "old", out[0], "new", out[1], flush=True)
