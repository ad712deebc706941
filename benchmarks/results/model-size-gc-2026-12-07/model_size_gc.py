"""How long sizing a checkpoint's model takes with and without Keras' full garbage collection.

Usage: python model_size_gc.py (genreport installed). In one process: build and compile the 36
search designs (the heap a run has after its search), then size the base, modified and a 256-unit
design's descriptions five times each way, alternated: `clear_session()` as before (which calls
`gc.collect()`), and `clear_session(free_memory=False)`. Prints each round's seconds and the
collected-object count of one `gc.collect()`.
"""

import gc
import time

import genreport.pipeline  # noqa: F401  (genreport's TensorFlow settings first)
import keras

from genreport.pipeline.models import model_size as sizing
from genreport.pipeline.models.builders import ACTIVATIONS, OPTIMIZERS, UNITS, build_base, build_modified

kept = [build_modified(units=u, activation=a, optimizer=o) for u in UNITS for a in ACTIVATIONS for o in OPTIMIZERS]
configs = {name: keras.saving.serialize_keras_object(model)
           for name, model in (("base", build_base()), ("modified", build_modified(units=32)), ("256", build_modified(units=256)))}
print(f"{len(kept)} designs kept alive; gc.collect() finds {gc.collect()} objects to free now")

real_clear = keras.backend.clear_session
for round_ in range(5):
    for free_memory in (True, False):
        keras.backend.clear_session = lambda free_memory_=free_memory, **_: real_clear(free_memory=free_memory_)
        started = time.perf_counter()
        for name, config in configs.items():
            sizing.model_size(config, f"{name}.keras")
        print(f"round {round_ + 1} free_memory={free_memory}: {time.perf_counter() - started:.3f} s for 3 models", flush=True)
keras.backend.clear_session = real_clear
