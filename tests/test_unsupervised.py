"""RBMs and greedy layer-wise pretraining (nerve.unsupervised).

The RBM's formulas are checked against hand computations and against brute
force on tiny RBMs (4 visible, 3 hidden units), where every joint state
``(v, h)`` can be enumerated: free energy, partition function, likelihood,
pseudo-log-likelihood, and the CD/PCD gradient estimates against the exact
log-likelihood gradient. Training is checked on the bundled digits.
"""

import itertools
import warnings

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.unsupervised import DBN, RBM, initialize_dense, pretrain_stack, to_dense_model


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def tiny_rbm(visible="binary", n_visible=4, n_hidden=3, seed=0, sigma=1.0, **options):
    """A float64 RBM with random (not tiny) weights, so that the tests are sensitive to every term."""
    rng = np.random.default_rng(seed)
    rbm = RBM(n_hidden, visible=visible, dtype="float64", sigma=sigma, **options)
    rbm.set_weights([rng.normal(0, 1.0, (n_visible, n_hidden)), rng.normal(0, 0.5, n_visible),
                     rng.normal(0, 0.5, n_hidden)])
    return rbm


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def energy(rbm, v, h):
    """E(v, h) for every pair of rows of v (A, D) and h (B, H): an (A, B) array, straight from the definition."""
    w, b, c = rbm.get_weights()
    if rbm.visible == "binary":
        return -(v @ b)[:, None] - (h @ c)[None, :] - v @ w @ h.T
    s = rbm.sigma
    return (((v - b) ** 2).sum(1) / (2 * s * s))[:, None] - (h @ c)[None, :] - (v / s) @ w @ h.T


def joint_table(rbm):
    """p(v, h) over all binary states: (16, 8) for a 4x3 RBM."""
    v, h = states(rbm.n_visible), states(rbm.n_hidden)
    unnormalised = np.exp(-energy(rbm, v, h))
    return v, h, unnormalised / unnormalised.sum()


# ------------------------------------------------------------- the RBM maths
def test_cd1_gradient_matches_hand_computation():
    rbm = tiny_rbm()
    v0 = (np.random.default_rng(1).random((5, 4)) < 0.5).astype(np.float64)
    nerve.random.seed(7)
    d_w, d_b, d_c = rbm.cd_gradients(v0)

    w, b, c = rbm.get_weights()
    nerve.random.seed(7)  # the same uniforms: one per hidden unit of the positive phase
    p0 = sigmoid(v0 @ w + c)
    h0 = (nerve.random.generator().random(p0.shape) < p0).astype(np.float64)
    v1 = sigmoid(h0 @ w.T + b)  # mean-field reconstruction
    p1 = sigmoid(v1 @ w + c)
    n = len(v0)
    np.testing.assert_allclose(d_w, (v0.T @ p0 - v1.T @ p1) / n, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d_b, (v0 - v1).mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d_c, (p0 - p1).mean(0), rtol=1e-12, atol=1e-14)


