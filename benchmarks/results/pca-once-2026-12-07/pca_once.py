"""PCA baselines on the full preset's training split: every size fitted alone (before) against one decomposition.

Usage: python pca_once.py (from the repository root, genreport installed). Loads the data set as the
full preset does (no limits, data seed 42), times `baseline_reconstructions` four times each way in
the order before, after, after, before, before, after, after, before (so neither goes first every
time), with the process's user and system CPU of each, and checks that both give the same bytes
for every baseline.
"""

import resource
import time

import numpy as np

from genreport.pipeline.data.fashion_mnist import find_data_dir, load_dataset
from genreport.pipeline.scoring.baselines import (MEAN_IMAGE, PCA_COMPONENTS, baseline_reconstructions, mean_image_reconstruction,
                                                  pca_reconstruction)


def pca_basis_before(train, components):
    """pca_basis as it was before (e.g. at 411bb1c): a decomposition for every size."""
    flat = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    mean = flat.mean(axis=0)
    centred = flat - mean
    covariance = centred.T @ centred / max(len(flat) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1][:components]
    return mean, eigenvectors[:, order]


def reconstructions_before(data, components=PCA_COMPONENTS):
    recon = {MEAN_IMAGE: mean_image_reconstruction(data.x_train, len(data.x_test))}
    for k in components:
        k = min(k, int(np.prod(data.x_train.shape[1:])))
        recon[f"PCA {k}"] = pca_reconstruction(data.x_test, *pca_basis_before(data.x_train, k))
    return recon


data = load_dataset(find_data_dir(None), train_limit=None, test_limit=None, seed=42)
print(f"training images {len(data.x_train)}, test images {len(data.x_test)}")
results = {}
builds = {"before": reconstructions_before, "after": baseline_reconstructions}
for run, name in enumerate(("before", "after", "after", "before", "before", "after", "after", "before")):
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    results[name] = builds[name](data)
    done = resource.getrusage(resource.RUSAGE_SELF)
    print(f"run {run + 1} {name}: wall {time.perf_counter() - started:.2f} s, user {done.ru_utime - cpu.ru_utime:.2f} s, "
          f"system {done.ru_stime - cpu.ru_stime:.2f} s", flush=True)
same = all(np.array_equal(results["before"][key], results["after"][key]) for key in results["before"])
print(f"same keys: {list(results['before']) == list(results['after'])}; every reconstruction bit-identical: {same}")
