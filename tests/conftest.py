"""Shared fixtures for nerve's tests.

``rng`` is a freshly seeded NumPy ``Generator`` (drawn through
``nerve.random`` so that every test starts from the same state), and
``randn`` builds float64 tensors from it for gradient checks. ``device``
registers the device ``"gpu"`` for one test: the strict stand-in of
``tests/device_standin.py``, or CuPy with ``NERVE_TEST_DEVICE=gpu``.
"""

import os

# Tests do not need BLAS threads; on a busy 2-core machine OpenBLAS's spinning threads make
# small matrix products many times slower. Must be set before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy  # noqa: E402
import pytest  # noqa: E402

import nerve  # noqa: E402


@pytest.fixture
def rng():
    """A reproducible random generator, reseeded for every test."""
    nerve.random.seed(1234)
    return nerve.random.generator()


@pytest.fixture
def randn(rng):
    """Factory for float64 test tensors: ``randn(3, 4)``; ``kind`` picks the distribution.

    kind="normal" (default): standard normal.
    kind="positive": uniform in [0.5, 2] (log, sqrt, divisors, pow bases).
    kind="away": |x| in [0.2, 2] with a random sign (keeps away from kinks at 0).
    kind="unit": uniform in [0, 1] (probability targets).
    """

    def make(*shape, kind="normal", requires_grad=True):
        if kind == "normal":
            data = rng.normal(size=shape)
        elif kind == "positive":
            data = rng.uniform(0.5, 2.0, size=shape)
        elif kind == "away":
            data = rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        elif kind == "unit":
            data = rng.uniform(0.0, 1.0, size=shape)
        else:
            raise ValueError(f"randn: unknown kind {kind!r}; valid: normal, positive, away, unit")
        return nerve.tensor(numpy.asarray(data, dtype=numpy.float64), requires_grad=requires_grad)

    return make


@pytest.fixture
def device():
    """The device ``"gpu"`` for one test; yields its array module (``device.asarray(host)`` makes device data).

    By default the strict stand-in (NumPy underneath, CuPy's refusals on top) is registered as ``"gpu"``;
    with ``NERVE_TEST_DEVICE=gpu`` it is CuPy on the real GPU, and the test fails if there is none.
    The device registrations and the default device are restored afterwards.
    """
    from nerve import backend

    devices, modules, default = dict(backend._DEVICES), list(backend._MODULES), backend.get_device()
    try:
        if os.environ.get("NERVE_TEST_DEVICE", "").strip().lower() == "gpu":
            if not backend.gpu_available():
                pytest.fail("NERVE_TEST_DEVICE=gpu, but CuPy sees no GPU (pip install 'nerve[gpu]' on a GPU machine)")
            yield backend._DEVICES["gpu"].module
        else:
            import device_standin

            backend.register_device("gpu", device_standin.module)
            yield device_standin.module
    finally:
        backend._DEVICES.clear()
        backend._DEVICES.update(devices)
        backend._MODULES[:] = modules
        backend._PLACEMENT["device"] = default
