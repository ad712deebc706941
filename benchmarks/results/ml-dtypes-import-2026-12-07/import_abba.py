"""Start-up cost of ml_dtypes 0.7.0 against 0.6.0: fresh processes alternated (A B B A ...).

Usage: python import_abba.py FOLDER_WITH_ML_DTYPES_0_6_0 ROUNDS
(the folder is an unpacked wheel: pip download ml_dtypes==0.6.0 --no-deps; unzip). The installed
ml_dtypes is A; B puts the folder first on PYTHONPATH. Each process reports its own wall time and
CPU (user + system) for `import ml_dtypes` and then `import keras` (TensorFlow backend).
"""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
import numpy
c0, t0 = cpu(), time.perf_counter()
import ml_dtypes
c1, t1 = cpu(), time.perf_counter()
import keras
c2, t2 = cpu(), time.perf_counter()
print(json.dumps({"version": ml_dtypes.__version__, "ml_dtypes_s": t1 - t0, "ml_dtypes_cpu": c1 - c0,
                  "keras_s": t2 - t0, "keras_cpu": c2 - c0}))
"""


def one(folder: str | None) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if folder:
        env["PYTHONPATH"] = folder
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    folder, rounds = sys.argv[1], int(sys.argv[2])
    for r in range(rounds):
        order = (None, folder) if r % 2 == 0 else (folder, None)
        for f in order:
            row = one(f)
            print(f"{row['version']}  ml_dtypes {row['ml_dtypes_s']:.3f} s ({row['ml_dtypes_cpu']:.2f} CPU-s)  "
                  f"numpy..keras {row['keras_s']:.2f} s ({row['keras_cpu']:.2f} CPU-s)", flush=True)


if __name__ == "__main__":
    main()
