"""Autoencoders: networks that are an encoder and a decoder, trained to give back their input.

The encoder maps an input ``x`` to a code ``z`` (usually smaller: a
bottleneck), the decoder maps ``z`` back to a reconstruction ``x_hat``, and
the whole model is trained to make ``x_hat`` close to ``x``, without labels.

* :class:`Autoencoder` joins an encoder model and a decoder model into one
  model ``x -> decoder(encoder(x))``; the three models share their layers, so
  after ``autoencoder.fit(x, x)`` the encoder alone gives features and the
  decoder alone generates inputs from codes. :func:`dense_autoencoder` and
  :func:`conv_autoencoder` build the usual architectures.
* Denoising: give the autoencoder a ``noise`` layer (:class:`MaskingNoise` or
  :class:`~nerve.layers.GaussianNoise`, :func:`denoising_autoencoder`); it
  corrupts the input in training only, and the model learns to restore the
  clean input.
* :class:`VariationalAutoencoder`: the encoder gives the mean and log-variance
  of a Gaussian ``q(z | x)``; training samples ``z = mean + exp(log_var / 2) *
  eps`` with ``eps ~ N(0, I)`` (reparameterisation, so gradients flow through
  the sample) and minimises reconstruction + KL(q(z | x) || N(0, I))
  (:func:`vae_loss`). New inputs come from decoding ``z ~ N(0, I)``
  (:meth:`VariationalAutoencoder.sample`). :func:`dense_vae` builds one.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve.applications.autoencoders import dense_autoencoder
    >>> nerve.random.seed(0)
    >>> ae = dense_autoencoder((28, 28), latent_dim=8, hidden_units=(32,))
    >>> ae.compile(optimizer="adam", loss="binary_crossentropy")
    >>> x = np.random.default_rng(0).random((16, 28, 28)).astype("float32")
    >>> _ = ae.fit(x, x, epochs=1, verbose=0)
    >>> ae.encoder.predict(x).shape, ae.decoder.predict(np.zeros((2, 8))).shape, ae.predict(x).shape
    ((16, 8), (2, 28, 28), (16, 28, 28))
"""

from __future__ import annotations

import math

import numpy

from nerve.blocks import layers as layers_module
from nerve.blocks import losses
from nerve.blocks.layers.base import Layer, builtin_layer
from nerve.blocks.layers.base import deserialize as deserialize_layer
from nerve.blocks.layers.base import serialize as serialize_layer
from nerve.engine import ops
from nerve.engine import random as nerve_random
from nerve.engine.tensor import DEFAULT_FLOAT, Tensor, no_grad
from nerve.training.models import Input, Model

__all__ = [
    "Autoencoder", "MaskingNoise", "VariationalAutoencoder", "dense_autoencoder", "conv_autoencoder",
    "denoising_autoencoder", "dense_vae", "reparameterize", "kl_divergence", "reconstruction_loss", "vae_loss",
]

RECONSTRUCTION_LOSSES = ("binary_crossentropy", "squared_error")
NOISE_KINDS = ("masking", "gaussian")
_EPSILON = 1e-7


# ------------------------------------------------------------------ noise
@builtin_layer
class MaskingNoise(Layer):
    """Masking noise for denoising autoencoders: in training, set each input value to 0 with probability ``rate``.

    Unlike :class:`~nerve.layers.Dropout` the kept values are not rescaled:
    the network sees a corrupted input, not a rescaled one. At inference it
    is the identity.

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> noise = MaskingNoise(0.5)
        >>> noise(np.ones((1, 4)), training=False).tolist()
        [[1.0, 1.0, 1.0, 1.0]]
        >>> sorted(set(noise(np.ones((100, 4)), training=True).numpy().ravel().tolist()))
        [0.0, 1.0]
    """

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"MaskingNoise: rate must be in [0, 1), received {rate!r}")
        self.rate = float(rate)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        xp = inputs.xp
        keep = xp.asarray(nerve_random.generator().random(inputs.shape) >= self.rate).astype(inputs.dtype)
        return inputs * Tensor(keep)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def _noise_layer(noise, noise_level):
    if noise is None or isinstance(noise, Layer):
        return noise
    if noise == "masking":
        return MaskingNoise(noise_level)
    if noise == "gaussian":
        return layers_module.GaussianNoise(noise_level)
    raise ValueError(f"unknown noise {noise!r}; valid: {', '.join(NOISE_KINDS)}, a Layer, or None")