def test_cd1_gradient_gaussian_visible_units_matches_hand_computation():
    sigma = 0.7
    rbm = tiny_rbm("gaussian", sigma=sigma)
    v0 = np.random.default_rng(2).normal(size=(5, 4))
    nerve.random.seed(3)
    d_w, d_b, d_c = rbm.cd_gradients(v0)

    w, b, c = rbm.get_weights()
    nerve.random.seed(3)
    p0 = sigmoid(v0 / sigma @ w + c)
    h0 = (nerve.random.generator().random(p0.shape) < p0).astype(np.float64)
    v1 = b + sigma * h0 @ w.T  # E[v | h]
    p1 = sigmoid(v1 / sigma @ w + c)
    n = len(v0)
    # d(-E)/dW = (v / sigma) h, d(-E)/db = (v - b) / sigma^2, d(-E)/dc = h
    np.testing.assert_allclose(d_w, ((v0 / sigma).T @ p0 - (v1 / sigma).T @ p1) / n, rtol=1e-12)
    np.testing.assert_allclose(d_b, (v0 - v1).mean(0) / sigma ** 2, rtol=1e-12)
    np.testing.assert_allclose(d_c, (p0 - p1).mean(0), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("visible", ["binary", "gaussian"])
def test_free_energy_matches_enumeration_over_hidden_states(visible):
    rbm = tiny_rbm(visible, sigma=1.3)
    v = states(4) if visible == "binary" else np.random.default_rng(0).normal(size=(10, 4))
    expected = -np.log(np.exp(-energy(rbm, v, states(3))).sum(axis=1))
    np.testing.assert_allclose(rbm.free_energy(v), expected, rtol=1e-12)


@pytest.mark.parametrize("n_visible,n_hidden", [(4, 3), (3, 4)])
def test_partition_function_and_likelihood_match_enumeration(n_visible, n_hidden):
    rbm = tiny_rbm(n_visible=n_visible, n_hidden=n_hidden)
    v, h = states(n_visible), states(n_hidden)
    log_z = np.log(np.exp(-energy(rbm, v, h)).sum())
    assert rbm.log_partition_function() == pytest.approx(log_z, rel=1e-12)
    log_p = rbm.log_likelihood(v)
    _, _, joint = joint_table(rbm)
    np.testing.assert_allclose(np.exp(log_p), joint.sum(axis=1), rtol=1e-10)
    assert np.exp(log_p).sum() == pytest.approx(1.0, rel=1e-12)


def test_pseudo_log_likelihood_matches_enumeration():
    rbm = tiny_rbm()
    v, _, joint = joint_table(rbm)
    p_v = joint.sum(axis=1)
    index = {tuple(row): i for i, row in enumerate(v)}
    expected = []
    for row in v:  # sum_i log p(v_i | v_-i) = log p(v) / (p(v) + p(v with bit i flipped))
        total = 0.0
        for i in range(4):
            flipped = row.copy()
            flipped[i] = 1 - flipped[i]
            p, q = p_v[index[tuple(row)]], p_v[index[tuple(flipped)]]
            total += np.log(p / (p + q))
        expected.append(total)
    np.testing.assert_allclose(rbm.pseudo_log_likelihood(v, exact=True), expected, rtol=1e-10)


def test_pseudo_log_likelihood_estimate_is_d_times_one_random_term():
    rbm = tiny_rbm()
    v = states(4)
    exact = rbm.pseudo_log_likelihood(v, exact=True)
    per_unit = np.stack([rbm._flip_terms(v, np.full(len(v), i)) for i in range(4)], axis=1)
    np.testing.assert_allclose(per_unit.sum(axis=1), exact, rtol=1e-12)
    nerve.random.seed(0)
    estimate = rbm.pseudo_log_likelihood(v)
    nerve.random.seed(0)
    units = nerve.random.generator().integers(0, 4, size=len(v))
    np.testing.assert_allclose(estimate, 4 * per_unit[np.arange(len(v)), units], rtol=1e-12)
    nerve.random.seed(1)  # unbiased: the average over many draws approaches the exact value
    many = np.mean([rbm.pseudo_log_likelihood(np.repeat(v[5:6], 4000, axis=0)).mean() for _ in range(3)])
    assert many == pytest.approx(exact[5], rel=0.05)


def test_persistent_cd_estimates_the_exact_log_likelihood_gradient():
    """With many long-run persistent chains, the negative phase samples the model: the exact gradient by enumeration."""
    rbm = tiny_rbm(persistent=True, k=1)
    v_data = states(4)[[1, 6, 9, 14, 15]]
    w, b, c = rbm.get_weights()
    v, h, joint = joint_table(rbm)
    p_data = sigmoid(v_data @ w + c)
    exact_w = v_data.T @ p_data / len(v_data) - v.T @ joint @ h
    exact_b = v_data.mean(0) - joint.sum(1) @ v
    nerve.random.seed(0)
    batch = np.repeat(v_data, 1000, axis=0)  # 5000 chains
    for _ in range(30):  # burn in (the weights do not change: no update is applied)
        rbm.cd_gradients(batch)
    estimates = [rbm.cd_gradients(batch) for _ in range(20)]
    np.testing.assert_allclose(np.mean([e[0] for e in estimates], axis=0), exact_w, atol=0.01)
    np.testing.assert_allclose(np.mean([e[1] for e in estimates], axis=0), exact_b, atol=0.01)
    assert rbm.chains.shape == batch.shape and set(np.unique(rbm.chains)) <= {0.0, 1.0}


def test_reconstruction_error_decreases_and_pll_increases_on_digits():
    (x, _), _ = nerve.datasets.load_digits_5k(test_size=1000, seed=0, flatten=True)
    x = x[:1000]
    nerve.random.seed(0)
    rbm = RBM(64, learning_rate=0.1)
    rbm.initialize(784, data=x)
    before = rbm.reconstruction_error(x)
    history = rbm.fit(x, epochs=4, batch_size=50)
    errors, plls = history["reconstruction_error"], history["pseudo_log_likelihood"]
    assert len(errors) == len(plls) == 4
    assert errors[-1] < errors[0] < before
    assert errors[-1] < 0.75 * before
    assert plls[-1] > plls[0]
    assert rbm.history is history


def test_gaussian_rbm_learns_real_valued_data():
    rng = np.random.default_rng(0)
    sources = rng.normal(size=(600, 2))
    x = sources @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(600, 6))
    x = (x - x.mean(0)) / x.std(0)
    nerve.random.seed(0)
    rbm = RBM(8, visible="gaussian", learning_rate=0.01)
    history = rbm.fit(x, epochs=10, batch_size=30)
    assert "pseudo_log_likelihood" not in history
    assert history["reconstruction_error"][-1] < 0.8 * history["reconstruction_error"][0]
    with pytest.raises(ValueError, match="binary visible units only"):
        rbm.pseudo_log_likelihood(x)


