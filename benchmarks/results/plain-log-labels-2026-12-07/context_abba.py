"""A report context's build time with log tick labels as mathtext (A, figures.py at BEFORE_COMMIT)
against plain text (B, the checkout's figures.py): fresh processes alternated, three builds each.

Usage (from the repository root): python context_abba.py BEFORE_COMMIT ROUNDS
The results are the tests' `results_dir` fixture (real test images, blurred; no training).
"""

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import importlib.util, json, resource, sys, time
from pathlib import Path
sys.path.insert(0, "tests")
if sys.argv[1]:  # the figures module of the earlier commit, under genreport's name, before anything imports it
    spec = importlib.util.spec_from_file_location("genreport.report.figures", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    sys.modules["genreport.report.figures"] = module
    spec.loader.exec_module(module)
import conftest
from genreport.pipeline.data.fashion_mnist import find_data_dir
from genreport.pipeline.results.store import load_results
from genreport.report.context import build_context
import genreport.report.figures as figures
results = load_results(conftest.write_results_fixture(Path(sys.argv[2]), find_data_dir(None)))
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
builds = []
for _ in range(3):
    c, t = cpu(), time.perf_counter()
    build_context(results)
    builds.append((round(time.perf_counter() - t, 3), round(cpu() - c, 3)))
print(json.dumps({"plain": hasattr(figures, "PlainLogFormatter"), "builds": builds}))
"""


def one(before_file: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run([sys.executable, "-c", CHILD, before_file, folder], env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    commit, rounds = sys.argv[1], int(sys.argv[2])
    before = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    before.write(subprocess.run(["git", "show", f"{commit}:report/figures.py"], capture_output=True, text=True, check=True).stdout)
    before.close()
    for r in range(rounds):
        for side in ((before.name, "") if r % 2 == 0 else ("", before.name)):
            row = one(side)
            label = "plain text" if row["plain"] else "mathtext  "
            print(label, "  ".join(f"{wall:.2f} s ({cpu:.2f} CPU-s)" for wall, cpu in row["builds"]), flush=True)


if __name__ == "__main__":
    main()
