"""WeasyPrint's layout of one report's HTML into a PDF (genreport's lay_out_pdf), in fresh
processes alternated between two HTML files: CPU and wall seconds of each.
Usage: python pdf_abba.py A.html B.html ROUNDS"""
import json, subprocess, sys
CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from genreport.report.render import lay_out_pdf
html = Path(sys.argv[1]).read_text()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
with tempfile.TemporaryDirectory() as folder:
    lay_out_pdf(html, Path(folder) / "report.pdf")
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
print(json.dumps({"cpu": round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 3), "wall": round(t1 - t0, 3)}))
"""
a, b, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for r in range(rounds):
    for label, path in ((("A", a), ("B", b)) if r % 2 == 0 else (("B", b), ("A", a))):
        out = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True)
        print(label, out.stdout.strip().splitlines()[-1], flush=True)
