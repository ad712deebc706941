"""Baselines scored exactly like the autoencoders, so a reader can see what an SSIM means.

- **mean image**: the mean training image, given as the reconstruction of every test image.
- **PCA k**: the test image projected on the top ``k`` principal components of the training
  images and back (the best linear reconstruction with ``k`` numbers per image).

Why not PCA with as many components as the smallest bottleneck: our bottlenecks hold 2,048
(modified, 4x4x128) and 3,136 (base, 7x7x64) numbers, more than an image's 784 pixels, so PCA of
that size reconstructs exactly. The autoencoders compress through their nonlinear layers, not the
bottleneck's size. PCA at a few sizes well under 784 shows where a linear model stands instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genreport.pipeline.data.fashion_mnist import Dataset
from genreport.pipeline.scoring.metrics import VariantScores, score_reconstructions

PCA_COMPONENTS: tuple[int, ...] = (16, 64)
MEAN_IMAGE = "mean image"


def principal_axes(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training images' mean (784,) and all their principal axes (784, 784), largest variance first."""
    flat = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    mean = flat.mean(axis=0)
    centred = flat - mean
    covariance = centred.T @ centred / max(len(flat) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return mean, eigenvectors[:, np.argsort(eigenvalues)[::-1]]


def pca_reconstruction(images: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``images`` projected on ``axes`` and back, clipped to [0, 1] like a model's output."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    restored = (flat - mean) @ axes @ axes.T + mean
    return np.clip(restored, 0.0, 1.0).reshape(np.shape(images)).astype(np.float32)


def mean_image_reconstruction(train: np.ndarray, count: int) -> np.ndarray:
    """The mean training image, repeated ``count`` times."""
    mean = np.asarray(train, dtype=np.float64).mean(axis=0)
    return np.repeat(mean[None], count, axis=0).astype(np.float32)


def baseline_reconstructions(data: Dataset, components: tuple[int, ...] = PCA_COMPONENTS) -> dict[str, np.ndarray]:
    """Each baseline's reconstruction of the test images, fitted on the training split only."""
    recon = {MEAN_IMAGE: mean_image_reconstruction(data.x_train, len(data.x_test))}
    # One decomposition serves every size (each size's axes are its first k columns): on the full
    # preset's 54,000 training images that saves about 1 s of CPU (benchmarks/results/pca-once-2026-12-07).
    mean, axes = principal_axes(data.x_train)
    for k in components:
        k = min(k, axes.shape[1])
        recon[f"PCA {k}"] = pca_reconstruction(data.x_test, mean, np.ascontiguousarray(axes[:, :k]))
    return recon


def score_baselines(data: Dataset, components: tuple[int, ...] = PCA_COMPONENTS) -> dict[str, VariantScores]:
    """Per-image SSIM (both windows), MSE and PSNR of every baseline on the test images."""
    return {name: score_reconstructions(name, data.x_test, recon) for name, recon in baseline_reconstructions(data, components).items()}


def baselines_payload(scores: dict[str, VariantScores], labels: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Summaries of every baseline, with the same bootstrap interval as the variants."""
    return {name: s.summary_with_interval(labels, rng) for name, s in scores.items()}


def baseline_cost(name: str) -> dict[str, int | None]:
    """A baseline's numbers stored and forward FLOPs per image: the mean image stores 784 and computes nothing;
    PCA k stores the mean and k axes (784·(k+1)) and projects and restores (2 · 2·784·k)."""
    if name == MEAN_IMAGE:
        return {"params": 784, "flops": None}
    k = int(name.split()[-1])
    return {"params": 784 * (k + 1), "flops": 4 * 784 * k}
