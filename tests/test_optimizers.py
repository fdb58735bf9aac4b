"""Tests of nerve.optimizers and nerve.schedules.

Every update rule is checked against the formula written out in NumPy here
(float64, tight tolerance) and, where PyTorch is installed, against
torch.optim with the same hyperparameters and the same gradient sequence.
"""

import json
import math
import warnings

import numpy as np
import pytest

import nerve
from nerve import optimizers, schedules
from nerve.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, NonFiniteGradientWarning, RMSprop

_rng = np.random.default_rng(1234)
P0 = _rng.normal(size=(3, 4))
GRADS = [_rng.normal(size=(3, 4)) for _ in range(6)]


def _param(array, name=None):
    return nerve.Tensor(np.array(array, dtype=np.float64), requires_grad=True, name=name)


def run_nerve(factory, grads=GRADS[:5], p0=P0):
    """Apply ``factory([p])`` to a parameter with a fixed, hand-set gradient sequence."""
    p = _param(p0)
    opt = factory([p])
    for g in grads:
        p.grad = nerve.Tensor(g.copy())
        assert opt.step() is True
    assert opt.iterations == len(grads)
    return p.data


# --------------------------------------------------------- NumPy references
def sgd_ref(p, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    p, buf = p.copy(), None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def rmsprop_ref(p, grads, lr, rho, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=0.0):
    p = p.copy()
    v, mean_grad, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g**2
        if centered:
            mean_grad = rho * mean_grad + (1 - rho) * g
            denominator = np.sqrt(v - mean_grad**2) + epsilon
        else:
            denominator = np.sqrt(v) + epsilon
        if momentum:
            buf = momentum * buf + g / denominator
            p = p - lr * buf
        else:
            p = p - lr * g / denominator
    return p


def adam_ref(p, grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.0, decoupled=False):
    p = p.copy()
    m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta_1**t)
        v_hat = (v_max if amsgrad else v) / (1 - beta_2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return p


def adagrad_ref(p, grads, lr, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=0.0):
    p = p.copy()
    s = np.full_like(p, initial_accumulator_value)
    for g in grads:
        g = g + weight_decay * p
        s = s + g**2
        p = p - lr * g / (np.sqrt(s) + epsilon)
    return p


def adadelta_ref(p, grads, lr, rho=0.95, epsilon=1e-7, weight_decay=0.0):
    p = p.copy()
    v, u = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g**2
        delta = np.sqrt(u + epsilon) / np.sqrt(v + epsilon) * g
        u = rho * u + (1 - rho) * delta**2
        p = p - lr * delta
    return p


# (id, nerve class, nerve kwargs, reference, reference kwargs, torch class, torch kwargs)
CASES = [
    ("sgd", SGD, dict(learning_rate=0.1), sgd_ref, dict(lr=0.1), "SGD", dict(lr=0.1)),
    ("sgd-momentum", SGD, dict(learning_rate=0.1, momentum=0.9), sgd_ref, dict(lr=0.1, momentum=0.9),
     "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd-nesterov-wd", SGD, dict(learning_rate=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
     sgd_ref, dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
     "SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("rmsprop", RMSprop, dict(learning_rate=0.01, rho=0.8, epsilon=1e-3), rmsprop_ref,
     dict(lr=0.01, rho=0.8, epsilon=1e-3), "RMSprop", dict(lr=0.01, alpha=0.8, eps=1e-3)),
    ("rmsprop-centered-momentum-wd", RMSprop,
     dict(learning_rate=0.01, rho=0.9, momentum=0.5, epsilon=1e-3, centered=True, weight_decay=0.1),
     rmsprop_ref, dict(lr=0.01, rho=0.9, momentum=0.5, epsilon=1e-3, centered=True, weight_decay=0.1),
     "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, eps=1e-3, centered=True, weight_decay=0.1)),
    ("adam", Adam, dict(learning_rate=0.1, beta_1=0.8, beta_2=0.9, epsilon=1e-3), adam_ref,
     dict(lr=0.1, beta_1=0.8, beta_2=0.9, epsilon=1e-3), "Adam", dict(lr=0.1, betas=(0.8, 0.9), eps=1e-3)),
    ("adam-amsgrad-wd", Adam, dict(learning_rate=0.1, epsilon=1e-3, amsgrad=True, weight_decay=0.1), adam_ref,
     dict(lr=0.1, epsilon=1e-3, amsgrad=True, weight_decay=0.1),
     "Adam", dict(lr=0.1, eps=1e-3, amsgrad=True, weight_decay=0.1)),
    ("adamw", AdamW, dict(learning_rate=0.1, weight_decay=0.2, epsilon=1e-3), adam_ref,
     dict(lr=0.1, epsilon=1e-3, weight_decay=0.2, decoupled=True), "AdamW", dict(lr=0.1, eps=1e-3, weight_decay=0.2)),
    ("adamw-amsgrad", AdamW, dict(learning_rate=0.1, beta_2=0.5, amsgrad=True), adam_ref,
     dict(lr=0.1, beta_2=0.5, weight_decay=0.01, decoupled=True, amsgrad=True),
     "AdamW", dict(lr=0.1, betas=(0.9, 0.5), eps=1e-7, amsgrad=True)),
    ("adagrad", Adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.3, epsilon=1e-3, weight_decay=0.1),
     adagrad_ref, dict(lr=0.1, initial_accumulator_value=0.3, epsilon=1e-3, weight_decay=0.1),
     "Adagrad", dict(lr=0.1, initial_accumulator_value=0.3, eps=1e-3, weight_decay=0.1)),
    ("adadelta", Adadelta, dict(learning_rate=1.0, rho=0.7, epsilon=1e-3, weight_decay=0.1), adadelta_ref,
     dict(lr=1.0, rho=0.7, epsilon=1e-3, weight_decay=0.1),
     "Adadelta", dict(lr=1.0, rho=0.7, eps=1e-3, weight_decay=0.1)),
]
CASE_IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_update_rule_matches_numpy_formula(case):
    _, cls, kwargs, ref, ref_kwargs, _, _ = case
    got = run_nerve(lambda params: cls(params=params, **kwargs))
    expected = ref(P0, GRADS[:5], **ref_kwargs)
    assert not np.allclose(expected, P0)  # the test moves the parameter
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_update_rule_matches_torch(case):
    torch = pytest.importorskip("torch")
    _, cls, kwargs, _, _, torch_name, torch_kwargs = case
    got = run_nerve(lambda params: cls(params=params, **kwargs))
    p = torch.tensor(P0.copy(), dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, torch_name)([p], **torch_kwargs)
    for g in GRADS[:5]:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    np.testing.assert_allclose(got, p.detach().numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_in_place_and_gradient_untouched(case):
    _, cls, kwargs, ref, ref_kwargs, _, _ = case
    p = nerve.Tensor(P0.astype(np.float32), requires_grad=True)
    data = p.data
    opt = cls(params=[p], **kwargs)
    for g in GRADS[:5]:
        grad = g.astype(np.float32)
        p.grad = nerve.Tensor(grad)
        opt.step()
        np.testing.assert_array_equal(p.grad.data, g.astype(np.float32))  # never written
    assert p.data is data and p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, ref(P0, GRADS[:5], **ref_kwargs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(optimizers.ALL_OPTIMIZERS))
def test_minimises_quadratic_with_backward(name):
    settings = {"sgd": 0.1, "rmsprop": 0.05, "adam": 0.1, "adamw": 0.1, "adagrad": 0.5, "adadelta": 1.0,
                "nadam": 0.1, "adamax": 0.1, "lion": 0.05}
    extra = {"adamw": {"weight_decay": 0.0}, "adadelta": {"epsilon": 1e-4}}.get(name, {})
    target = nerve.tensor([1.0, -2.0, 3.0])
    p = nerve.tensor([0.0, 0.0, 0.0], requires_grad=True)
    opt = optimizers.get({"class_name": name, "config": {"learning_rate": settings[name], **extra}})
    opt.build([p])
    for _ in range(300):
        opt.zero_grad()
        loss = ((p - target) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(p.numpy(), target.numpy(), atol=0.05)


# ---------------------------------------------------------------- clipping
def test_clipvalue():
    p = _param([0.0, 0.0, 0.0])
    grad = np.array([3.0, -5.0, 0.5])
    p.grad = nerve.Tensor(grad.copy())
    SGD(1.0, clipvalue=1.0, params=[p]).step()
    np.testing.assert_array_equal(p.data, [-1.0, 1.0, -0.5])
    np.testing.assert_array_equal(p.grad.data, grad)


def test_clipnorm_is_per_parameter():
    a, b = _param([0.0, 0.0]), _param([0.0, 0.0])
    a.grad, b.grad = nerve.Tensor(np.array([3.0, 4.0])), nerve.Tensor(np.array([0.3, 0.4]))
    SGD(1.0, clipnorm=1.0, params=[a, b]).step()
    np.testing.assert_allclose(a.data, [-0.6, -0.8], rtol=1e-14)  # norm 5 -> 1
    np.testing.assert_allclose(b.data, [-0.3, -0.4], rtol=1e-14)  # norm 0.5: unchanged
    np.testing.assert_array_equal(a.grad.data, [3.0, 4.0])


def test_global_clipnorm_scales_all_together():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad, b.grad = nerve.Tensor(np.array([3.0, 4.0])), nerve.Tensor(np.array([12.0]))  # global norm 13
    SGD(1.0, global_clipnorm=6.5, params=[a, b]).step()
    np.testing.assert_allclose(a.data, [-1.5, -2.0], rtol=1e-14)
    np.testing.assert_allclose(b.data, [-6.0], rtol=1e-14)
    a.grad, b.grad = nerve.Tensor(np.array([0.3, 0.4])), nerve.Tensor(np.array([1.2]))  # norm 1.3 < 6.5
    SGD(1.0, global_clipnorm=6.5, params=[a, b]).step()
    np.testing.assert_allclose(b.data, [-7.2], rtol=1e-14)


def test_only_one_clipping_option():
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        SGD(clipnorm=1.0, clipvalue=1.0)


# ------------------------------------------------------- gradient handling
def test_zero_grad_and_accumulation():
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD(0.1, params=[w])
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 6.0])  # accumulated until zero_grad
    opt.zero_grad()
    assert w.grad is None
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_params_without_grad_are_skipped():
    a, b = _param([1.0, 1.0]), _param([5.0])
    opt = Adam(0.1, params=(t for t in [a, b]))  # any iterable, e.g. a generator
    a.grad = nerve.Tensor(np.array([1.0, -1.0]))
    assert opt.step()
    np.testing.assert_array_equal(b.data, [5.0])
    assert not np.array_equal(a.data, [1.0, 1.0])
    slots = opt.state_dict()["slots"]
    assert slots["m"][1] is None and slots["m"][0] is not None
    opt.zero_grad()
    assert opt.step() is False and opt.iterations == 1  # nothing had a gradient


def test_parameter_list_errors():
    with pytest.raises(RuntimeError, match="no parameters"):
        SGD().step()
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray"):
        SGD(params=[_param([1.0]), np.zeros(2)])
    w = _param([1.0])
    with pytest.raises(TypeError, match=r"params=\[tensor\]"):
        SGD(params=w)
    with pytest.raises(ValueError, match="twice"):
        SGD(params=[w, w])
    with pytest.raises(TypeError, match="params="):
        SGD([w])  # a PyTorch habit: parameters as the first argument
    w.grad = nerve.Tensor(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        SGD(params=[w]).step()
    with pytest.raises(ValueError, match="nesterov"):
        SGD(nesterov=True)
    with pytest.raises(ValueError, match="beta_1"):
        Adam(beta_1=1.5)


# --------------------------------------------------------- NaN / inf safety
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_skips_whole_update(bad):
    kernel, bias = _param([[1.0, 2.0]], name="dense/kernel"), _param([0.5])
    opt = Adam(0.1, params=[kernel, bias])
    calls = []
    opt.on_nonfinite = calls.append
    kernel.grad = nerve.Tensor(np.array([[1.0, bad]]))
    bias.grad = nerve.Tensor(np.array([1.0]))
    with pytest.warns(NonFiniteGradientWarning, match="'dense/kernel'"):
        assert opt.step() is False
    np.testing.assert_array_equal(kernel.data, [[1.0, 2.0]])
    np.testing.assert_array_equal(bias.data, [0.5])
    assert opt.skipped_steps == 1 and opt.iterations == 0
    assert len(calls) == 1 and calls[0]["names"] == ["'dense/kernel' (shape (1, 2))"] and calls[0]["indices"] == [0]
    assert opt.state_dict()["slots"]["m"] == [None, None]  # no state touched either


def test_nonfinite_warning_names_unnamed_parameter_by_index_and_shape():
    a, b = _param([1.0]), _param([[1.0, 2.0, 3.0]])
    opt = SGD(0.1, params=[a, b])
    a.grad, b.grad = nerve.Tensor(np.array([1.0])), nerve.Tensor(np.array([[0.0, np.nan, 0.0]]))
    with pytest.warns(NonFiniteGradientWarning, match=r"params\[1\] \(shape \(1, 3\)\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, [1.0])


def test_huge_but_finite_gradient_is_not_skipped():
    w = nerve.tensor([0.0, 0.0], requires_grad=True)  # float32: the squared norm overflows
    w.grad = nerve.tensor([1e30, -1e30])
    opt = SGD(1.0, clipnorm=1.0, params=[w])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert opt.step() is True
    np.testing.assert_allclose(w.numpy(), [-(0.5**0.5), 0.5**0.5], rtol=1e-6)


def test_check_finite_false_lets_nan_through():
    w = _param([1.0])
    w.grad = nerve.Tensor(np.array([np.nan]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGD(0.1, params=[w], check_finite=False).step()
    assert np.isnan(w.data[0])


# ----------------------------------------------------------------- state
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_resumes_bit_identically(case):
    _, cls, kwargs, _, _, _, _ = case
    shapes = [(3, 4), (4,)]
    a_params = [nerve.Tensor(_rng.normal(size=s).astype(np.float32), requires_grad=True) for s in shapes]
    grads = [[_rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(6)]
    opt_a = cls(params=a_params, **kwargs)
    opt_a.learning_rate = schedules.ExponentialDecay(opt_a.current_learning_rate, decay_steps=2, decay_rate=0.5)

    def step(opt, params, gs):
        for p, g in zip(params, gs):
            p.grad = nerve.Tensor(g)
        opt.step()

    for gs in grads[:3]:
        step(opt_a, a_params, gs)
    state = opt_a.state_dict()
    json.dumps(state["config"])  # JSON-serialisable
    b_params = [nerve.Tensor(p.data.copy(), requires_grad=True) for p in a_params]
    opt_b = cls(0.5, params=b_params)  # different settings: load_state_dict restores them
    opt_b.load_state_dict(state)
    assert opt_b.iterations == 3 and opt_b.get_config() == opt_a.get_config()
    for gs in grads[3:]:
        step(opt_a, a_params, gs)
        step(opt_b, b_params, gs)
    for pa, pb in zip(a_params, b_params):
        assert np.array_equal(pa.data, pb.data)
    # The saved state is a copy: later steps did not change it.
    assert state["iterations"] == 3
    for name, arrays in opt_a.state_dict()["slots"].items():
        assert any(not np.array_equal(x, y) for x, y in zip(arrays, state["slots"][name])) or name == "v_max"


def test_load_state_dict_rejects_mismatches():
    w = _param([1.0, 2.0])
    adam = Adam(params=[w])
    w.grad = nerve.Tensor(np.ones(2))
    adam.step()
    state = adam.state_dict()
    with pytest.raises(ValueError, match="beta_1"):
        SGD(params=[_param([1.0, 2.0])]).load_state_dict(state)
    with pytest.raises(ValueError, match="has shape"):
        Adam(params=[_param([1.0, 2.0, 3.0])]).load_state_dict(state)
    with pytest.raises(ValueError, match="2 params"):
        Adam(params=[_param([1.0, 2.0]), _param([1.0])]).load_state_dict(state)


# ---------------------------------------------------------- learning rate
def test_learning_rate_is_settable():
    w = _param([0.0])
    opt = SGD(0.1, params=[w])
    w.grad = nerve.Tensor(np.array([1.0]))
    opt.step()
    opt.learning_rate = 0.01  # what ReduceLROnPlateau does
    assert opt.learning_rate == 0.01 and opt.current_learning_rate == 0.01
    opt.step()
    np.testing.assert_allclose(w.data, [-0.11], rtol=1e-14)
    assert opt.get_config()["learning_rate"] == 0.01
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0


def test_optimizer_uses_schedule():
    w = _param([0.0])
    opt = SGD(schedules.StepDecay(1.0, step_size=2, gamma=0.5), params=[w])
    seen = []
    for _ in range(5):
        seen.append(opt.current_learning_rate)
        w.grad = nerve.Tensor(np.array([1.0]))
        opt.step()
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]
    np.testing.assert_allclose(w.data, [-3.25], rtol=1e-14)
    opt.learning_rate = lambda step: 0.125  # any callable works
    w.grad = nerve.Tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose(w.data, [-3.375], rtol=1e-14)
    assert opt.state_dict()["config"]["learning_rate"] is None  # a plain function is not saved


# ------------------------------------------------------------- schedules
def test_schedules_values():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5**0.5)
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert s(9) == 0.1 and s(19) == pytest.approx(0.05)
    s = schedules.StepDecay(0.2, step_size=3, gamma=0.1)
    assert [s(k) for k in (0, 2)] == [0.2, 0.2] and s(3) == pytest.approx(0.02) and s(7) == pytest.approx(0.002)
    s = schedules.InverseTimeDecay(1.0, decay_steps=4, decay_rate=0.5)
    assert s(4) == pytest.approx(1 / 1.5) and s(2) == pytest.approx(1 / 1.25)
    assert schedules.InverseTimeDecay(1.0, 4, 0.5, staircase=True)(7) == pytest.approx(1 / 1.5)
    s = schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5, 0.1])
    assert [s(k) for k in (0, 5, 6, 10, 11, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="len\\(boundaries\\) \\+ 1"):
        schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5])


def test_cosine_decay_matches_keras_formula():
    s = schedules.CosineDecay(0.5, decay_steps=20, alpha=0.2)
    for k in (0, 3, 10, 20, 35):
        frac = min(k, 20) / 20
        assert s(k) == pytest.approx(0.5 * (0.8 * 0.5 * (1 + math.cos(math.pi * frac)) + 0.2), rel=1e-12)
    s = schedules.CosineDecay(0.0, decay_steps=10, warmup_steps=4, warmup_target=2.0)
    assert [s(0), s(1), s(2)] == pytest.approx([0.0, 0.5, 1.0])
    assert s(4) == pytest.approx(2.0) and s(9) == pytest.approx(1.0) and s(14) == pytest.approx(0.0, abs=1e-12)
    assert s(100) == pytest.approx(0.0, abs=1e-12)


def test_linear_warmup():
    s = schedules.LinearWarmup(schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5), warmup_steps=4,
                               start=0.2)
    assert [s(0), s(2), s(4), s(5), s(6)] == pytest.approx([0.2, 0.6, 1.0, 0.5, 0.25])
    s = schedules.LinearWarmup(0.1, warmup_steps=10)
    assert [s(0), s(5), s(10), s(99)] == pytest.approx([0.0, 0.05, 0.1, 0.1])


ALL_SCHEDULES = [
    schedules.ExponentialDecay(0.1, 7, 0.3, staircase=True),
    schedules.StepDecay(0.1, 3, 0.5),
    schedules.CosineDecay(0.1, 20, alpha=0.1, warmup_steps=5, warmup_target=0.3),
    schedules.LinearWarmup(schedules.CosineDecay(0.3, 10), warmup_steps=3),
    schedules.InverseTimeDecay(0.1, 5, 2.0),
    schedules.PiecewiseConstantDecay([3, 8], [0.3, 0.2, 0.1]),
]


@pytest.mark.parametrize("schedule", ALL_SCHEDULES, ids=lambda s: type(s).__name__)
def test_schedule_config_round_trip(schedule):
    config = json.loads(json.dumps(schedules.serialize(schedule)))
    again = schedules.get(config)
    assert type(again) is type(schedule)
    assert [again(k) for k in range(30)] == [schedule(k) for k in range(30)]


def test_schedules_get_errors():
    with pytest.raises(ValueError, match="unknown schedule .CosineDeacy.*Built-in schedules: CosineDecay"):
        schedules.get({"class_name": "CosineDeacy", "config": {}})
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        schedules.serialize(lambda step: 0.1)


# ---------------------------------------------------------- get / config
def test_get_by_name():
    assert type(optimizers.get("adam")) is Adam
    assert type(optimizers.get("ADAMW")) is AdamW
    assert type(optimizers.get("RMSprop")) is RMSprop
    opt = SGD()
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError) as error:
        optimizers.get("adamm")
    for name in ("adadelta", "adagrad", "adam", "adamw", "rmsprop", "sgd"):
        assert name in str(error.value)
    assert "'adamm'" in str(error.value)
    with pytest.raises(TypeError):
        optimizers.get(3)


