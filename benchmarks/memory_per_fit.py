"""What one traced Keras training leaves in the process: RSS after each of N fits of the modified design.

Each fit builds the modified model (``--units``), trains ``--steps`` steps on random images at
batch 16 with 500 validation images, then drops the model, clears the Keras session, collects
garbage and calls ``malloc_trim``: what a search trial does between trials. Prints the process's
resident memory after each fit, whether the model and optimizer are still alive (weak
references), and the ``tf.Variable`` objects Python still holds.

    python benchmarks/memory_per_fit.py --units 256 --n 3 [--mode fit|predict] [--keep-all-reduce]
    POLICY=float32 TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/memory_per_fit.py ...
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import weakref

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def resident_gib() -> float:
    """This process's resident set (VmRSS) in GiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 2**20
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="fits, one after the other")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--mode", choices=("fit", "predict"), default="fit")
    parser.add_argument("--optimizer", choices=("adam", "sgd", "rmsprop"), default="adam")
    parser.add_argument("--keep-all-reduce", action="store_true",
                        help="train as before the fix: Keras' one-replica gradient all-reduce left in")
    args = parser.parse_args()

    from genreport.pipeline.core.environment import pin_threads, release_free_memory

    pin_threads()
    import keras
    import numpy as np
    from tensorflow.python.ops.resource_variable_ops import BaseResourceVariable

    from genreport.pipeline.models.builders import build_modified
    from genreport.pipeline.training.fit import skip_one_replica_all_reduce
    from genreport.pipeline.training.precision import apply_policy, choose_policy

    x = np.random.default_rng(0).random((16 * args.steps, 28, 28, 1), dtype=np.float32)
    x_val = np.random.default_rng(1).random((500, 28, 28, 1), dtype=np.float32)
    print(f"start: {resident_gib():.3f} GiB", flush=True)
    for fit in range(args.n):
        keras.backend.clear_session(free_memory=False)
        release_free_memory()
        apply_policy(choose_policy(os.environ.get("POLICY", "auto")))  # clear_session resets it
        model = build_modified(units=args.units, activation="relu", optimizer=args.optimizer, name="tuned")
        started = time.monotonic()
        if args.mode == "fit":
            if not args.keep_all_reduce:
                skip_one_replica_all_reduce(model)  # as genreport's fit_autoencoder does (it also builds the optimizer first)
            model.fit(x, x, batch_size=16, validation_data=(x_val, x_val), epochs=1, verbose=0)
        else:
            model.predict(x_val, batch_size=16, verbose=0)
        model_ref = weakref.ref(model)
        optimizer_ref = weakref.ref(model.optimizer) if getattr(model, "optimizer", None) is not None else lambda: None
        del model
        keras.backend.clear_session(free_memory=True)
        gc.collect()
        release_free_memory()
        variables = [o for o in gc.get_objects() if isinstance(o, BaseResourceVariable)]
        print(f"fit {fit + 1}: {time.monotonic() - started:.1f} s, {resident_gib():.3f} GiB resident; "
              f"model alive {model_ref() is not None}, optimizer alive {optimizer_ref() is not None}, "
              f"tf.Variables held by Python {len(variables)}", flush=True)
        del variables


if __name__ == "__main__":
    main()
