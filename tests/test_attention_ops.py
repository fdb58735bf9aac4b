"""Attention and layer-norm ops: gradient checks (float64) and agreement with PyTorch (values and gradients)."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.gradcheck import gradcheck

RTOL, ATOL = 1e-10, 1e-12


def padding_mask(batch, lk, lengths):
    """(batch, 1, 1, Lk) boolean: True on the first ``lengths[b]`` keys."""
    return (np.arange(lk)[None, :] < np.asarray(lengths)[:, None])[:, None, None, :]


MASKS = ["none", "padding", "causal", "both"]


def mask_args(kind, batch, lk):
    mask = padding_mask(batch, lk, [lk, lk - 2]) if kind in ("padding", "both") else None
    return mask, kind in ("causal", "both")


@pytest.mark.parametrize("kind", MASKS)
def test_sdpa_gradcheck(rng, kind):
    q, k, v = rng.normal(size=(2, 2, 4, 3)), rng.normal(size=(2, 2, 5, 3)), rng.normal(size=(2, 2, 5, 2))
    mask, causal = mask_args(kind, 2, 5)
    fn = lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    assert gradcheck(fn, [q, k, v], max_elements=None).passed


def test_sdpa_dropout_gradcheck(rng):
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))

    def fn(q, k, v):
        nerve.random.seed(7)  # the same dropout draw at every evaluation
        return ops.scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    assert gradcheck(fn, [q, k, v], max_elements=None).passed


def test_sdpa_dropout_is_seeded_and_inverted(rng):
    q = nerve.tensor(rng.normal(size=(1, 50, 4)))
    v = nerve.tensor(np.ones((1, 50, 1)))
    nerve.random.seed(3)
    a = ops.scaled_dot_product_attention(q, q, v, dropout_p=0.5).numpy()
    nerve.random.seed(3)
    b = ops.scaled_dot_product_attention(q, q, v, dropout_p=0.5).numpy()
    assert np.array_equal(a, b)
    assert not np.allclose(a, 1.0)
    assert abs(a.mean() - 1.0) < 0.2  # weights scaled by 1/(1-p): the mean output stays near 1


def test_sdpa_stable_for_large_scores():
    q = nerve.tensor(np.array([[[1e4, 0.0], [0.0, 1e4]]]))
    out = ops.scaled_dot_product_attention(q, q, q, scale=1.0).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, q.numpy())


def test_sdpa_fully_masked_rows_are_zero(rng):
    q = nerve.tensor(rng.normal(size=(1, 2, 3)), requires_grad=True)
    mask = np.array([[True, True], [False, False]])
    out, weights = ops.scaled_dot_product_attention(q, q, q, attn_mask=mask, return_weights=True)
    assert np.isfinite(out.numpy()).all()
    assert out.numpy()[0, 1].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(weights.numpy()[0].sum(axis=-1), [1.0, 0.0])
    out.sum().backward()
    assert np.isfinite(q.grad.numpy()).all()


def test_sdpa_additive_float_mask(rng):
    q, k, v = (rng.normal(size=(1, 3, 2)) for _ in range(3))
    bias = np.array([[0.0, -np.inf, 0.0]] * 3)
    a = ops.scaled_dot_product_attention(q, k, v, attn_mask=bias).numpy()
    b = ops.scaled_dot_product_attention(q, k, v, attn_mask=np.isfinite(bias)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_sdpa_errors():
    x = nerve.tensor(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"query \(\.\.\., Lq, D\).*\(1, 2, 3\), \(1, 2, 4\)"):
        ops.scaled_dot_product_attention(x, nerve.tensor(np.zeros((1, 2, 4))), x)
    with pytest.raises(ValueError, match="attn_mask of shape \\(3,\\)"):
        ops.scaled_dot_product_attention(x, x, x, attn_mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="dropout_p"):
        ops.scaled_dot_product_attention(x, x, x, dropout_p=1.0)


def test_causal_mask_offset():
    assert ops.causal_mask(np, 1, 4, offset=3).tolist() == [[True, True, True, True]]


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("n_axes", [1, 2])
def test_layer_norm_gradcheck(rng, rms, n_axes):
    x = rng.normal(size=(3, 4, 5))
    shape = x.shape[3 - n_axes:]
    gamma, beta = rng.normal(size=shape), rng.normal(size=shape)
    if rms:
        fn = lambda x, g: ops.rms_norm(x, g, epsilon=1e-3, n_axes=n_axes)
        assert gradcheck(fn, [x, gamma], max_elements=None).passed
    else:
        fn = lambda x, g, b: ops.layer_norm(x, g, b, epsilon=1e-3, n_axes=n_axes)
        assert gradcheck(fn, [x, gamma, beta], max_elements=None).passed


def test_layer_norm_without_parameters(rng):
    x = rng.normal(size=(4, 6))
    y = ops.layer_norm(nerve.tensor(x), epsilon=0.0).numpy()
    np.testing.assert_allclose(y, (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True), rtol=1e-10)
    assert gradcheck(lambda x: ops.layer_norm(x), [x]).passed


def test_layer_norm_errors():
    x = nerve.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"gamma of shape \(4,\) does not match the normalised axes \(3,\)"):
        ops.layer_norm(x, gamma=np.ones(4))
    with pytest.raises(ValueError, match="n_axes"):
        ops.layer_norm(x, n_axes=3)


# ------------------------------------------------------------------ PyTorch
@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("lq", [4, 5])
def test_sdpa_matches_torch(rng, kind, lq):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = rng.normal(size=(2, 3, lq, 4)), rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 5, 6))
    upstream = rng.normal(size=(2, 3, lq, 6))
    mask, causal = mask_args(kind, 2, 5)
    ours = [nerve.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = ops.scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=causal)
    (out * nerve.tensor(upstream)).sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    tmask = None if mask is None else torch.tensor(mask)
    if causal:  # torch refuses attn_mask together with is_causal: give the combined mask
        tri = torch.ones(lq, 5, dtype=torch.bool).tril()
        tmask = tri if tmask is None else tmask & tri
    expected = F.scaled_dot_product_attention(*theirs, attn_mask=tmask)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_sdpa_is_causal_matches_torch(rng):
    torch = pytest.importorskip("torch")
    q = rng.normal(size=(2, 6, 4))
    ours = ops.scaled_dot_product_attention(q, q, q, is_causal=True, scale=0.3).numpy()
    t = torch.tensor(q)
    theirs = torch.nn.functional.scaled_dot_product_attention(t, t, t, is_causal=True, scale=0.3).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("n_axes", [1, 2])
def test_layer_norm_matches_torch(rng, shape, n_axes):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=shape)
    norm_shape = shape[len(shape) - n_axes:]
    gamma, beta, upstream = rng.normal(size=norm_shape), rng.normal(size=norm_shape), rng.normal(size=shape)
    ours = [nerve.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out = ops.layer_norm(*ours, epsilon=1e-5, n_axes=n_axes)
    (out * nerve.tensor(upstream)).sum().backward()
    ln = torch.nn.LayerNorm(norm_shape, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor(gamma))
        ln.bias.copy_(torch.tensor(beta))
    tx = torch.tensor(x, requires_grad=True)
    expected = ln(tx)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    for a, b in zip(ours, (tx.grad, ln.weight.grad, ln.bias.grad)):
        np.testing.assert_allclose(a.grad.numpy(), b.numpy(), rtol=RTOL, atol=ATOL)


def test_rms_norm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, gamma, upstream = rng.normal(size=(3, 4, 6)), rng.normal(size=6), rng.normal(size=(3, 4, 6))
    ours = [nerve.tensor(a, requires_grad=True) for a in (x, gamma)]
    out = ops.rms_norm(*ours, epsilon=1e-6)
    (out * nerve.tensor(upstream)).sum().backward()
    norm = torch.nn.RMSNorm(6, eps=1e-6, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(gamma))
    tx = torch.tensor(x, requires_grad=True)
    expected = norm(tx)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours[0].grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours[1].grad.numpy(), norm.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