# ------------------------------------------------------------ shape checks
def _check_reconstruction_shape(where, input_shape, output_shape):
    """The decoder must give back the encoder's input shape (batch axis ignored)."""
    if input_shape is None or output_shape is None:
        return
    expected, received = tuple(input_shape[1:]), tuple(output_shape[1:])
    if expected != received:
        raise ValueError(
            f"{where}: the decoder's output must have the shape of the input it reconstructs: expected samples of "
            f"shape {expected} (the encoder's input), received {received} from the decoder; end the decoder with "
            f"e.g. layers.Reshape({expected}) or change its last layer"
        )


# ------------------------------------------------------------ autoencoder
@builtin_layer
class Autoencoder(Model):
    """An encoder model and a decoder model joined into ``x -> decoder(encoder(x))`` (optionally noise first).

    The three models share weights: train the whole one with ``fit(x, x)``,
    then use ``autoencoder.encoder`` for codes/features and
    ``autoencoder.decoder`` to map codes back. ``noise`` (a layer active only
    in training, such as :class:`MaskingNoise`) makes it a denoising
    autoencoder. It is a functional model: ``save``/``load_model`` work.

    Args:
        encoder: a functional model (``nerve.Model(nerve.Input(...), ...)``
            or a ``Sequential`` starting with ``nerve.Input``).
        decoder: a functional model whose input is the encoder's output and
            whose output has the encoder's input shape.
        noise: optional corruption layer applied to the input.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> encoder = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(2)], name="enc")
        >>> decoder = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(6)], name="dec")
        >>> ae = Autoencoder(encoder, decoder)
        >>> ae(np.zeros((3, 6))).shape, ae.encoder is encoder
        ((3, 6), True)
    """

    def __init__(self, encoder, decoder, noise=None, name=None, **kwargs):
        for role, model in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(model, Model) or not model.built or _input_shape(model) is None:
                raise ValueError(f"Autoencoder: the {role} must be a built model with a known input shape; start it "
                                 f"with nerve.Input(shape=...), received {model!r}")
        in_shape, code_shape = _input_shape(encoder), _output_shape(encoder)
        decoder_in = _input_shape(decoder)
        if code_shape is not None and tuple(decoder_in[1:]) != tuple(code_shape[1:]):
            raise ValueError(f"Autoencoder: the decoder takes codes of shape {tuple(decoder_in[1:])}, but the "
                             f"encoder produces codes of shape {tuple(code_shape[1:])}")
        _check_reconstruction_shape(f"Autoencoder '{name or 'autoencoder'}'", in_shape, _output_shape(decoder))
        inputs = Input(shape=tuple(in_shape[1:]), dtype=encoder.dtype or DEFAULT_FLOAT)
        x = inputs if noise is None else noise(inputs)
        super().__init__(inputs, decoder(encoder(x)), name=name, **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.noise = noise

    def get_config(self):
        return {**super().get_config(), "encoder": self.encoder.name, "decoder": self.decoder.name,
                "noise": None if self.noise is None else self.noise.name}

    @classmethod
    def from_config(cls, config):
        graph = Model.from_config(config)
        noise = graph.get_layer(config["noise"]) if config.get("noise") else None
        return cls(graph.get_layer(config["encoder"]), graph.get_layer(config["decoder"]), noise=noise,
                   name=config.get("name"))


def _input_shape(model):
    shape = getattr(model, "input_shape", None)
    if getattr(model, "_input", None) is not None:  # Sequential started with nerve.Input
        shape = model._input.shape
    return tuple(shape) if isinstance(shape, tuple) else None


def _output_shape(model):
    shape = getattr(model, "output_shape", None)
    return tuple(shape) if isinstance(shape, tuple) else None


def _as_shape(input_shape):
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(n) for n in input_shape)
    if not shape or any(n <= 0 for n in shape):
        raise ValueError(f"input_shape must be a tuple of positive sizes (one sample, no batch axis), received {input_shape!r}")
    return shape