def test_defaults():
    assert Adam().get_config()["epsilon"] == 1e-7 and Adam().learning_rate == 0.001
    assert AdamW().weight_decay == 0.01
    assert SGD().learning_rate == 0.01
    assert Adagrad().initial_accumulator_value == 0.1
    assert Adadelta().rho == 0.95 and RMSprop().rho == 0.9


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_config_round_trip(case):
    _, cls, kwargs, _, _, _, _ = case
    opt = cls(clipnorm=2.0, name="mine", **kwargs)
    config = json.loads(json.dumps(optimizers.serialize(opt)))
    again = optimizers.deserialize(config)
    assert type(again) is cls and again.get_config() == opt.get_config()
    assert again.name == "mine" and again.clipnorm == 2.0


def test_config_round_trip_with_schedule():
    opt = Adam(schedules.CosineDecay(0.01, decay_steps=100), global_clipnorm=1.0)
    config = json.loads(json.dumps(optimizers.serialize(opt)))
    assert config["config"]["learning_rate"]["class_name"] == "CosineDecay"
    again = optimizers.get(config)
    assert isinstance(again.learning_rate, schedules.CosineDecay)
    assert again.get_config() == opt.get_config()


def test_slots_are_flushed_of_subnormal_values():
    # momentum of a parameter whose gradient became 0 decays into subnormal floats, which make
    # CPU arithmetic ~40x slower; the optimizer zeroes them every FLUSH_EVERY steps
    w = nerve.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    opt = nerve.optimizers.Adam(1e-3, params=[w])
    w.grad = nerve.Tensor(np.ones(4, dtype=np.float32))
    opt.step()
    w.grad = nerve.Tensor(np.zeros(4, dtype=np.float32))
    tiny = np.finfo(np.float32).tiny
    for _ in range(2 * nerve.optimizers.FLUSH_EVERY * 10):
        opt.step()
        m = opt.state_dict()["slots"]["m"][0]
        if opt.iterations % nerve.optimizers.FLUSH_EVERY == 0:
            assert not np.any((m != 0) & (np.abs(m) < tiny))
    assert np.all(opt.state_dict()["slots"]["m"][0] == 0)