def test_gibbs_sampling_shapes_and_values():
    nerve.random.seed(0)
    rbm = tiny_rbm(n_visible=6, n_hidden=3)
    x = np.ones((5, 6))
    assert rbm.gibbs(x, steps=0).shape == (5, 6)
    samples = rbm.gibbs(x, steps=3)
    assert samples.shape == (5, 6) and set(np.unique(samples)) <= {0.0, 1.0}
    drawn = rbm.sample(7, steps=4)
    assert drawn.shape == (7, 6) and ((drawn > 0) & (drawn < 1)).all()  # probabilities (mean=True)
    assert set(np.unique(rbm.sample(7, steps=4, mean=False))) <= {0.0, 1.0}
    assert rbm.sample(2, steps=1, init=np.zeros((2, 6))).shape == (2, 6)
    with pytest.raises(ValueError, match=r"init must have shape \(3, 6\), received \(2, 6\)"):
        rbm.sample(3, init=np.zeros((2, 6)))
    gaussian = tiny_rbm("gaussian", n_visible=6, n_hidden=3)
    assert gaussian.gibbs(np.zeros((4, 6)), steps=2).shape == (4, 6)
    assert gaussian.sample(3, steps=2).dtype == np.float64


def test_sampling_is_seeded():
    rbm = tiny_rbm()
    nerve.random.seed(5)
    a = rbm.sample(10, steps=20, mean=False)
    nerve.random.seed(5)
    assert (a == rbm.sample(10, steps=20, mean=False)).all()


def test_transform_gives_hidden_probabilities_and_flattens_images():
    rbm = tiny_rbm(n_visible=6)
    w, b, c = rbm.get_weights()
    x = np.random.default_rng(0).random((4, 2, 3))
    np.testing.assert_allclose(rbm.transform(x), sigmoid(x.reshape(4, 6) @ w + c), rtol=1e-12)
    np.testing.assert_allclose(rbm.hidden_probabilities(x), rbm.transform(x))
    assert rbm.transform(nerve.tensor(x.reshape(4, 6))).shape == (4, 3)
    np.testing.assert_allclose(rbm.visible_mean(np.ones((1, 3))), sigmoid(w.sum(1) + b)[None], rtol=1e-12)
    np.testing.assert_allclose(rbm.reconstruct(x), sigmoid(sigmoid(x.reshape(4, 6) @ w + c) @ w.T + b), rtol=1e-12)


def test_float32_by_default_and_training_is_reproducible():
    x = (np.random.default_rng(0).random((40, 5)) < 0.5).astype(np.float32)
    runs = []
    for _ in range(2):
        nerve.random.seed(11)
        rbm = RBM(3, k=2)
        rbm.fit(x, epochs=2, batch_size=8)
        runs.append(rbm.get_weights())
    assert runs[0][0].dtype == np.float32
    for a, b in zip(*runs):
        assert (a == b).all()


# ------------------------------------------------------------------ bad input
def test_binary_rbm_rejects_data_outside_unit_interval():
    rbm = RBM(3)
    with pytest.raises(ValueError, match=r"expect data in \[0, 1\].*received values from -0.5 to 2") as info:
        rbm.fit(np.array([[0.0, 2.0], [-0.5, 1.0]]))
    assert "visible='gaussian'" in str(info.value)
    rbm.fit(np.zeros((4, 2)), epochs=1)
    with pytest.raises(ValueError, match=r"expect data in \[0, 1\]"):
        rbm.transform(np.full((1, 2), 255.0))
    with pytest.raises(ValueError, match="has 2 visible units, received data with 3 features"):
        rbm.transform(np.zeros((1, 3)))
    RBM(3, visible="gaussian").fit(np.array([[0.0, 2.0], [-0.5, 1.0]]), epochs=1)  # fine for Gaussian units


