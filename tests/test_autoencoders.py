"""Autoencoders (nerve.autoencoders): dense, convolutional, denoising and variational.

Shapes and the three models (encoder, decoder, whole) used on their own; the
denoising noise only in training; the VAE's KL term and reconstruction loss
against hand-written formulas (and PyTorch where installed); gradients of the
whole VAE loss against central differences in float64; reparameterisation;
sampling from the prior; clear errors for mismatched shapes.
"""

import os

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.autoencoders import (
    Autoencoder, MaskingNoise, VariationalAutoencoder, conv_autoencoder, dense_autoencoder, dense_vae,
    denoising_autoencoder, kl_divergence, reconstruction_loss, reparameterize, vae_loss,
)
from nerve.gradcheck import check_gradients


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = nerve.datasets.load_digits_5k(test_size=1000, seed=0)
    return x[:400], y[:400]


# ---------------------------------------------------------------- plain AEs
def test_dense_autoencoder_shapes_and_standalone_parts():
    nerve.random.seed(0)
    ae = dense_autoencoder((6, 4), latent_dim=3, hidden_units=(10, 5))
    x = np.random.default_rng(0).random((7, 6, 4)).astype(np.float32)
    assert ae(x).shape == (7, 6, 4)
    codes = ae.encoder.predict(x)
    assert codes.shape == (7, 3)
    assert ae.decoder.predict(np.zeros((2, 3), dtype=np.float32)).shape == (2, 6, 4)
    np.testing.assert_allclose(ae.predict(x), ae.decoder.predict(codes), rtol=1e-6)
    assert ae.count_params() == ae.encoder.count_params() + ae.decoder.count_params()
    assert [type(l).__name__ for l in ae.layers] == ["Model", "Model"]


