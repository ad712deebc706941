"""Baselines: the mean image and PCA, fitted on training images and scored like the variants."""

from __future__ import annotations

import numpy as np
import pytest

from genreport.pipeline.scoring.baselines import MEAN_IMAGE, baseline_reconstructions, pca_reconstruction, principal_axes, score_baselines
from genreport.pipeline.data.fashion_mnist import load_dataset


def test_pca_with_every_component_reconstructs_exactly() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((300, 28, 28, 1))
    mean, axes = principal_axes(images)
    assert np.allclose(pca_reconstruction(images, mean, axes), np.clip(images, 0, 1), atol=1e-4)


def test_pca_recovers_data_that_lies_in_a_low_dimensional_subspace() -> None:
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(784, 3)))[0]
    images = (0.5 + 0.05 * rng.normal(size=(200, 3)) @ basis.T).reshape(200, 28, 28, 1)
    mean, axes = principal_axes(images)
    assert np.abs(pca_reconstruction(images, mean, axes[:, :3]) - images).max() < 1e-5


def test_baselines_are_ordered_as_expected_on_real_images(real_data_dir) -> None:
    data = load_dataset(real_data_dir, train_limit=3000, test_limit=300, seed=1)
    scores = score_baselines(data, components=(16, 64))
    means = {name: s.ssim.mean() for name, s in scores.items()}
    assert set(means) == {MEAN_IMAGE, "PCA 16", "PCA 64"}
    assert means[MEAN_IMAGE] < means["PCA 16"] < means["PCA 64"] < 1.0
    assert scores["PCA 64"].mse.mean() == pytest.approx(float(np.mean((data.x_test - np.clip(
        pca_reconstruction(data.x_test, *axes_fitted_alone(data.x_train, 64)), 0, 1)) ** 2)), rel=1e-5)


def axes_fitted_alone(train: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """Each size's own fit, as genreport computed it before one decomposition served every size."""
    flat = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    mean = flat.mean(axis=0)
    centred = flat - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / max(len(flat) - 1, 1))
    return mean, eigenvectors[:, np.argsort(eigenvalues)[::-1][:components]]


def test_the_baselines_decompose_the_training_images_once_and_match_each_size_fitted_alone(real_data_dir, monkeypatch) -> None:
    data = load_dataset(real_data_dir, train_limit=400, test_limit=40, seed=1)
    decompositions = []
    eigh = np.linalg.eigh
    monkeypatch.setattr(np.linalg, "eigh", lambda matrix: decompositions.append(matrix.shape) or eigh(matrix))
    reconstructions = baseline_reconstructions(data, components=(16, 64, 900))
    assert decompositions == [(784, 784)]
    monkeypatch.setattr(np.linalg, "eigh", eigh)
    for k in (16, 64, 784):  # 900 is more axes than an image has pixels: all 784
        alone = pca_reconstruction(data.x_test, *axes_fitted_alone(data.x_train, k))
        assert np.array_equal(reconstructions[f"PCA {k}"], alone), k
