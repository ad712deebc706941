"""A review helper's script (2026-12-07), kept with its modes made explicit. Usage: python review_linger.py make|old|new [UNITS].

Does the previous scored model stay alive while the next checkpoint loads, with clear_session(free_memory=False) vs the old clear_session()?"""
import gc, sys, tempfile, weakref
from pathlib import Path
import genreport.pipeline  # noqa
import keras
import numpy as np
from genreport.pipeline.models import checkpoints
from genreport.pipeline.scoring import score as scoring
from genreport.pipeline.data.fashion_mnist import find_data_dir, load_dataset

mode = sys.argv[1]  # "make" (write the checkpoints), "old" (genreport's clear_session()) or "new" (368e5b6's free_memory=False)
real = keras.backend.clear_session
if mode == "old":
    keras.backend.clear_session = lambda free_memory=True: real()
elif mode == "new":
    keras.backend.clear_session = lambda free_memory=True: real(free_memory=False)

def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) // 1024

folder = Path("/tmp/rev/ck")
folder.mkdir(exist_ok=True)
units = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
paths = {name: folder / f"{name}.keras" for name in ("base", "modified", "tuned")}
for name in (("base", "modified", "tuned") if mode == "make" else ()):
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(units), keras.layers.Dense(784, activation="sigmoid"),
                          keras.layers.Reshape((28, 28, 1))])
    m.save(folder / f"{name}.keras")
    paths[name] = folder / f"{name}.keras"
    del m
keras.backend.clear_session(); gc.collect()
if mode == "make":
    sys.exit(0)
import ctypes; ctypes.CDLL("libc.so.6").malloc_trim(0)
open("/proc/self/clear_refs", "w").write("5")
data = load_dataset(find_data_dir(None), train_limit=100, test_limit=50, seed=1)
refs = []
real_load = keras.saving.load_model
def load(path, *a, **k):
    alive = sum(r() is not None for r in refs)
    before = rss()
    model = real_load(path, *a, **k)
    print(f"{mode}: {path.name}: earlier models alive when load_model starts: {alive}; RSS {before} -> {rss()} MiB", flush=True)
    refs.append(weakref.ref(model))
    return model
keras.saving.load_model = load
scoring.score_checkpoints(paths, data, None, 4.0)
print(f"{mode}: after scoring, alive {sum(r() is not None for r in refs)}, RSS {rss()} MiB; gc.collect() -> {gc.collect()}; alive {sum(r() is not None for r in refs)}, RSS {rss()} MiB")

for l in open("/proc/self/status"):
    if l.startswith("VmHWM"):
        print(mode, "peak RSS while scoring", int(l.split()[1]) // 1024, "MiB")