# ------------------------------------------------------ packed (multi-tensor) updates
def _per_parameter(cls):
    """A subclass whose update_step is not a known elementwise rule: the optimizer updates parameter by parameter."""

    class PerParameter(cls):
        def update_step(self, index, param, grad, learning_rate):
            super().update_step(index, param, grad, learning_rate)

    return PerParameter


PACK_EXTRAS = [dict(), dict(clipvalue=0.5), dict(global_clipnorm=1.0)]


@pytest.mark.parametrize("extra", PACK_EXTRAS, ids=["plain", "clipvalue", "global_clipnorm"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_packed_update_is_bit_identical_to_per_parameter_updates(case, extra):
    # with every gradient present, built-in optimizers update all parameters in one pass over packed arrays;
    # that must change nothing but the speed (global_clipnorm: the norm is summed in another order)
    _, cls, kwargs, _, _, _, _ = case
    shapes = [(3, 4), (4,), (2, 3, 2), (1,)]
    rng = np.random.default_rng(5)
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(5)]
    results = []
    for klass in (cls, _per_parameter(cls)):
        params = [nerve.Tensor(a.copy(), requires_grad=True) for a in start]
        arrays = [p.data for p in params]
        opt = klass(params=params, **kwargs, **extra)
        for gs in grads:
            for p, g in zip(params, gs):
                p.grad = nerve.Tensor(g.copy())
            assert opt.step() is True
        assert (opt._packing is not None) == (klass is cls)
        assert all(p.data is a for p, a in zip(params, arrays))  # still updated in place
        for p, g in zip(params, grads[-1]):
            np.testing.assert_array_equal(p.grad.data, g)  # gradients never written
        results.append(([p.data.copy() for p in params], opt.state_dict()["slots"]))
    (packed, packed_slots), (single, single_slots) = results
    for a, b in zip(packed, single):
        if "global_clipnorm" in extra:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)
    assert sorted(packed_slots) == sorted(single_slots)
    for name in packed_slots:
        for a, b in zip(packed_slots[name], single_slots[name]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_packed_optimizer_survives_missing_gradients_rebinding_and_state_loading():
    # a step with a missing gradient, a parameter array rebound by the user and slots rebound by
    # load_state_dict: the packed optimizer must follow each, ending where the per-parameter one ends
    rng = np.random.default_rng(9)
    shapes = [(5, 3), (3,)]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(8)]

    def run(klass):
        params = [nerve.Tensor(np.full(s, 0.5, np.float32), requires_grad=True) for s in shapes]
        opt = klass(0.1, params=params, amsgrad=True)
        for t, gs in enumerate(grads):
            for p, g in zip(params, gs):
                p.grad = nerve.Tensor(g.copy())
            if t == 2:
                params[1].grad = None
            if t == 4:
                params[0].data = params[0].data.copy()
            if t == 5:
                opt.load_state_dict(opt.state_dict())
            assert opt.step() is True
            if t == 4:
                rebound = params[0].data
        assert params[0].data is rebound  # the array the user put there is the one being trained
        return [p.data for p in params], opt

    (packed, opt), (single, _) = run(Adam), run(_per_parameter(Adam))
    assert opt._packing is not None
    for a, b in zip(packed, single):
        np.testing.assert_array_equal(a, b)
