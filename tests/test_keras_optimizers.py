"""Nadam, Adamax and Lion (issue 18): against PyTorch's NAdam and the Keras update rules, in float64 and float16."""

import numpy as np
import pytest

import nerve
from nerve import optimizers


def _run(optimizer, start, grads):
    w = nerve.tensor(start.copy(), requires_grad=True)
    optimizer.build([w])
    for g in grads:
        w.grad = nerve.tensor(g)
        optimizer.step()
    return w.numpy()


def _problem(steps=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(steps)]


def test_nadam_matches_torch_nadam():
    torch = pytest.importorskip("torch")
    start, grads = _problem()
    ours = _run(optimizers.Nadam(0.01, beta_1=0.85, beta_2=0.99), start, grads)
    w = torch.tensor(start.copy(), requires_grad=True)
    opt = torch.optim.NAdam([w], lr=0.01, betas=(0.85, 0.99), eps=1e-7, momentum_decay=0.004)
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
    # torch keeps the step count in a float32 tensor, so its momentum schedule mu_t is rounded (relative ~1e-8)
    np.testing.assert_allclose(ours, w.detach().numpy(), rtol=1e-8)


def test_adamax_matches_the_keras_rule():
    start, grads = _problem()
    ours = _run(optimizers.Adamax(0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-7), start, grads)
    p, m, u = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, g in enumerate(grads, 1):
        m = 0.8 * m + 0.2 * g
        u = np.maximum(0.95 * u, np.abs(g))
        p -= 0.02 / (1 - 0.8**t) * m / (u + 1e-7)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_lion_matches_the_keras_rule():
    start, grads = _problem()
    ours = _run(optimizers.Lion(0.003, beta_1=0.9, beta_2=0.99), start, grads)
    p, m = start.copy(), np.zeros_like(start)
    for g in grads:
        p -= 0.003 * np.sign(0.9 * m + 0.1 * g)
        m = 0.99 * m + 0.01 * g
    np.testing.assert_allclose(ours, p, rtol=1e-12)


@pytest.mark.parametrize("name", ["nadam", "adamax", "lion"])
def test_new_optimizers_train_save_resume_and_run_in_float16(name, tmp_path):
    nerve.random.seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(1)])
    model.compile(optimizer=optimizers.get(name), loss="mse")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.nerve")
    reloaded = nerve.load_model(tmp_path / "m.nerve")
    assert type(reloaded.optimizer).__name__ == type(model.optimizer).__name__
    assert reloaded.optimizer.iterations == model.optimizer.iterations
    half = nerve.Sequential([nerve.Input(shape=(3,), dtype="float16"), nerve.layers.Dense(1, dtype="float16")])
    half.compile(optimizer=name, loss="mse")
    losses = half.fit(x.astype("float16"), y.astype("float16"), epochs=5, batch_size=16, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and np.isfinite(half.layers[0].kernel.numpy()).all()


def test_nadam_resumed_from_a_state_dict_continues_exactly():
    start, grads = _problem(steps=8)
    straight = _run(optimizers.Nadam(0.01), start, grads)
    w = nerve.tensor(start.copy(), requires_grad=True)
    first = optimizers.Nadam(0.01, params=[w])
    for g in grads[:4]:
        w.grad = nerve.tensor(g)
        first.step()
    second = optimizers.Nadam(0.01, params=[w])
    second.load_state_dict(first.state_dict())
    for g in grads[4:]:
        w.grad = nerve.tensor(g)
        second.step()
    np.testing.assert_allclose(w.numpy(), straight, rtol=1e-12)


def test_ftrl_matches_the_keras_rule():
    start, grads = _problem()
    kwargs = dict(learning_rate_power=-0.5, initial_accumulator_value=0.1, l1_regularization_strength=0.05,
                  l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.01, beta=0.3)
    ours = _run(optimizers.Ftrl(0.1, **kwargs), start, grads)
    p, accumulator, linear, lr = start.copy(), np.full_like(start, 0.1), np.zeros_like(start), 0.1
    for g in grads:
        l2 = 0.02 + 0.3 / (2 * lr)
        new = accumulator + g * g
        linear += g + 2 * 0.01 * p - (np.sqrt(new) - np.sqrt(accumulator)) / lr * p
        quadratic = np.sqrt(new) / lr + 2 * l2
        p = (np.clip(linear, -0.05, 0.05) - linear) / quadratic
        accumulator = new
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_lamb_matches_the_keras_rule_per_parameter():
    start, grads = _problem()
    second = np.random.default_rng(5).normal(size=(2,))
    w1, w2 = nerve.tensor(start.copy(), requires_grad=True), nerve.tensor(second.copy(), requires_grad=True)
    opt = optimizers.Lamb(0.01, params=[w1, w2])
    refs = []
    for p0 in (start, second):
        refs.append([p0.copy(), np.zeros_like(p0), np.zeros_like(p0)])
    for t, g in enumerate(grads, 1):
        g2 = g[0, :2]
        w1.grad, w2.grad = nerve.tensor(g), nerve.tensor(g2)
        opt.step()
        for ref, grad in zip(refs, (g, g2)):
            p, m, v = ref
            m[...] = 0.9 * m + 0.1 * grad
            v[...] = 0.999 * v + 0.001 * grad * grad
            step = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-7)
            p -= 0.01 * np.linalg.norm(p) / np.linalg.norm(step) * step
    np.testing.assert_allclose(w1.numpy(), refs[0][0], rtol=1e-12)
    np.testing.assert_allclose(w2.numpy(), refs[1][0], rtol=1e-12)


@pytest.mark.parametrize("name", ["ftrl", "lamb", "adafactor"])
def test_ftrl_and_lamb_by_name_train_and_save(name, tmp_path):
    nerve.random.seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(1)])
    model.compile(optimizer=optimizers.get({"class_name": name, "config": {"learning_rate": 0.05}}), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.nerve")
    assert type(nerve.load_model(tmp_path / "m.nerve").optimizer).__name__.lower() == name


def test_adafactor_matches_the_keras_rule_for_matrices_and_vectors():
    start, grads = _problem(steps=5)
    vec0 = np.random.default_rng(3).normal(size=4)
    w, b = nerve.tensor(start.copy(), requires_grad=True), nerve.tensor(vec0.copy(), requires_grad=True)
    opt = optimizers.Adafactor(0.05, params=[w, b])
    p, q = start.copy(), vec0.copy()
    r, c, v_vec = np.zeros(start.shape[0]), np.zeros(start.shape[1]), np.zeros(4)
    rms = lambda a: np.sqrt(np.mean(a * a))  # noqa: E731
    for t, g in enumerate(grads, 1):
        gb = g[0]
        w.grad, b.grad = nerve.tensor(g), nerve.tensor(gb)
        opt.step()
        rho = min(min(0.05, 1 / np.sqrt(t)), 1 / np.sqrt(t))
        beta = 1 - t ** -0.8
        squares = g * g + 1e-30
        r = beta * r + (1 - beta) * squares.mean(-1)
        c = beta * c + (1 - beta) * squares.mean(-2)
        v = (r / r.mean())[:, None] * c[None, :]
        u = g / np.sqrt(v)
        p = p - max(1e-3, rms(p)) * rho * u / max(1.0, rms(u))
        v_vec = beta * v_vec + (1 - beta) * (gb * gb + 1e-30)
        u = gb / np.sqrt(v_vec)
        q = q - max(1e-3, rms(q)) * rho * u / max(1.0, rms(u))
    np.testing.assert_allclose(w.numpy(), p, rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), q, rtol=1e-12)