def dense_autoencoder(input_shape, latent_dim=32, hidden_units=(256,), activation="relu", latent_activation=None,
                      output_activation="sigmoid", noise=None, noise_level=0.3, name="autoencoder"):
    """A fully connected autoencoder: input -> hidden_units -> latent_dim -> reversed hidden_units -> input.

    Images are flattened by the encoder and reshaped back by the decoder.
    ``output_activation="sigmoid"`` suits data in [0, 1] (with the
    ``binary_crossentropy`` loss); use None and ``mse`` for real values.
    ``noise`` (``"masking"``, ``"gaussian"`` or a layer, of strength
    ``noise_level``) makes it a denoising autoencoder.

    Examples:
        >>> ae = dense_autoencoder((28, 28), latent_dim=16, hidden_units=(64,))
        >>> [m.count_params() for m in (ae.encoder, ae.decoder)]
        [51280, 52048]
    """
    shape = _as_shape(input_shape)
    size = math.prod(shape)
    hidden = [int(u) for u in hidden_units]
    enc_in = Input(shape=shape)
    x = layers_module.Flatten()(enc_in) if len(shape) > 1 else enc_in
    for units in hidden:
        x = layers_module.Dense(units, activation=activation)(x)
    code = layers_module.Dense(int(latent_dim), activation=latent_activation)(x)
    encoder = Model(enc_in, code, name=f"{name}_encoder")
    dec_in = Input(shape=(int(latent_dim),))
    x = dec_in
    for units in reversed(hidden):
        x = layers_module.Dense(units, activation=activation)(x)
    x = layers_module.Dense(size, activation=output_activation)(x)
    if len(shape) > 1:
        x = layers_module.Reshape(shape)(x)
    decoder = Model(dec_in, x, name=f"{name}_decoder")
    return Autoencoder(encoder, decoder, noise=_noise_layer(noise, noise_level), name=name)


