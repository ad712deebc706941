"""A run's garbage collections with the objects alive before its training frozen (after) or not (before).

Each variant's reseed, the search's builds and each scored model's sizing call ``gc.collect()`` to
free the model before. "after" is the code as it is: `_run_full_locked` and `score_checkpoints`
freeze the older objects first (`collections_skip_older_objects`), so those collections walk only
what the run made. "before" replaces the two blocks with empty ones (the search's own block, as
before this change, stays).

    python freeze_abba.py              # driver: fresh processes, before, after, after, before, before, after
    python freeze_abba.py before DIR   # one `genreport full --preset smoke --format html` run

Each process prints its explicit collections (how many walked every object, how many skipped the
frozen ones, and the seconds of each kind), its user and system CPU, and its mean SSIM line.
"""

from __future__ import annotations

import contextlib
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_process(mode: str, output: Path) -> None:
    import genreport.pipeline  # noqa: F401  (TensorFlow settings first)
    import genreport.pipeline.search.runner  # noqa: F401  (binds the search's own block before any patch)
    from genreport.pipeline.core import environment
    from genreport.pipeline.scoring import score
    from genreport.report.cli import main

    if mode == "before":
        environment.collections_skip_older_objects = score.collections_skip_older_objects = contextlib.nullcontext
    collect, spent = gc.collect, {True: [], False: []}

    def timed(*args, **kwargs):
        frozen, started = gc.get_freeze_count() > 0, time.perf_counter()
        try:
            return collect(*args, **kwargs)
        finally:
            spent[frozen].append(time.perf_counter() - started)

    gc.collect = timed
    try:
        main(["full", "--preset", "smoke", "--format", "html", "--output", str(output / "out")], standalone_mode=False)
    finally:
        gc.collect = collect
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"mode": mode, "walked_all": len(spent[False]), "walked_all_seconds": round(sum(spent[False]), 3),
                      "skipped_frozen": len(spent[True]), "skipped_frozen_seconds": round(sum(spent[True]), 3),
                      "user": usage.ru_utime, "system": usage.ru_stime,
                      "metrics": (output / "out" / "results" / "metrics.json").read_text()}))


def driver() -> None:
    records = []
    for mode in ("before", "after", "after", "before", "before", "after"):
        with tempfile.TemporaryDirectory() as folder:
            started = time.monotonic()
            done = subprocess.run([sys.executable, __file__, mode, folder], capture_output=True, text=True, check=True)
            wall = time.monotonic() - started
        record = json.loads(done.stdout.strip().splitlines()[-1])
        ssim = {v: m["ssim"]["mean"] for v, m in json.loads(record.pop("metrics"))["models"].items()}
        records.append((record, ssim))
        print(f"{mode:6s} wall {wall:5.1f} s  user {record['user']:5.1f} s  system {record['system']:4.1f} s  "
              f"collections walking everything {record['walked_all']} ({record['walked_all_seconds']:.2f} s), "
              f"skipping frozen {record['skipped_frozen']} ({record['skipped_frozen_seconds']:.2f} s)  mean SSIM {ssim}", flush=True)
    print(f"the same mean SSIM in all {len(records)} runs: {all(s == records[0][1] for _, s in records)}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        one_process(sys.argv[1], Path(sys.argv[2]))
    else:
        driver()
