"""Seconds to delete a training-input iterator (fit.shuffled_epochs) a few seconds after its first batches,
with tf.data autotuning on or off: python iterator_deletion.py on|off SLEEP TRIALS."""
import time, sys, gc
import numpy as np
import tensorflow as tf
from genreport.pipeline.training.fit import shuffled_epochs
x = np.random.rand(200, 28, 28, 1).astype("float32")
autotune = sys.argv[1] == "on"
worst = []
for trial in range(int(sys.argv[3])):
    ds = shuffled_epochs(x, 4, trial, 0, 3)
    o = tf.data.Options(); o.autotune.enabled = autotune; ds = ds.with_options(o)  # shuffled_epochs turns it off since 7167a21
    assert ds.options().autotune.enabled is autotune
    it = iter(ds)
    for _ in range(2): next(it)
    time.sleep(float(sys.argv[2]))
    t = time.monotonic(); del it; worst.append(time.monotonic() - t)
print(sys.argv[1:], "delete seconds:", [round(w, 3) for w in worst])