def conv_autoencoder(input_shape=(28, 28, 1), filters=(16, 32), latent_dim=None, kernel_size=3, activation="relu",
                     output_activation="sigmoid", noise=None, noise_level=0.3, name="conv_autoencoder"):
    """A convolutional autoencoder: (Conv2D + MaxPooling2D) per entry of ``filters``, mirrored by Conv2DTranspose.

    Each stage halves the image (``MaxPooling2D(2)``) and the decoder doubles
    it back with stride-2 transposed convolutions, so the height and width
    must be divisible by ``2 ** len(filters)``. With ``latent_dim`` the code
    is a vector (Flatten + Dense); otherwise it is the last feature map.
    Grey images of shape ``(H, W)`` are accepted and given back in that shape.

    Examples:
        >>> import numpy as np
        >>> ae = conv_autoencoder((28, 28), filters=(4, 8), latent_dim=10)
        >>> ae.encoder.output_shape, ae(np.zeros((2, 28, 28))).shape
        ((None, 10), (2, 28, 28))
    """
    shape = _as_shape(input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"conv_autoencoder: expected input_shape (height, width) or (height, width, channels), "
                         f"received {shape}")
    image = shape if len(shape) == 3 else shape + (1,)
    factor = 2 ** len(filters)
    if image[0] % factor or image[1] % factor:
        raise ValueError(f"conv_autoencoder: {len(filters)} pooling stages need height and width divisible by "
                         f"{factor}, received input_shape {shape}")
    enc_in = Input(shape=shape)
    x = enc_in if len(shape) == 3 else layers_module.Reshape(image)(enc_in)
    for f in filters:
        x = layers_module.Conv2D(int(f), kernel_size, padding="same", activation=activation)(x)
        x = layers_module.MaxPooling2D(2)(x)
    feature_shape = (image[0] // factor, image[1] // factor, int(filters[-1]))
    if latent_dim is not None:
        x = layers_module.Flatten()(x)
        x = layers_module.Dense(int(latent_dim))(x)
    encoder = Model(enc_in, x, name=f"{name}_encoder")
    dec_in = Input(shape=feature_shape if latent_dim is None else (int(latent_dim),))
    x = dec_in
    if latent_dim is not None:
        x = layers_module.Dense(math.prod(feature_shape), activation=activation)(x)
        x = layers_module.Reshape(feature_shape)(x)
    for f in reversed(filters):
        x = layers_module.Conv2DTranspose(int(f), kernel_size, strides=2, padding="same", activation=activation)(x)
    x = layers_module.Conv2D(image[2], kernel_size, padding="same", activation=output_activation)(x)
    if len(shape) == 2:
        x = layers_module.Reshape(shape)(x)
    decoder = Model(dec_in, x, name=f"{name}_decoder")
    return Autoencoder(encoder, decoder, noise=_noise_layer(noise, noise_level), name=name)


def denoising_autoencoder(input_shape, noise="masking", noise_level=0.3, kind="dense", **options):
    """A denoising autoencoder: ``kind="dense"`` or ``"conv"`` with a ``noise`` layer active in training only.

    Train it with ``fit(x, x)``: it sees corrupted inputs and learns to give
    back the clean ones. At inference the noise layer is the identity.

    Examples:
        >>> import numpy as np
        >>> dae = denoising_autoencoder((6,), noise="gaussian", noise_level=0.5, latent_dim=2, hidden_units=())
        >>> type(dae.noise).__name__
        'GaussianNoise'
    """
    builders = {"dense": dense_autoencoder, "conv": conv_autoencoder}
    if kind not in builders:
        raise ValueError(f"denoising_autoencoder: unknown kind {kind!r}; valid: {', '.join(builders)}")
    if noise is None:
        raise ValueError("denoising_autoencoder: noise must be given (a denoising autoencoder corrupts its input)")
    options.setdefault("name", f"denoising_{'conv_' if kind == 'conv' else ''}autoencoder")
    return builders[kind](input_shape, noise=noise, noise_level=noise_level, **options)


# -------------------------------------------------------------------- VAE
def reparameterize(mean, log_var, epsilon=None):
    """``z = mean + exp(log_var / 2) * epsilon`` with ``epsilon ~ N(0, I)`` (drawn from nerve.random if not given).

    The randomness is in ``epsilon`` only, so ``z`` is differentiable in
    ``mean`` and ``log_var``: the reparameterisation trick.

    Examples:
        >>> import nerve
        >>> reparameterize(nerve.tensor([[1.0]]), nerve.tensor([[0.0]]), epsilon=nerve.tensor([[2.0]])).tolist()
        [[3.0]]
    """
    if tuple(mean.shape) != tuple(log_var.shape):
        raise ValueError(f"reparameterize: mean and log_var must have the same shape, received {tuple(mean.shape)} "
                         f"and {tuple(log_var.shape)}")
    if epsilon is None:
        epsilon = Tensor(mean.xp.asarray(nerve_random.normal(mean.shape, dtype=mean.dtype)))
    elif not isinstance(epsilon, Tensor):
        epsilon = Tensor(mean.xp.asarray(epsilon, dtype=mean.dtype))
    if tuple(epsilon.shape) != tuple(mean.shape):
        raise ValueError(f"reparameterize: epsilon must have the shape of mean {tuple(mean.shape)}, received "
                         f"{tuple(epsilon.shape)}")
    return mean + ops.exp(log_var * 0.5) * epsilon


def kl_divergence(mean, log_var):
    """Per-sample ``KL(N(mean, exp(log_var)) || N(0, I)) = -1/2 sum(1 + log_var - mean^2 - exp(log_var))``.

    Summed over every axis but the first (the batch); a Tensor of shape (N,).

    Examples:
        >>> import nerve
        >>> kl_divergence(nerve.tensor([[0.0, 0.0]]), nerve.tensor([[0.0, 0.0]])).tolist()  # q = prior
        [0.0]
        >>> round(kl_divergence(nerve.tensor([[1.0]]), nerve.tensor([[0.0]])).item(), 3)
        0.5
    """
    terms = (ops.exp(log_var) + mean * mean - 1.0 - log_var) * 0.5
    axes = tuple(range(1, terms.ndim))
    return ops.sum(terms, axis=axes) if axes else terms


def reconstruction_loss(x, x_hat, kind="binary_crossentropy"):
    """Per-sample reconstruction loss, summed over the features: a Tensor of shape (N,).

    ``"binary_crossentropy"``: ``-sum(x log x_hat + (1 - x) log(1 - x_hat))``
    (``x`` in [0, 1], ``x_hat`` probabilities clipped to ``[1e-7, 1 - 1e-7]``),
    the negative log-likelihood of a Bernoulli decoder.
    ``"squared_error"``: ``sum((x - x_hat)^2)``.

    Examples:
        >>> import nerve
        >>> reconstruction_loss(nerve.tensor([[1.0, 0.0]]), nerve.tensor([[0.5, 0.0]]), "squared_error").tolist()
        [0.25]
    """
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"reconstruction_loss: unknown kind {kind!r}; valid: {', '.join(RECONSTRUCTION_LOSSES)}")
    if not isinstance(x, Tensor):
        x = Tensor(x_hat.xp.asarray(x, dtype=x_hat.dtype))
    if tuple(x.shape) != tuple(x_hat.shape):
        raise ValueError(f"reconstruction_loss: expected a reconstruction of the input's shape {tuple(x.shape)}, "
                         f"received {tuple(x_hat.shape)}")
    if kind == "squared_error":
        terms = (x - x_hat) * (x - x_hat)
    else:
        p = ops.clip(x_hat, _EPSILON, 1 - _EPSILON)
        terms = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
    axes = tuple(range(1, terms.ndim))
    return ops.sum(terms, axis=axes) if axes else terms


