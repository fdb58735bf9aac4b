"""Muon and ScheduleFreeAdamW (issue 18): against hand-written float64 versions of Keras 3's update rules,
saved and resumed with a model, and trained in float16."""

import numpy as np
import pytest

import nerve
from nerve import optimizers


def _newton_schulz(x, steps=5, a=3.4445, b=-4.7750, c=2.0315):
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


def _muon_reference(weights, grads, adam, lr=0.02, wd=0.1, adam_wd=0.05, momentum=0.95, nesterov=True,
                    rms_rate=0.2, b1=0.9, b2=0.999, eps=1e-7, adam_lr_ratio=0.5):
    """Keras 3.16's Muon, one weight at a time: ``adam`` says which weights take the AdamW branch."""
    weights = [w.copy() for w in weights]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, step_grads in enumerate(grads, 1):
        for i, g in enumerate(step_grads):
            w = weights[i]
            w -= w * (adam_wd if adam[i] else wd) * lr
            if adam[i]:
                alpha = lr * adam_lr_ratio * np.sqrt(1 - b2**t) / (1 - b1**t)
                m[i] += (g - m[i]) * (1 - b1)
                v[i] += (g * g - v[i]) * (1 - b2)
                w -= m[i] * alpha / (np.sqrt(v[i]) + eps)
            else:
                m[i] = momentum * m[i] + g
                direction = g + momentum * m[i] if nesterov else m[i]
                update = lr * _newton_schulz(direction)
                w -= update * np.sqrt(max(w.shape)) * rms_rate if rms_rate is not None else update
    return weights


def _problem(shapes, steps, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s) for s in shapes]
    return start, [[rng.normal(size=s) for s in shapes] for _ in range(steps)]


@pytest.mark.parametrize("nesterov, rms_rate", [(True, 0.2), (False, None)])
def test_muon_matches_the_keras_rule(nesterov, rms_rate):
    shapes = [(3, 4), (5, 3), (4,), (6, 2), (2, 3, 2)]
    names = ["dense/kernel", "tall/kernel", "dense/bias", "my_Embedding/embeddings", "conv/kernel"]
    start, grads = _problem(shapes, steps=6)
    params = [nerve.tensor(w.copy(), requires_grad=True) for w in start]
    for p, name in zip(params, names):
        p.name = name
    opt = optimizers.Muon(0.02, weight_decay=0.1, adam_weight_decay=0.05, adam_lr_ratio=0.5, nesterov=nesterov,
                          rms_rate=rms_rate, params=params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = nerve.tensor(g)
        assert opt.step()
    # 2-D weights take Muon's step except the embedding; the vector and the 3-D kernel take AdamW's
    expected = _muon_reference(start, grads, adam=[False, False, True, True, True], nesterov=nesterov,
                               rms_rate=rms_rate)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-10, atol=1e-12)


def test_muon_exclude_layers_are_regular_expressions_on_weight_names():
    start, grads = _problem([(3, 4), (4, 2)], steps=4, seed=1)
    params = [nerve.tensor(w.copy(), requires_grad=True) for w in start]
    params[0].name, params[1].name = "hidden/kernel", "output_dense/kernel"
    opt = optimizers.Muon(0.02, weight_decay=0.1, adam_weight_decay=0.05, adam_lr_ratio=0.5,
                          exclude_layers=["^output_"], params=params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = nerve.tensor(g)
        opt.step()
    expected = _muon_reference(start, grads, adam=[False, True])
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-10, atol=1e-12)


def test_newton_schulz_orthogonalises_roughly():
    g = np.random.default_rng(2).normal(size=(8, 5))
    x = optimizers.Muon().zeropower_via_newtonschulz5(g, 5)
    singular = np.linalg.svd(x, compute_uv=False)
    assert x.shape == g.shape and np.all((singular > 0.5) & (singular < 1.3)), singular
    u, _, vt = np.linalg.svd(g, full_matrices=False)  # same singular vectors as g
    diagonal = u.T @ x @ vt.T
    np.testing.assert_allclose(diagonal, np.diag(np.diag(diagonal)), atol=1e-10)
    np.testing.assert_allclose(np.sort(np.abs(np.diag(diagonal))), np.sort(singular), rtol=1e-8)


