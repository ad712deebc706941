"""genreport's computing half: data, models, training, tuning and scoring.

Nothing here imports ``report`` (or jinja2, weasyprint, matplotlib): results leave this
package as plain data saved under ``OUT/results``.
"""

import os
import platform

__version__ = "0.1.0"

# oneDNN's own CPU allocator pools memory and never returns it: a smoke-preset search ended at
# 4.7 GiB resident with it and 3.8 GiB with the system allocator and a trim after each trial,
# with the same trial losses (see the README's memory section). Set before TensorFlow starts.
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")

# TensorFlow's default CPU allocator hands every tensor buffer to malloc and back, and glibc maps
# each large one afresh, so the kernel zeroes its pages again on every step: a smoke-preset run
# took 4.7 M page faults and 21 s of system time. Its BFC allocator keeps freed buffers for reuse
# (1.4 M faults, 10 s; same per-image SSIM and trial losses); see the README's memory section.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with AVX-512 VNNI or BF16,
# AVX-VNNI or AMX. Without them, on a 2-core AVX2 EPYC, its own transposed convolutions and
# convolution gradients are slow (a 256-unit design's inference took 4.6x as long, the 32-, 64-
# and 256-unit designs' training steps 1.6-2.1x): the full preset's search stage took 1324 s against 762 s
# with oneDNN, with the same ranking and choice and trial losses within 1.9e-4 (0.18%); see the
# README, "oneDNN on every x86 CPU". Only on x86: on ARM nothing was measured. Set before
# TensorFlow starts; a user's own setting wins.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
