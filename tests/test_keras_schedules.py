"""PolynomialDecay and CosineDecayRestarts (issue 18): against PyTorch's schedulers and the Keras formulas."""

import math

import pytest

import nerve
from nerve import schedules


def test_polynomial_decay_matches_torch_and_cycles():
    torch = pytest.importorskip("torch")
    ours = schedules.PolynomialDecay(0.5, decay_steps=20, end_learning_rate=0.0, power=2.0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    theirs = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=20, power=2.0)
    for step in range(30):
        assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        opt.step()
        theirs.step()
    cycling = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.1, cycle=True)
    assert cycling(10) == pytest.approx(0.1) and cycling(15) == pytest.approx(0.1 + 0.9 * 0.25)


def test_cosine_decay_restarts_matches_torch_warm_restarts():
    torch = pytest.importorskip("torch")
    ours = schedules.CosineDecayRestarts(0.1, first_decay_steps=5, t_mul=2.0, alpha=0.0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=5, T_mult=2)
    for step in range(40):
        assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        opt.step()
        theirs.step()


def test_cosine_decay_restarts_m_mul_and_alpha_follow_the_keras_formula():
    s = schedules.CosineDecayRestarts(2.0, first_decay_steps=4, t_mul=1.0, m_mul=0.5, alpha=0.1)
    for step in range(12):
        i, fraction = divmod(step / 4, 1)
        expected = 2.0 * (0.9 * 0.5 * 0.5 ** i * (1 + math.cos(math.pi * fraction)) + 0.1)
        assert s(step) == pytest.approx(expected, rel=1e-12)


def test_new_schedules_drive_an_optimizer_and_save(tmp_path):
    for schedule in (schedules.PolynomialDecay(0.1, 4), schedules.CosineDecayRestarts(0.1, 3)):
        model = nerve.Sequential([nerve.Input(shape=(2,)), nerve.layers.Dense(1)])
        model.compile(optimizer=nerve.optimizers.SGD(schedule), loss="mse")
        model.fit([[0.0, 1.0]] * 8, [[1.0]] * 8, epochs=2, batch_size=2, verbose=0)
        model.save(tmp_path / "m.nerve")
        loaded = nerve.load_model(tmp_path / "m.nerve").optimizer.learning_rate
        assert type(loaded) is type(schedule) and loaded.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.PolynomialDecay(0.1, 0)
