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
