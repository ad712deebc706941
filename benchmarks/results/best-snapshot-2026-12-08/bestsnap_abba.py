"""A 256-unit modified design (33.2 M weights) trained for 3 epochs of 2 steps (32 real training
images, batch 16, 16 validation images) with genreport's `fit_autoencoder`, whose
BestWeightsStopping keeps the best weights: A = the checkout's (tensor snapshots), B = the
earlier commit's (get_weights' NumPy copies), loaded from a worktree on PYTHONPATH. Fresh
processes alternated; each prints the fit's wall and CPU seconds, the seconds inside the
callback's on_epoch_end and on_train_end, and a digest of the final weights.

Usage (repository root): python bestsnap_abba.py OLD_PYTHONPATH ROUNDS
"""
import json, os, subprocess, sys

CHILD = r"""
import hashlib, json, resource, time
import numpy as np
import genreport.pipeline  # genreport's TensorFlow settings first
from genreport.pipeline.core.environment import pin_threads, reseed
from genreport.pipeline.data.fashion_mnist import find_data_dir, load_dataset
from genreport.pipeline.models.builders import build_modified
from genreport.pipeline.training import fit
from genreport.pipeline.training.budget import StepPlan
pin_threads()
data = load_dataset(find_data_dir(None), train_limit=80, test_limit=10, seed=3)
x = data.x_train
reseed(7)
model = build_modified(units=256, activation="tanh", optimizer="rmsprop")
inside = {"on_epoch_end": 0.0, "on_train_end": 0.0}
for name in inside:
    method = getattr(fit.BestWeightsStopping, name)
    def timed(self, *a, _m=method, _n=name, **k):
        t = time.perf_counter()
        try:
            return _m(self, *a, **k)
        finally:
            inside[_n] += time.perf_counter() - t
    setattr(fit.BestWeightsStopping, name, timed)
plan = StepPlan(kind="epochs", budget_flops=None, step_flops=1, steps=6, steps_per_epoch=2)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
out = fit.fit_autoencoder(model, x[:32], x[64:80], plan=plan, batch_size=16, patience=10, verbose=0)
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())).hexdigest()[:16]
print(json.dumps({"snapshots": hasattr(fit.BestWeightsStopping, "snapshot_weights"), "fit_s": round(t1 - t0, 3),
                  "fit_cpu": round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 3),
                  "callback_s": {k: round(v, 3) for k, v in inside.items()}, "val_loss": out.history["val_loss"],
                  "best_epoch": out.best_epoch, "weights": digest}))
"""


def one(old_path: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if old_path:
        env["PYTHONPATH"] = old_path
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    old_path, rounds = sys.argv[1], int(sys.argv[2])
    for r in range(rounds):
        for side in (("", old_path) if r % 2 == 0 else (old_path, "")):
            print(json.dumps(one(side)), flush=True)


if __name__ == "__main__":
    main()
