"""Time what a 256-unit training's bookkeeping does with its weights: copies, an h5 with the optimizer, a .keras file."""
import os, sys, tempfile, time
import genreport.pipeline  # noqa: F401  (genreport's TensorFlow settings first)
import numpy as np
from genreport.pipeline.models.builders import build_modified

model = build_modified(units=256, activation="tanh", optimizer="rmsprop")
model.optimizer.build(model.trainable_variables)
folder = tempfile.mkdtemp(dir="/tmp/exp/hp")
times = {}
def timed(name, f):
    start = time.perf_counter(); f(); times[name] = round(time.perf_counter() - start, 3)
timed("get_weights", model.get_weights)
timed("save_weights", lambda: model.save_weights(os.path.join(folder, "a.weights.h5")))
timed("get_weights_2", model.get_weights)
timed("save_keras", lambda: model.save(os.path.join(folder, "a.keras")))
timed("load_weights", lambda: model.load_weights(os.path.join(folder, "a.weights.h5")))
print(os.environ.get("NUMPY_MADVISE_HUGEPAGE", "default"), times, "total", round(sum(times.values()), 3), flush=True)
