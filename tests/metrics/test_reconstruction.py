"""Reconstruction MSE and PSNR: closed forms, the cap, continuous data, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.metrics.reconstruction import PSNR_CAP_DB, reconstruction_metrics


def test_perfect_reconstruction_is_capped_not_infinite():
    x = np.random.default_rng(0).integers(0, 256, (3, 1, 4, 4), dtype=np.uint8)
    assert reconstruction_metrics(x, x.copy(), levels=256) == {
        "recon_mse": 0.0,
        "recon_psnr": PSNR_CAP_DB,
    }


def test_closed_forms_on_the_unit_scale():
    x = np.zeros((2, 1, 3, 3), dtype=np.uint8)
    worst = reconstruction_metrics(x, np.full_like(x, 255), levels=256)
    assert worst == {"recon_mse": 1.0, "recon_psnr": 0.0}
    fifth = reconstruction_metrics(x, np.full_like(x, 51), levels=256)
    assert fifth["recon_mse"] == pytest.approx(0.04)
    assert fifth["recon_psnr"] == pytest.approx(10 * math.log10(25))


def test_psnr_is_the_mean_over_examples():
    x = np.zeros((2, 4), dtype=np.int64)
    x_hat = np.array([[0, 0, 0, 0], [1, 1, 1, 1]])  # second: MSE (1/10)^2 on 11 levels
    result = reconstruction_metrics(x, x_hat, levels=11)
    assert result["recon_psnr"] == pytest.approx((PSNR_CAP_DB + 20.0) / 2)
    assert result["recon_mse"] == pytest.approx(0.005)


def test_continuous_data_reports_raw_mse_only():
    x = np.array([[0.0, 1.0], [2.0, -1.0]])
    assert reconstruction_metrics(x, x + 0.5, levels=None) == {"recon_mse": 0.25}


def test_accepts_tensors():
    x = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    assert reconstruction_metrics(x, x + 255, levels=256)["recon_mse"] == 1.0


def test_errors():
    x = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"x_hat must have the shape of x: got \(2, 2\)"):
        reconstruction_metrics(x, np.zeros((2, 2)), levels=256)
    with pytest.raises(ValueError, match=r"x_hat has values in \[-1, 300\], outside \[0, 255\]"):
        reconstruction_metrics(x, np.array([[0, -1, 0], [0, 300, 0]]), levels=256)
    with pytest.raises(ValueError, match="x_hat contains NaN"):
        reconstruction_metrics(x, np.full((2, 3), np.nan), levels=None)
    with pytest.raises(ValueError, match="levels must be at least 2, got 1"):
        reconstruction_metrics(x, x, levels=1)
    with pytest.raises(ValueError, match="at least one non-empty example"):
        reconstruction_metrics(np.zeros((0, 3)), np.zeros((0, 3)), levels=None)
