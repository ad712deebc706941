"""A search's restarted designs from tensor snapshots (after) against NumPy copies (before).

`ReusableModel` keeps a design's built weights so that the next trial of the same design (another
optimizer) restarts from them without a build. Until this change it kept `get_weights()` NumPy
copies and restored them with `set_weights`; now it keeps tensors that share the variables'
buffers (copy on write) and restores them with `assign`. "before" puts the old two methods back
(copied here from f879726's pipeline/search/tuner.py).

    python snapshot_abba.py            # driver: six fresh processes, before, after, after, before, before, after
    python snapshot_abba.py before DIR # one process: the smoke preset's search stage, with the old methods

Each process prints the search stage's wall seconds, the process's user and system CPU, the time
spent in ReusableModel's two methods, and every trial's validation loss (to compare bit for bit).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def one_process(mode: str, output: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import genreport.pipeline  # noqa: F401  (TensorFlow settings first)
    from genreport.pipeline.search import tuner
    from trial_cost import run_search_stage

    if mode == "before":
        def of(cls, model, hp):
            return cls(tuner.design_shape(hp), model, model.get_weights())

        def restarted(self, optimizer):
            self.model.set_weights(self.initial_weights)
            return tuner.compile_autoencoder(self.model, optimizer)

        tuner.ReusableModel.of, tuner.ReusableModel.restarted = classmethod(of), restarted
    spent = {"of": 0.0, "restarted": 0.0}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return wrapper

    of_function = tuner.ReusableModel.of.__func__
    tuner.ReusableModel.of = classmethod(timed("of", of_function))
    tuner.ReusableModel.restarted = timed("restarted", tuner.ReusableModel.restarted)
    path, info = run_search_stage("smoke", output)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rows = [line.split(",") for line in path.read_text().splitlines()]
    header = rows[0]
    losses = {",".join(r[header.index(k)] for k in ("activation", "units", "optimizer")): r[header.index("val_loss")] for r in rows[1:]}
    print(json.dumps({"mode": mode, "search_seconds": info["search_seconds"], "user": usage.ru_utime, "system": usage.ru_stime,
                      "of_seconds": round(spent["of"], 3), "restarted_seconds": round(spent["restarted"], 3),
                      "best": info["best"], "val_loss": losses}))


def driver() -> None:
    results = []
    for mode in ("before", "after", "after", "before", "before", "after"):
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run([sys.executable, __file__, mode, folder], capture_output=True, text=True, check=True)
        record = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(record)
        print(f"{mode:6s} search {record['search_seconds']:6.1f} s  user {record['user']:6.1f} s  system {record['system']:5.1f} s"
              f"  of {record['of_seconds']:6.3f} s  restarted {record['restarted_seconds']:6.3f} s  best {record['best']}", flush=True)
    losses = [r["val_loss"] for r in results]
    print(f"every trial's validation loss the same in all {len(results)} runs: {all(l == losses[0] for l in losses)}"
          f" ({len(losses[0])} trials)")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        one_process(sys.argv[1], Path(sys.argv[2]))
    else:
        driver()
