"""The barrier method's full (coupled-segment) Hessian solve against a direct solve of the reduced system."""

from __future__ import annotations

import numpy as np

from budgetgym.envs.barrier import _full_inverse


def _problem(seed: int, definite: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    K, T = 3, 4
    n = K * T
    M = rng.standard_normal((n, n))
    H = M @ M.T if definite else M + M.T
    hdiag = rng.uniform(0.1, 1.0, n)
    fixed = np.zeros((K, T), dtype=bool)
    fixed[1, 2] = fixed[2, 0] = True
    Ax = rng.standard_normal((2, n))
    return H, hdiag, fixed, Ax


def test_definite_hessian_solves_the_free_coordinates_and_zeroes_the_fixed():
    H, hdiag, fixed, Ax = _problem(0, definite=True)
    free = ~fixed.ravel()
    Hf = (H + np.diag(hdiag))[np.ix_(free, free)]
    v = np.random.default_rng(1).standard_normal(len(free))
    hinv, AH = _full_inverse(H, hdiag, fixed, Ax)
    want = np.zeros_like(v)
    want[free] = np.linalg.solve(Hf, v[free])
    np.testing.assert_allclose(hinv(v), want, rtol=1e-10, atol=1e-12)
    want_AH = np.zeros_like(Ax)
    want_AH[:, free] = np.linalg.solve(Hf, Ax[:, free].T).T
    np.testing.assert_allclose(AH, want_AH, rtol=1e-10, atol=1e-12)


def test_indefinite_hessian_clips_its_negative_eigenvalues():
    H, hdiag, fixed, Ax = _problem(2, definite=False)
    free = ~fixed.ravel()
    Hf = (H + np.diag(hdiag))[np.ix_(free, free)]
    lam, V = np.linalg.eigh(Hf)
    assert lam.min() < 0  # the case under test
    lam = np.maximum(lam, 1e-10 * np.abs(lam).max())
    v = np.random.default_rng(3).standard_normal(len(free))
    hinv, _ = _full_inverse(H, hdiag, fixed, Ax)
    got = hinv(v)
    np.testing.assert_allclose(got[free], V @ ((V.T @ v[free]) / lam), rtol=1e-8, atol=1e-10)
    assert np.all(got[~free] == 0.0)
