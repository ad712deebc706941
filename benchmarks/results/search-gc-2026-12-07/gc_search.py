"""The full preset's search stage alone (benchmarks/trial_cost.py), with each gc.collect() timed.

    python gc_search.py on|off OUTPUT    (on: tf.data autotuning as before 7167a21; off: as now)
"""
import gc, json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/, for trial_cost
import trial_cost
from genreport.pipeline.training import fit

mode, output = sys.argv[1], Path(sys.argv[2])
if mode == "on":
    fit.without_autotuning = lambda dataset: dataset
collects, real_collect = [], gc.collect

def timed_collect(*args):
    started = time.monotonic()
    found = real_collect(*args)
    collects.append(round(time.monotonic() - started, 3))
    return found

gc.collect = timed_collect
output.mkdir(parents=True)
path, stage = trial_cost.run_search_stage("full", output)
stage.update(mode=mode, collects=len(collects), collect_seconds=round(sum(collects), 1), slowest_collects=sorted(collects)[-10:])
(output / "gc.json").write_text(json.dumps(stage, indent=1, default=str))
print(json.dumps(stage, default=str))
