"""Tests for nerve.regularizers: values vs NumPy formulas, gradients, lookup and config."""

import numpy as np
import pytest

import nerve
from nerve import regularizers
from nerve.gradcheck import check_gradients


def _weights(shape=(4, 3), seed=0):
    """float64 weights kept away from 0, where |w| has a kink."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


CASES = {
    "l1": (regularizers.L1(0.3), lambda w: 0.3 * np.abs(w).sum()),
    "l2": (regularizers.L2(0.3), lambda w: 0.3 * (w**2).sum()),
    "l1_l2": (regularizers.L1L2(l1=0.2, l2=0.05), lambda w: 0.2 * np.abs(w).sum() + 0.05 * (w**2).sum()),
    "l1_default": (regularizers.L1(), lambda w: 0.01 * np.abs(w).sum()),
    "l2_default": (regularizers.L2(), lambda w: 0.01 * (w**2).sum()),
    "l1_l2_only_l2": (regularizers.L1L2(l2=0.7), lambda w: 0.7 * (w**2).sum()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_match_numpy(case):
    regularizer, reference = CASES[case]
    w = _weights()
    penalty = regularizer(nerve.tensor(w))
    assert penalty.shape == () and penalty.dtype == np.float64
    np.testing.assert_allclose(penalty.item(), reference(w), rtol=1e-12)
    penalty32 = regularizer(nerve.tensor(w.astype(np.float32)))
    assert penalty32.dtype == np.float32
    np.testing.assert_allclose(penalty32.item(), reference(w), rtol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_central_differences(case):
    regularizer, _ = CASES[case]
    w = nerve.tensor(_weights(shape=(3, 2, 2), seed=1), requires_grad=True)
    assert check_gradients(regularizer, [w])


def test_gradient_formulas():
    w = _weights()
    t = nerve.tensor(w, requires_grad=True)
    regularizers.L1L2(l1=0.5, l2=0.25)(t).backward()
    np.testing.assert_allclose(t.grad.numpy(), 0.5 * np.sign(w) + 0.5 * w)


def test_zero_factors_give_zero_penalty():
    w = nerve.tensor(_weights(), requires_grad=True)
    penalty = regularizers.L1L2()(w)
    assert penalty.shape == () and penalty.item() == 0.0 and penalty.dtype == np.float64
    loss = (w * w).sum() + penalty  # can be added to a loss
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy())


def test_accepts_arrays():
    w = _weights()
    np.testing.assert_allclose(regularizers.L2(0.1)(w).item(), 0.1 * (w**2).sum(), rtol=1e-12)


def test_bad_factors():
    with pytest.raises(ValueError, match="L1.*l1.*-0.1"):
        regularizers.L1(-0.1)
    with pytest.raises(ValueError, match="l2.*nan"):
        regularizers.L2(float("nan"))


def test_get():
    assert regularizers.get(None) is None
    assert type(regularizers.get("l1")) is regularizers.L1 and regularizers.get("l1").l1 == 0.01
    assert type(regularizers.get("L2")) is regularizers.L2 and regularizers.get("l2").l2 == 0.01
    both = regularizers.get("l1_l2")
    assert type(both) is regularizers.L1L2 and (both.l1, both.l2) == (0.01, 0.01)
    assert type(regularizers.get("L1L2")) is regularizers.L1L2
    reg = regularizers.L2(0.5)
    assert regularizers.get(reg) is reg
    assert type(regularizers.get(regularizers.L1)) is regularizers.L1
    restored = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}})
    assert (restored.l1, restored.l2) == (0.1, 0.2)

    def custom(weight):
        return weight.sum()

    assert regularizers.get(custom) is custom
    with pytest.raises(TypeError):
        regularizers.get(0.01)
    with pytest.raises(ValueError, match="custom regularizer"):
        regularizers.serialize(custom)
    assert regularizers.l1 is regularizers.L1 and regularizers.l1_l2 is regularizers.L1L2


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        regularizers.get("l3")
    message = str(info.value)
    assert "'l3'" in message and "l1" in message and "l2" in message and "l1_l2" in message


@pytest.mark.parametrize(
    "regularizer", [regularizers.L1(0.2), regularizers.L2(0.3), regularizers.L1L2(0.1, 0.4)], ids=repr
)
def test_config_round_trip(regularizer):
    restored = regularizers.get(regularizers.serialize(regularizer))
    assert type(restored) is type(regularizer) and restored.get_config() == regularizer.get_config()
    w = _weights()
    assert restored(nerve.tensor(w)).item() == regularizer(nerve.tensor(w)).item()
