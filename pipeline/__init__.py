"""genreport's computing half: data, models, training, tuning and scoring.

Nothing here imports ``report`` (or jinja2, weasyprint, matplotlib): results leave this
package as plain data saved under ``OUT/results``.
"""

import os

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

# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 (VNNI, BF16 or AMX).
# Without them its own convolution gradients and transposed convolutions run at 13-16 GFLOP/s
# against 33-70 with oneDNN on a 2-core AVX2 EPYC: a 256-unit modified design's training step
# took 1.8x less time and its inference 3.5x less, with trial losses within 2e-7 and the same
# choice (README, "oneDNN on every x86 CPU"). Set before TensorFlow starts; a user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
