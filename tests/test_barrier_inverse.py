"""The barrier method's full (coupled-segment) Hessian solve against a direct solve of the reduced system."""

from __future__ import annotations

import numpy as np

from budgetgym.envs.barrier import _full_inverse, _stack_inverse


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


def _clipped_by_eigh(H: np.ndarray) -> np.ndarray:
    """The reference: each block's eigendecomposition, eigenvalues clipped to >= 1e-10 max|lambda|."""
    out = np.empty_like(H)
    for k, block in enumerate(H):
        lam, V = np.linalg.eigh(block)
        lam = np.maximum(lam, 1e-10 * np.abs(lam).max())
        out[k] = (V / lam) @ V.T
    return out


def _stack(seed: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((3, 6, 6))
    if kind == "definite":
        return M @ M.transpose(0, 2, 1) + 0.1 * np.eye(6)
    if kind == "indefinite":  # one block indefinite: that block takes the clipped route, the others not
        H = M @ M.transpose(0, 2, 1) + 0.1 * np.eye(6)
        H[1] = M[1] + M[1].T
        return H
    # positive definite but with an eigenvalue below 1e-10 of the largest: clipped, not inverted
    lam = np.array([1e-13, 1.0, 2.0, 3.0, 4.0, 5.0])
    Q = np.linalg.qr(M)[0]
    return (Q * lam[None, None, :]) @ Q.transpose(0, 2, 1)


def test_block_inverse_of_a_stack_equals_the_eigenvalue_clipped_inverse(monkeypatch):
    """``_stack_inverse`` inverts well-conditioned definite blocks directly and clips the rest, each
    block decided on its own; in every case it equals the per-block eigendecomposition with clipped
    eigenvalues. The route is observed by recording the blocks sent to ``clipped_inverse`` (whether
    its result is exactly symmetric is a rounding artefact of the BLAS kernel: 12 to 20 of the 36
    entries of block 1 here differ from their transpose, depending on ``OPENBLAS_CORETYPE``)."""
    from budgetgym.envs import hessian_inverse

    clipped: list[np.ndarray] = []
    original = hessian_inverse.clipped_inverse

    def recording(H: np.ndarray) -> np.ndarray:
        clipped.append(H.copy())
        return original(H)

    monkeypatch.setattr(hessian_inverse, "clipped_inverse", recording)
    # the blocks each case must clip: none; only the indefinite one; all (an eigenvalue 1e-13 of the largest)
    for seed, kind, want_clipped in ((0, "definite", []), (1, "indefinite", [1]), (2, "near-singular", [0, 1, 2])):
        H = _stack(seed, kind)
        H = 0.5 * (H + H.transpose(0, 2, 1))
        want = _clipped_by_eigh(H)
        clipped.clear()
        got = _stack_inverse(H)
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10 * scale, err_msg=kind)
        assert len(clipped) == len(want_clipped), kind
        for block, k in zip(clipped, want_clipped, strict=True):
            np.testing.assert_array_equal(block, H[k], err_msg=kind)  # that block alone, as it was
        direct = [k for k in range(len(H)) if k not in want_clipped]
        # a directly inverted block is potri's lower triangle mirrored: symmetric by construction
        np.testing.assert_array_equal(got[direct], got[direct].transpose(0, 2, 1), err_msg=kind)
    lam = np.linalg.eigvalsh(_stack(2, "near-singular"))
    assert lam.min() > 0 and lam.min() < 1e-10 * lam.max()  # the case under test is definite yet clipped