def test_muon_bad_arguments_say_what_was_received():
    with pytest.raises(TypeError, match="exclude_layers must be a list of strings"):
        optimizers.Muon(exclude_layers="dense")
    with pytest.raises(ValueError, match=r"exclude_layers entry '\(' is not a regular expression"):
        optimizers.Muon(exclude_layers=["("])
    with pytest.raises(ValueError, match="momentum"):
        optimizers.Muon(momentum=1.5)


def _schedule_free_reference(start, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, warmup=0, wd=None):
    """Keras 3.16's ScheduleFreeAdamW, written out in float64."""
    y, z, v = start.copy(), start.copy(), np.zeros_like(start)
    for t, g in enumerate(grads, 1):
        if wd is not None:
            y = y - y * wd * lr
        step_lr = lr * min(t / warmup, 1.0) if warmup > 0 else lr
        z_old = z.copy()
        v = v + (g * g - v) * (1 - b2)
        z = z - step_lr * g / (np.sqrt(v / (1 - b2**t)) + eps)
        x = (y - (1 - b1) * z_old) / b1
        x = (1 - 1 / t) * x + (1 / t) * z
        y = (1 - b1) * z + b1 * x
    return y


@pytest.mark.parametrize("warmup, wd", [(0, None), (3, 0.2)])
def test_schedule_free_adamw_matches_the_keras_rule(warmup, wd):
    (start,), grads = _problem([(3, 4)], steps=7, seed=3)
    w = nerve.tensor(start.copy(), requires_grad=True)
    opt = optimizers.ScheduleFreeAdamW(0.01, beta_1=0.8, beta_2=0.99, warmup_steps=warmup, weight_decay=wd,
                                       params=[w])
    for (g,) in grads:
        w.grad = nerve.tensor(g)
        opt.step()
    expected = _schedule_free_reference(start, [g for (g,) in grads], b1=0.8, b2=0.99, warmup=warmup, wd=wd)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-10, atol=1e-13)


def _model(last_name="output_dense", dtype="float32"):
    return nerve.Sequential([nerve.Input(shape=(3,), dtype=dtype), nerve.layers.Dense(8, activation="tanh", dtype=dtype),
                             nerve.layers.Dense(1, name=last_name, dtype=dtype)])


@pytest.mark.parametrize("make", [
    lambda: optimizers.Muon(0.01, exclude_layers=["output_dense"]),
    lambda: optimizers.ScheduleFreeAdamW(0.01, warmup_steps=4),
], ids=["muon", "schedule_free_adamw"])
def test_saved_model_resumes_bit_identically(make, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = np.tanh(x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32"))
    nerve.random.seed(0)
    model = _model()
    model.compile(optimizer=make(), loss="mse")
    first = model.fit(x, y, epochs=15, batch_size=16, shuffle=False, verbose=0).history["loss"]
    assert first[-1] < first[0]
    model.save(tmp_path / "m.nerve")
    reloaded = nerve.load_model(tmp_path / "m.nerve")
    assert type(reloaded.optimizer) is type(model.optimizer)
    assert reloaded.optimizer.get_config() == model.optimizer.get_config()
    assert reloaded.optimizer.iterations == model.optimizer.iterations == 60
    for m in (model, reloaded):
        m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["muon", "schedulefreeadamw"])
def test_by_name_and_in_float16(name):
    assert type(optimizers.get(name)).__name__ in ("Muon", "ScheduleFreeAdamW")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3)).astype("float16")
    y = (x.astype("float32") @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float16")
    nerve.random.seed(1)
    half = _model(dtype="float16")
    half.compile(optimizer=name, loss="mse")
    losses = half.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert all(np.isfinite(w).all() and w.dtype == np.float16 for w in half.get_weights())