def vae_loss(x, x_hat, mean, log_var, reconstruction="binary_crossentropy", kl_weight=1.0):
    """The VAE objective (negative ELBO), mean over the batch: reconstruction + ``kl_weight`` * KL.

    Returns ``(total, reconstruction, kl)`` as scalar Tensors (batch means).

    Examples:
        >>> import nerve
        >>> x = nerve.tensor([[1.0, 0.0]])
        >>> total, rec, kl = vae_loss(x, nerve.tensor([[0.5, 0.5]]), nerve.tensor([[1.0]]), nerve.tensor([[0.0]]))
        >>> round(rec.item(), 4), round(kl.item(), 4), round(total.item(), 4)  # 2 log 2, 1/2
        (1.3863, 0.5, 1.8863)
    """
    rec = ops.mean(reconstruction_loss(x, x_hat, reconstruction))
    kl = ops.mean(kl_divergence(mean, log_var))
    total = rec + kl if kl_weight == 1.0 else rec + kl * float(kl_weight)
    return total, rec, kl


@builtin_layer
class VariationalAutoencoder(Model):
    """A variational autoencoder (Kingma and Welling, 2014) with a Gaussian latent space.

    Args:
        encoder: a model mapping ``x`` to two tensors ``[mean, log_var]`` of
            shape (N, latent_dim).
        decoder: a model mapping ``z`` (N, latent_dim) back to ``x``'s shape
            (probabilities with a sigmoid output for ``binary_crossentropy``).
        reconstruction: ``"binary_crossentropy"`` or ``"squared_error"``
            (see :func:`reconstruction_loss`).
        kl_weight: weight of the KL term (1 is the ELBO; other values give a
            beta-VAE).

    In training (``fit``) the latent code is sampled with the
    reparameterisation trick and the loss is :func:`vae_loss`;
    ``vae(x)``/``predict`` reconstruct from the mean code (deterministic).
    ``fit(x)`` needs no targets. :meth:`sample` decodes draws from the prior.

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> vae = dense_vae((6,), latent_dim=2, hidden_units=(8,))
        >>> vae.compile(optimizer="adam")
        >>> history = vae.fit(np.full((32, 6), 0.5, dtype="float32"), epochs=2, verbose=0)
        >>> len(history.history["loss"]), vae.sample(3).shape, vae.encode(np.zeros((4, 6)))[0].shape
        (2, (3, 6), (4, 2))
    """

    def __init__(self, encoder, decoder, reconstruction="binary_crossentropy", kl_weight=1.0, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"VariationalAutoencoder: unknown reconstruction loss {reconstruction!r}; valid: "
                             f"{', '.join(RECONSTRUCTION_LOSSES)}")
        if not isinstance(encoder, Layer) or not isinstance(decoder, Layer):
            raise TypeError("VariationalAutoencoder: encoder and decoder must be nerve models (or layers)")
        self.encoder = encoder
        self.decoder = decoder
        self.reconstruction = reconstruction
        self.kl_weight = float(kl_weight)
        where = f"VariationalAutoencoder '{self.name}'"
        code = getattr(encoder, "output_shape", None) if getattr(encoder, "_functional", False) else None
        if code is not None and not (isinstance(code, (list, tuple)) and len(code) == 2 and isinstance(code[0], tuple)):
            raise ValueError(f"{where}: the encoder must output two tensors [mean, log_var], received one output of "
                             f"shape {code}")
        if code is not None:
            if code[0] != code[1]:
                raise ValueError(f"{where}: the encoder's mean and log_var outputs must have the same shape, received "
                                 f"{code[0]} and {code[1]}")
            decoder_in = _input_shape(decoder)
            if decoder_in is not None and decoder_in[1:] != code[0][1:]:
                raise ValueError(f"{where}: the decoder takes codes of shape {decoder_in[1:]}, but the encoder "
                                 f"produces codes of shape {code[0][1:]}")
        if _input_shape(encoder) is not None and _output_shape(decoder) is not None:
            _check_reconstruction_shape(where, _input_shape(encoder), _output_shape(decoder))
            self.built = True
            self.input_spec = (len(_input_shape(encoder)), None)

    # --------------------------------------------------------------- passes
    def _encode(self, x, training):
        out = self.encoder(x, training=training)
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            raise ValueError(f"VariationalAutoencoder '{self.name}': the encoder must return [mean, log_var], "
                             f"received {type(out).__name__}")
        return out[0], out[1]

    def _decode(self, x, z, training):
        x_hat = self.decoder(z, training=training)
        _check_reconstruction_shape(f"VariationalAutoencoder '{self.name}'", tuple(x.shape), tuple(x_hat.shape))
        return x_hat

    def call(self, inputs, training=None):
        mean, log_var = self._encode(inputs, training)
        z = reparameterize(mean, log_var) if training else mean
        return self._decode(inputs, z, training)

    def _input_tensor(self, x):
        if isinstance(x, Tensor):
            return x
        array = numpy.asarray(x) if not hasattr(x, "dtype") else x
        dtype = self.dtype or (self.encoder.dtype if getattr(self.encoder, "dtype", None) else DEFAULT_FLOAT)
        return Tensor(array.astype(dtype, copy=False))

    def compute_loss(self, x, training=True, epsilon=None):
        """``(total, reconstruction, kl)`` scalar Tensors on a batch, with a sampled code (``epsilon`` fixes the noise).

        Examples:
            >>> import numpy as np
            >>> vae = dense_vae((4,), latent_dim=2, hidden_units=())
            >>> [round(t.item(), 1) >= 0 for t in vae.compute_loss(np.full((3, 4), 0.5))]
            [True, True, True]
        """
        x = self._input_tensor(x)
        mean, log_var = self._encode(x, training)
        z = reparameterize(mean, log_var, epsilon)
        x_hat = self._decode(x, z, training)
        return vae_loss(x, x_hat, mean, log_var, self.reconstruction, self.kl_weight)

    def encode(self, x):
        """``(mean, log_var)`` of ``q(z | x)`` as NumPy arrays (inference mode).

        Examples:
            >>> import numpy as np
            >>> vae = dense_vae((4,), latent_dim=3, hidden_units=())
            >>> [a.shape for a in vae.encode(np.zeros((2, 4)))]
            [(2, 3), (2, 3)]
        """
        with no_grad():
            mean, log_var = self._encode(self._input_tensor(x), False)
        return mean.numpy(), log_var.numpy()

    def decode(self, z):
        """Decode latent codes ``z`` (N, latent_dim) to inputs, as a NumPy array.

        Examples:
            >>> import numpy as np
            >>> vae = dense_vae((4,), latent_dim=3, hidden_units=())
            >>> vae.decode(np.zeros((2, 3))).shape
            (2, 4)
        """
        with no_grad():
            return self.decoder(self._input_tensor(z), training=False).numpy()

    @property
    def latent_dim(self):
        """Size of the latent code (from the decoder's input)."""
        shape = _input_shape(self.decoder)
        if shape is None:
            raise ValueError(f"VariationalAutoencoder '{self.name}': the latent size is unknown until the decoder is built")
        return shape[1:]

    def sample(self, n_samples):
        """Generate ``n_samples`` new inputs: decode ``z ~ N(0, I)`` drawn from nerve.random (a NumPy array).

        Examples:
            >>> vae = dense_vae((5,), latent_dim=2, hidden_units=())
            >>> vae.sample(4).shape
            (4, 5)
        """
        dtype = self.dtype or DEFAULT_FLOAT
        return self.decode(nerve_random.normal((int(n_samples),) + tuple(self.latent_dim), dtype=dtype))

    # -------------------------------------------------------------- training
    def compile(self, optimizer="adam", loss=None, metrics=None, loss_weights=None):
        """Choose the optimizer; the loss is always :func:`vae_loss` (``loss``/``metrics`` are not accepted)."""
        placeholder = "vae_loss (reconstruction + kl)"
        if (loss is not None and getattr(loss, "name", None) != placeholder) or metrics:
            raise ValueError(f"VariationalAutoencoder '{self.name}'.compile: the loss is fixed (reconstruction + KL, "
                             f"set by reconstruction={self.reconstruction!r} and kl_weight); remove loss=/metrics=")
        # fit/evaluate use train_step/test_step below; the compiled loss only marks the model as compiled
        super().compile(optimizer=optimizer, loss=losses.MeanSquaredError(name=placeholder))

    def train_step(self, x, y=None, sample_weight=None):
        """One update on the VAE loss; returns ``(loss, [loss])`` like :meth:`Model.train_step`."""
        total, _, _ = self.compute_loss(x, training=True)
        penalty = self._regularization()  # kernel_regularizer penalties of the encoder's and decoder's layers
        objective = total if penalty is None else total + penalty
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        value = float(total.data)
        return value, [value]

    def test_step(self, x, y=None, sample_weight=None):
        """The VAE loss on a batch (a sampled code, no update)."""
        with no_grad():
            total, _, _ = self.compute_loss(x, training=False)
        value = float(total.data)
        return value, [value]

    def fit(self, x=None, y=None, **kwargs):
        """Train on ``x`` (targets are ``x`` itself; ``y`` is ignored); see :meth:`Model.fit`."""
        return super().fit(x, x if y is None else y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """Mean VAE loss on ``x`` (with sampled codes); see :meth:`Model.evaluate`."""
        return super().evaluate(x, x if y is None else y, **kwargs)

    # ---------------------------------------------------------------- config
    def get_config(self):
        return {"name": self.name, "reconstruction": self.reconstruction, "kl_weight": self.kl_weight,
                "encoder": serialize_layer(self.encoder),
                "decoder": serialize_layer(self.decoder)}

    @classmethod
    def from_config(cls, config):
        parts = {key: deserialize_layer(config[key])
                 for key in ("encoder", "decoder")}
        return cls(parts["encoder"], parts["decoder"], reconstruction=config.get("reconstruction", "binary_crossentropy"),
                   kl_weight=config.get("kl_weight", 1.0), name=config.get("name"))


def dense_vae(input_shape, latent_dim=2, hidden_units=(256,), activation="relu", output_activation="sigmoid",
              reconstruction="binary_crossentropy", kl_weight=1.0, dtype="float32", name="vae"):
    """A fully connected VAE: encoder input -> hidden_units -> [mean, log_var]; decoder latent -> hidden -> input.

    Examples:
        >>> vae = dense_vae((28, 28), latent_dim=2, hidden_units=(64,))
        >>> vae.encoder.output_shape, vae.decoder.output_shape
        ([(None, 2), (None, 2)], (None, 28, 28))
    """
    shape = _as_shape(input_shape)
    hidden = [int(u) for u in hidden_units]
    enc_in = Input(shape=shape, dtype=dtype)
    x = layers_module.Flatten()(enc_in) if len(shape) > 1 else enc_in
    for units in hidden:
        x = layers_module.Dense(units, activation=activation)(x)
    mean = layers_module.Dense(int(latent_dim), name=f"{name}_z_mean")(x)
    log_var = layers_module.Dense(int(latent_dim), name=f"{name}_z_log_var")(x)
    encoder = Model(enc_in, [mean, log_var], name=f"{name}_encoder")
    dec_in = Input(shape=(int(latent_dim),), dtype=dtype)
    x = dec_in
    for units in reversed(hidden):
        x = layers_module.Dense(units, activation=activation)(x)
    x = layers_module.Dense(math.prod(shape), activation=output_activation)(x)
    if len(shape) > 1:
        x = layers_module.Reshape(shape)(x)
    decoder = Model(dec_in, x, name=f"{name}_decoder")
    return VariationalAutoencoder(encoder, decoder, reconstruction=reconstruction, kl_weight=kl_weight, name=name,
                                  dtype=dtype)
