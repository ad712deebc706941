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