def test_training_the_whole_model_trains_the_shared_encoder_and_decoder(digits):
    x, _ = digits
    nerve.random.seed(0)
    ae = dense_autoencoder((28, 28), latent_dim=16, hidden_units=(64,))
    before = ae.encoder.predict(x[:5])
    ae.compile(optimizer=nerve.optimizers.Adam(2e-3), loss="binary_crossentropy")
    history = ae.fit(x, x, batch_size=32, epochs=3, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert not np.allclose(before, ae.encoder.predict(x[:5]))
    np.testing.assert_allclose(ae.predict(x[:5]), ae.decoder.predict(ae.encoder.predict(x[:5])), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,latent", [((8, 8), None), ((8, 8, 2), 5)])
def test_conv_autoencoder_shapes(shape, latent):
    nerve.random.seed(0)
    ae = conv_autoencoder(shape, filters=(3, 4), latent_dim=latent)
    x = np.random.default_rng(0).random((2,) + shape).astype(np.float32)
    assert ae(x).shape == (2,) + shape
    expected_code = (2, 2, 2, 4) if latent is None else (2, latent)
    codes = ae.encoder.predict(x)
    assert codes.shape == expected_code
    assert ae.decoder.predict(codes).shape == (2,) + shape
    ae.compile(optimizer="adam", loss="mse")
    ae.fit(x, x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"divisible by 4, received input_shape \(6, 8\)"):
        conv_autoencoder((6, 8), filters=(3, 4))


def test_autoencoder_save_and_load(tmp_path):
    nerve.random.seed(0)
    ae = dense_autoencoder((5,), latent_dim=2, hidden_units=(4,), noise="masking", noise_level=0.2)
    x = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    ae.compile(optimizer="adam", loss="mse")
    ae.fit(x, x, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "ae.nerve")
    ae.save(path)
    loaded = nerve.load_model(path)
    assert isinstance(loaded, Autoencoder) and isinstance(loaded.noise, MaskingNoise)
    np.testing.assert_array_equal(loaded.predict(x), ae.predict(x))
    np.testing.assert_array_equal(loaded.encoder.predict(x), ae.encoder.predict(x))


# -------------------------------------------------------------- denoising
def test_masking_noise_only_in_training():
    noise = MaskingNoise(0.3)
    x = np.ones((200, 50), dtype=np.float32)
    assert (noise(x, training=False).numpy() == 1).all()
    nerve.random.seed(0)
    corrupted = noise(x, training=True).numpy()
    assert set(np.unique(corrupted)) == {0.0, 1.0}  # masked, not rescaled
    assert (corrupted == 0).mean() == pytest.approx(0.3, abs=0.02)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        MaskingNoise(1.0)


@pytest.mark.parametrize("noise", ["masking", "gaussian"])
def test_denoising_autoencoder_corrupts_inputs_only_in_training(noise):
    nerve.random.seed(0)
    dae = denoising_autoencoder((6,), noise=noise, noise_level=0.5, latent_dim=2, hidden_units=(4,))
    x = nerve.tensor(np.random.default_rng(0).random((30, 6)))
    clean = dae.decoder(dae.encoder(x))
    np.testing.assert_array_equal(dae(x, training=False).numpy(), clean.numpy())
    np.testing.assert_array_equal(dae.predict(x), dae.decoder.predict(dae.encoder.predict(x)))
    nerve.random.seed(1)
    trained_pass = dae(x, training=True).numpy()
    assert not np.allclose(trained_pass, clean.numpy())
    nerve.random.seed(1)  # the same noise, applied by hand before the encoder
    expected = dae.decoder(dae.encoder(dae.noise(x, training=True)))
    np.testing.assert_allclose(trained_pass, expected.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown noise 'salt'; valid: masking, gaussian"):
        dense_autoencoder((6,), noise="salt")


# -------------------------------------------------------------------- VAE
def test_kl_divergence_matches_hand_formula():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    var = np.exp(log_var)
    # KL(N(m, s^2) || N(0, 1)) = log(1 / s) + (s^2 + m^2) / 2 - 1/2, summed over the latent axes
    expected = (np.log(1 / np.sqrt(var)) + (var + mean ** 2) / 2 - 0.5).sum(axis=1)
    np.testing.assert_allclose(kl_divergence(nerve.tensor(mean), nerve.tensor(log_var)).numpy(), expected, rtol=1e-12)
    assert kl_divergence(nerve.tensor(np.zeros((2, 3))), nerve.tensor(np.zeros((2, 3)))).tolist() == [0.0, 0.0]


def test_kl_divergence_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    mean, log_var = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    q = torch.distributions.Normal(torch.tensor(mean), torch.tensor(np.exp(0.5 * log_var)))
    p = torch.distributions.Normal(torch.zeros(5, 2, dtype=torch.float64), torch.ones(5, 2, dtype=torch.float64))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1).numpy()
    np.testing.assert_allclose(kl_divergence(nerve.tensor(mean), nerve.tensor(log_var)).numpy(), expected, rtol=1e-10)


def test_reconstruction_loss_formulas():
    x = np.array([[1.0, 0.0, 0.5], [0.2, 0.9, 1.0]])
    p = np.array([[0.9, 0.2, 0.5], [0.3, 0.6, 0.99]])
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    np.testing.assert_allclose(reconstruction_loss(nerve.tensor(x), nerve.tensor(p)).numpy(), bce, rtol=1e-12)
    np.testing.assert_allclose(reconstruction_loss(x, nerve.tensor(p), "squared_error").numpy(), ((x - p) ** 2).sum(1),
                               rtol=1e-12)
    total, rec, kl = vae_loss(x, nerve.tensor(p), nerve.tensor(np.ones((2, 1))), nerve.tensor(np.zeros((2, 1))),
                              kl_weight=0.5)
    assert rec.item() == pytest.approx(bce.mean()) and kl.item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(bce.mean() + 0.25)
    with pytest.raises(ValueError, match="unknown kind 'l1'; valid: binary_crossentropy, squared_error"):
        reconstruction_loss(x, nerve.tensor(p), "l1")
    with pytest.raises(ValueError, match=r"expected a reconstruction of the input's shape \(2, 3\), received \(2, 2\)"):
        reconstruction_loss(x, nerve.tensor(p[:, :2]))


def test_reparameterize_values_gradients_and_statistics(randn):
    mean, log_var = randn(3, 2), randn(3, 2)
    eps = np.random.default_rng(0).normal(size=(3, 2))
    z = reparameterize(mean, log_var, epsilon=eps)
    np.testing.assert_allclose(z.numpy(), mean.numpy() + np.exp(0.5 * log_var.numpy()) * eps, rtol=1e-12)
    assert check_gradients(lambda m, v: reparameterize(m, v, epsilon=eps), [mean, log_var])
    nerve.random.seed(0)
    many = reparameterize(nerve.tensor(np.full((20000, 1), 2.0)), nerve.tensor(np.full((20000, 1), np.log(0.25))))
    assert many.numpy().mean() == pytest.approx(2.0, abs=0.02) and many.numpy().std() == pytest.approx(0.5, abs=0.01)


def tiny_vae_float64(latent=2, features=5):
    enc_in = nerve.Input(shape=(features,), dtype="float64")
    h = layers.Dense(4, activation="tanh")(enc_in)
    encoder = nerve.Model(enc_in, [layers.Dense(latent)(h), layers.Dense(latent)(h)])
    dec_in = nerve.Input(shape=(latent,), dtype="float64")
    decoder = nerve.Model(dec_in, layers.Dense(features, activation="sigmoid")(layers.Dense(4, activation="tanh")(dec_in)))
    return VariationalAutoencoder(encoder, decoder, dtype="float64")


@pytest.mark.parametrize("reconstruction", ["binary_crossentropy", "squared_error"])
def test_vae_loss_gradient_check_float64(reconstruction):
    nerve.random.seed(0)
    vae = tiny_vae_float64()
    vae.reconstruction = reconstruction
    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.uniform(0.1, 0.9, size=(3, 5)), requires_grad=True)
    eps = rng.normal(size=(3, 2))
    weights = vae.trainable_weights
    assert len(weights) == 10 and all(w.dtype == np.float64 for w in weights)
    assert check_gradients(lambda x, *w: vae.compute_loss(x, epsilon=eps)[0], [x] + weights)
    # and the value is reconstruction + KL of the same pass, written out
    mean, log_var = vae.encoder(x)
    x_hat = vae.decoder(mean + (log_var * 0.5).exp() * nerve.tensor(eps))
    total, rec, kl = vae.compute_loss(x, epsilon=eps)
    assert rec.item() == pytest.approx(reconstruction_loss(x, x_hat, reconstruction).mean().item(), rel=1e-12)
    assert kl.item() == pytest.approx(kl_divergence(mean, log_var).mean().item(), rel=1e-12)
    assert total.item() == pytest.approx(rec.item() + kl.item(), rel=1e-12)


def test_vae_trains_samples_and_round_trips(digits, tmp_path):
    x, _ = digits
    nerve.random.seed(0)
    vae = dense_vae((28, 28), latent_dim=2, hidden_units=(64,))
    vae.compile(optimizer=nerve.optimizers.Adam(2e-3))
    history = vae.fit(x, batch_size=32, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert vae.evaluate(x, verbose=0) > 0
    np.testing.assert_array_equal(vae.predict(x[:4]), vae.predict(x[:4]))  # inference decodes the mean: deterministic
    assert not np.allclose(vae(x[:4], training=True).numpy(), vae(x[:4], training=True).numpy())
    nerve.random.seed(3)
    samples = vae.sample(5)
    assert samples.shape == (5, 28, 28) and samples.dtype == np.float32
    assert ((samples >= 0) & (samples <= 1)).all()
    nerve.random.seed(3)
    np.testing.assert_array_equal(vae.sample(5), samples)
    mean, log_var = vae.encode(x[:6])
    assert mean.shape == log_var.shape == (6, 2)
    assert vae.decode(mean).shape == (6, 28, 28)
    path = os.path.join(tmp_path, "vae.nerve")
    vae.save(path)
    loaded = nerve.load_model(path)
    assert isinstance(loaded, VariationalAutoencoder)
    np.testing.assert_array_equal(loaded.predict(x[:4]), vae.predict(x[:4]))


# ---------------------------------------------------------------- bad input
def test_vae_decoder_output_shape_must_match_the_input():
    enc_in = nerve.Input(shape=(6,))
    encoder = nerve.Model(enc_in, [layers.Dense(2)(enc_in), layers.Dense(2)(enc_in)])
    dec_in = nerve.Input(shape=(2,))
    decoder = nerve.Model(dec_in, layers.Dense(5, activation="sigmoid")(dec_in))
    with pytest.raises(ValueError, match=r"expected samples of shape \(6,\) \(the encoder's input\), received \(5,\)"):
        VariationalAutoencoder(encoder, decoder)
    with pytest.raises(ValueError, match=r"expected samples of shape \(6,\).*received \(5,\)"):
        Autoencoder(nerve.Model(enc_in, layers.Dense(2)(enc_in)), decoder)
    decoder3 = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(6)])
    with pytest.raises(ValueError, match=r"decoder takes codes of shape \(3,\), but the encoder produces codes of shape \(2,\)"):
        VariationalAutoencoder(encoder, decoder3)
    with pytest.raises(ValueError, match=r"must output two tensors \[mean, log_var\]"):
        VariationalAutoencoder(nerve.Model(enc_in, layers.Dense(2)(enc_in)), decoder)


def test_vae_shape_check_for_subclassed_parts():
    class Encoder(nerve.Model):
        def __init__(self):
            super().__init__()
            self.mean, self.log_var = layers.Dense(2), layers.Dense(2)

        def call(self, x, training=None):
            return [self.mean(x), self.log_var(x)]

    vae = VariationalAutoencoder(Encoder(), nerve.Sequential([layers.Dense(4)]))
    with pytest.raises(ValueError, match=r"expected samples of shape \(6,\).*received \(4,\) from the decoder"):
        vae(np.zeros((3, 6), dtype=np.float32))
    with pytest.raises(ValueError, match="loss is fixed"):
        vae.compile(optimizer="adam", loss="mse")