def test_rbm_argument_errors():
    with pytest.raises(ValueError, match="unknown visible unit type 'poisson'; valid types: binary, gaussian"):
        RBM(3, visible="poisson")
    with pytest.raises(ValueError, match="k"):
        RBM(3, k=0)
    with pytest.raises(RuntimeError, match="call fit"):
        RBM(3).transform(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"expected data of shape \(samples, features\), received shape \(3,\)"):
        RBM(3).fit(np.zeros(3))
    with pytest.raises(ValueError, match="expected shapes"):
        RBM(3).set_weights([np.zeros((2, 2)), np.zeros(2), np.zeros(2)])


# --------------------------------------------------------- greedy pretraining
def test_pretrain_stack_trains_each_rbm_on_the_previous_hidden_probabilities():
    x = (np.random.default_rng(0).random((60, 8)) < 0.4).astype(np.float32)
    nerve.random.seed(3)
    rbms = pretrain_stack(x, [6, 4, 2], epochs=[2, 3, 1], batch_size=10, k=1)
    assert [(r.n_visible, r.n_hidden) for r in rbms] == [(8, 6), (6, 4), (4, 2)]
    assert [len(r.history["reconstruction_error"]) for r in rbms] == [2, 3, 1]

    nerve.random.seed(3)  # the same procedure by hand
    data, manual = x, []
    for units, epochs in zip([6, 4, 2], [2, 3, 1]):
        rbm = RBM(units, learning_rate=0.1)
        rbm.fit(data, epochs=epochs, batch_size=10)
        data = rbm.transform(data)
        manual.append(rbm)
    for a, b in zip(rbms, manual):
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)


def test_to_dense_model_computes_the_stack_and_fine_tunes():
    x = (np.random.default_rng(0).random((60, 8)) < 0.4).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    nerve.random.seed(0)
    dbn = DBN([6, 4], epochs=2, batch_size=10).fit(x)
    features = to_dense_model(dbn.rbms).predict(x)
    np.testing.assert_allclose(features, dbn.transform(x), rtol=1e-5, atol=1e-6)
    model = dbn.to_dense_model(output_units=2, input_shape=(2, 4))
    assert isinstance(model.layers[0], layers.Flatten)
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), dbn.rbms[0].weights)
    np.testing.assert_array_equal(model.layers[2].bias.numpy(), dbn.rbms[1].hidden_bias)
    model.compile(optimizer=nerve.optimizers.Adam(0.01), loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x.reshape(60, 2, 4), y, epochs=15, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_gaussian_first_layer_is_scaled_by_sigma():
    rbm = tiny_rbm("gaussian", sigma=2.0)
    model = to_dense_model([rbm])
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(model.predict(x), rbm.transform(x), rtol=1e-5, atol=1e-6)


def test_initialize_dense_rejects_mismatched_layer_sizes():
    nerve.random.seed(0)
    rbms = pretrain_stack(np.zeros((10, 6)), [5, 3], epochs=1)
    wrong = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(5, activation="sigmoid"),
                              layers.Dense(4, activation="sigmoid"), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"layer sizes \[6, 5, 3\].*2nd Dense layer .*expected a kernel of shape "
                                         r"\(5, 3\) \(5 -> 3 units, from RBM 2\), received \(5, 4\)"):
        initialize_dense(wrong, rbms)
    wrong_input = nerve.Sequential([nerve.Input(shape=(7,)), layers.Dense(5, activation="sigmoid"),
                                    layers.Dense(3, activation="sigmoid")])
    with pytest.raises(ValueError, match=r"1st Dense layer.*expected a kernel of shape \(6, 5\).*received \(7, 5\)"):
        initialize_dense(wrong_input, rbms)
    short = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(5, activation="sigmoid")])
    with pytest.raises(ValueError, match="expected at least 2 Dense layers.*received a model with 1"):
        initialize_dense(short, rbms)
    with pytest.raises(ValueError, match="is not built"):
        initialize_dense(nerve.Sequential([layers.Dense(5), layers.Dense(3)]), rbms)
    with pytest.raises(ValueError, match="do not stack"):
        initialize_dense(short, [rbms[1], rbms[0]])
    with pytest.raises(ValueError, match=r"input_shape \(2, 2\) holds 4 values, but the first RBM has 6"):
        to_dense_model(rbms, input_shape=(2, 2))
    relu = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(5, activation="relu"), layers.Dense(3)])
    with pytest.warns(UserWarning, match="logistic"):
        initialize_dense(relu, rbms)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initialize_dense(relu, rbms, check_activations=False)
