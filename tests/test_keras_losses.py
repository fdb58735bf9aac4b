"""Keras 3 losses added for issue 18: values and gradients against PyTorch (float64), names, configs, fit."""

import numpy as np
import pytest

import nerve
from nerve import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional
EPS = 1e-7
rng = np.random.default_rng(0)
PROBS_T = rng.dirichlet(np.ones(4), size=5)
PROBS_P = rng.dirichlet(np.ones(4), size=5)
REAL_T, REAL_P = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
POS_T, POS_P = rng.uniform(0.1, 3, size=(5, 4)), rng.uniform(0.1, 3, size=(5, 4))
BIN_T = (rng.random((5, 4)) > 0.5).astype(float)
ONE_HOT = np.eye(4)[rng.integers(0, 4, size=5)]


def _bce(t, p):
    p = torch.clamp(p, EPS, 1 - EPS)
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p))


CASES = {
    "kl_divergence": (losses.kl_divergence, PROBS_T, PROBS_P,
                      lambda t, p: F.kl_div(torch.log(p), t, reduction="none").sum(-1)),
    "poisson": (losses.poisson, POS_T, POS_P,
                lambda t, p: F.poisson_nll_loss(p, t, log_input=False, full=False, eps=EPS, reduction="none").mean(-1)),
    "log_cosh": (losses.log_cosh, REAL_T, REAL_P, lambda t, p: torch.log(torch.cosh(p - t)).mean(-1)),
    "hinge": (losses.hinge, BIN_T, REAL_P, lambda t, p: torch.relu(1 - (2 * t - 1) * p).mean(-1)),
    "squared_hinge": (losses.squared_hinge, np.sign(REAL_T), REAL_P, lambda t, p: (torch.relu(1 - t * p) ** 2).mean(-1)),
    "categorical_hinge": (losses.categorical_hinge, ONE_HOT, REAL_P,
                          lambda t, p: torch.relu(((1 - t) * p).max(-1).values - (t * p).sum(-1) + 1)),
    "cosine_similarity": (losses.cosine_similarity, REAL_T, REAL_P, lambda t, p: -F.cosine_similarity(t, p, dim=-1)),
    "mape": (losses.mean_absolute_percentage_error, REAL_T, REAL_P, lambda t, p: 100 * ((t - p).abs() / t.abs()).mean(-1)),
    "msle": (losses.mean_squared_logarithmic_error, POS_T, POS_P,
             lambda t, p: ((torch.log1p(p) - torch.log1p(t)) ** 2).mean(-1)),
    "binary_focal": (lambda t, p: losses.binary_focal_crossentropy(t, p, gamma=1.5), BIN_T, PROBS_P,
                     lambda t, p: ((1 - (t * p + (1 - t) * (1 - p))) ** 1.5 * _bce(t, p)).mean(-1)),
    "binary_focal_balanced_logits": (
        lambda t, p: losses.binary_focal_crossentropy(t, p, apply_class_balancing=True, alpha=0.3, from_logits=True),
        BIN_T, REAL_P,
        lambda t, p: ((t * 0.3 + (1 - t) * 0.7) * (1 - (t * torch.sigmoid(p) + (1 - t) * (1 - torch.sigmoid(p)))) ** 2
                      * F.binary_cross_entropy_with_logits(p, t, reduction="none")).mean(-1)),
    "categorical_focal": (losses.categorical_focal_crossentropy, ONE_HOT, PROBS_P,
                          lambda t, p: (0.25 * (1 - p / p.sum(-1, keepdim=True)) ** 2 * -t
                                        * torch.log(p / p.sum(-1, keepdim=True))).sum(-1)),  # Keras renormalises p
    "dice": (losses.dice, BIN_T, PROBS_P, lambda t, p: 1 - 2 * (t * p).sum() / (t.sum() + p.sum() + EPS)),
    "tversky": (lambda t, p: losses.tversky(t, p, alpha=0.7, beta=0.3), BIN_T, PROBS_P,
                lambda t, p: 1 - (t * p).sum() / ((t * p).sum() + 0.7 * ((1 - t) * p).sum() + 0.3 * (t * (1 - p)).sum()
                                                + EPS)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    fn, y_true, y_pred, reference = CASES[name]
    ours = nerve.tensor(y_pred, requires_grad=True)
    out = fn(y_true, ours)
    theirs = torch.tensor(y_pred, requires_grad=True)
    expected = reference(torch.tensor(y_true), theirs)
    upstream = np.random.default_rng(1).normal(size=expected.shape)
    out.backward(nerve.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", ["kld", "poisson", "logcosh", "hinge", "squared_hinge", "categorical_hinge",
                                  "cosine_similarity", "mape", "msle", "binary_focal_crossentropy",
                                  "categorical_focal_crossentropy", "dice", "tversky"])
def test_loss_names_compile_fit_save_and_load(name, tmp_path):
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss=name)
    y = np.eye(4)[np.arange(16) % 4]
    history = model.fit(np.random.default_rng(0).normal(size=(16, 3)), y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.nerve")
    reloaded = nerve.load_model(tmp_path / "m.nerve")
    assert type(reloaded.loss if hasattr(reloaded, "loss") else losses.get(name)).__name__


def test_configs_round_trip_and_bad_arguments():
    loss = losses.BinaryFocalCrossentropy(gamma=3.0, apply_class_balancing=True)
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is losses.BinaryFocalCrossentropy and again.gamma == 3.0 and again.apply_class_balancing
    assert losses.Tversky(alpha=0.9).get_config()["alpha"] == 0.9
    with pytest.raises(TypeError, match="unexpected arguments"):
        losses.Dice(alpha=0.3)
    with pytest.raises(ValueError, match="does not match"):
        losses.dice(np.ones((2, 3)), nerve.tensor(np.ones((2, 4))))


def test_gradient_checks():
    for fn in (losses.log_cosh, losses.cosine_similarity, losses.poisson, losses.categorical_focal_crossentropy):
        y_pred = nerve.tensor(PROBS_P[:2] + 0.1, requires_grad=True)
        assert nerve.gradcheck.gradcheck(lambda p, fn=fn: fn(PROBS_T[:2], p), [y_pred])
