"""A strict stand-in GPU for the tests: NumPy underneath, CuPy's manners on top.

:class:`DeviceArray` holds a NumPy array but behaves like ``cupy.ndarray`` where it matters for
finding host-only code:

* an operation that mixes it with a host ``numpy.ndarray`` raises ``TypeError`` ("Unsupported type
  <class 'numpy.ndarray'>", as CuPy says), and so does writing a host array into it;
* implicit conversion to the host raises: ``numpy.asarray(dev)``, ``float(dev)`` of more than one
  element, and NumPy functions other than ufuncs called on it (``numpy.concatenate``,
  ``numpy.shape``...: CuPy would answer those it has on the device; the stand-in is stricter, so
  that code keeps to the array module of its data, ``x.xp``). NumPy ufuncs, ``numpy.float32(2) *
  dev`` included, run on the device as in CuPy;
* its ``flags`` have no ``writeable``;
* ``dev.get()`` and ``module.asnumpy(dev)`` copy to the host, ``module.asarray(host)`` copies to the
  device: the explicit transfers, as in CuPy.

:data:`module` plays ``cupy``: every NumPy function, taking device arrays (refusing host arrays) and
returning device arrays, plus ``asarray``, ``array``, ``asnumpy`` and ``ndarray``. Reductions return
0-d device arrays, as in CuPy. Host index arrays are accepted in indexing (CuPy copies them over).

Example:
    >>> import numpy as np
    >>> dev = module.asarray(np.arange(3.0))
    >>> (dev * 2).get().tolist()
    [0.0, 2.0, 4.0]
    >>> dev + np.ones(3)
    Traceback (most recent call last):
    ...
    TypeError: add: Unsupported type <class 'numpy.ndarray'> ...
"""

from __future__ import annotations

import types

import numpy

__all__ = ["DeviceArray", "module"]

_HOST_HINT = ("a host numpy.ndarray mixed with device arrays; copy it to the device explicitly "
              "(module.asarray(x), tensor.to('gpu'), model.to('gpu'))")


def _refuse(where, value):
    raise TypeError(f"{where}: Unsupported type {type(value)} ({_HOST_HINT})")


def _unwrap(value, where, host_ok=False):
    """The NumPy array inside device arrays (also in lists and tuples); host arrays refused unless ``host_ok``."""
    kind = type(value)
    if kind is DeviceArray:
        return value._a
    if kind is list or kind is tuple:
        return kind(_unwrap(v, where, host_ok) for v in value)
    if isinstance(value, numpy.ndarray) and not host_ok:
        _refuse(where, value)
    return value  # Python and NumPy scalars, dtypes, slices, None...


def _wrap(value, known=None):
    """Device arrays around NumPy results (an input's own array gives back that input's wrapper)."""
    if isinstance(value, numpy.ndarray):
        if known is not None and id(value) in known:
            return known[id(value)]
        return DeviceArray(value)
    if isinstance(value, numpy.generic):
        return DeviceArray(numpy.asarray(value))  # CuPy's reductions return 0-d arrays
    if type(value) is list or type(value) is tuple:
        return type(value)(_wrap(v, known) for v in value)
    return value


def _known(args, kwargs):
    known = {}
    for value in list(args) + list(kwargs.values()):
        if type(value) is DeviceArray:
            known[id(value._a)] = value
        elif type(value) is tuple:  # out=(a,)
            known.update((id(v._a), v) for v in value if type(v) is DeviceArray)
    return known


def _device_function(function, name, owner=None):
    def call(*args, **kwargs):
        result = function(*_unwrap(args, name), **{k: _unwrap(v, name) for k, v in kwargs.items()})
        known = _known(args, kwargs)
        if owner is not None:  # a method: ``x.astype(x.dtype, copy=False) is x``, as in NumPy
            known[id(owner._a)] = owner
        return _wrap(result, known)

    call.__name__ = name
    return call


class _Flags:
    """CuPy's flags: contiguity and ownership, and no ``writeable``."""

    def __init__(self, flags):
        self.c_contiguous = flags.c_contiguous
        self.f_contiguous = flags.f_contiguous
        self.owndata = flags.owndata


_NO_SUCH_ATTRIBUTE = {"tobytes", "tofile", "dump", "dumps", "setflags", "ctypes", "data", "byteswap"}


class DeviceArray:
    """An array "on the device": NumPy inside, no implicit trips to or from the host.

    Example:
        >>> import numpy as np
        >>> dev = module.asarray(np.ones((2, 2), dtype=np.float32))
        >>> dev.sum().get().item(), hasattr(dev.flags, "writeable")
        (4.0, False)
    """

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, array):
        self._a = array

    # ---------------------------------------------------------- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a.flags))
    T = property(lambda self: DeviceArray(self._a.T))
    real = property(lambda self: DeviceArray(self._a.real))
    imag = property(lambda self: DeviceArray(self._a.imag))

    @property
    def base(self):
        base = self._a.base
        return DeviceArray(base) if isinstance(base, numpy.ndarray) else base

    def __getattr__(self, name):
        if name.startswith("__array") or name in _NO_SUCH_ATTRIBUTE:
            raise AttributeError(f"a device array has no attribute {name!r} (copy it to the host with .get() first)")
        value = getattr(self._a, name)
        if not callable(value):
            return value
        return _device_function(value, name, self)

    # ------------------------------------------------------- explicit copies
    def get(self):
        """A NumPy copy on the host (the explicit device-to-host transfer)."""
        return self._a.copy()

    def __reduce__(self):  # pickling and deepcopy go through the host, as CuPy's do
        return (_from_host, (self._a.copy(),))

    # ------------------------------------------------- refused conversions
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # as in CuPy, a NumPy ufunc (``numpy.float32(2) * dev`` too) runs on the device, host arrays refused
        where = ufunc.__name__
        result = getattr(ufunc, method)(*_unwrap(inputs, where), **{k: _unwrap(v, where) for k, v in kwargs.items()})
        return _wrap(result, _known(inputs, kwargs))

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} called on a device array: use the array module of the data "
                        f"(x.xp.{func.__name__}), or copy it to the host with .get()")

    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        return int(self._scalar("int"))

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer device arrays can be used as an index, got dtype {self.dtype}")
        return int(self._scalar("index"))

    def __bool__(self):
        return bool(self._scalar("bool"))

    def _scalar(self, what):
        if self._a.size != 1:
            raise TypeError(f"{what}() of a device array of shape {self.shape}: only arrays with one element "
                            "convert to a Python scalar")
        return self._a.reshape(()).item()

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def __repr__(self):
        return "device_" + repr(self._a)

    # -------------------------------------------------------- containers
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, "__getitem__", host_ok=True)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index, "__setitem__", host_ok=True)] = _unwrap(value, "__setitem__")


def _from_host(array):
    return DeviceArray(array)


def _operator(name, inplace=False):
    where = name.strip("_")

    def method(self, *others):
        result = getattr(self._a, name)(*_unwrap(others, where))
        if result is NotImplemented:
            return result
        return self if inplace else _wrap(result)

    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    setattr(DeviceArray, f"__{_name}__", _operator(f"__{_name}__"))
    setattr(DeviceArray, f"__r{_name}__", _operator(f"__r{_name}__"))
    setattr(DeviceArray, f"__i{_name}__", _operator(f"__i{_name}__", inplace=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert"):
    setattr(DeviceArray, f"__{_name}__", _operator(f"__{_name}__"))


class _Ufunc:
    """A NumPy ufunc on device arrays, with its methods (``reduce``, ``at``...)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self._call = _device_function(ufunc, ufunc.__name__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        if name == "at":  # at(array, indices, values): host index arrays are fine, as in indexing
            def at(array, indices, values=None):
                where = f"{self.__name__}.at"
                arguments = (_unwrap(array, where), _unwrap(indices, where, host_ok=True))
                if values is not None:
                    arguments += (_unwrap(values, where),)
                value(*arguments)
            return at
        return _device_function(value, f"{self.__name__}.{name}") if callable(value) else value


class _Module(types.ModuleType):
    """NumPy's namespace with device arrays in and out (``module`` below; submodules such as ``lib`` alike)."""

    def __init__(self, base, name):
        super().__init__(name)
        self._base = base

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._base, name)
        if isinstance(value, types.ModuleType):
            value = _Module(value, f"{self.__name__}.{name}")
        elif isinstance(value, numpy.ufunc):
            value = _Ufunc(value)
        elif callable(value) and not isinstance(value, type):
            value = _device_function(value, name)
        setattr(self, name, value)  # looked up once
        return value


#: The stand-in device's array module, the counterpart of ``cupy``.
module = _Module(numpy, "standin_device")
module.ndarray = DeviceArray


def _asarray(a, dtype=None, order=None):
    """``a`` on the device: device arrays as they are (cast to ``dtype``), host data copied over."""
    if type(a) is DeviceArray:
        return a if dtype is None or a.dtype == numpy.dtype(dtype) else DeviceArray(a._a.astype(dtype))
    return DeviceArray(numpy.array(_unwrap(a, "asarray", host_ok=True), dtype=dtype, order=order or "K"))


def _array(a, dtype=None, copy=True, order="K", ndmin=0):
    """A new device array from device or host data (always a copy unless ``copy=False`` allows sharing)."""
    if type(a) is DeviceArray and copy is False and (dtype is None or a.dtype == numpy.dtype(dtype)):
        return a
    return DeviceArray(numpy.array(_unwrap(a, "array", host_ok=True), dtype=dtype, order=order, ndmin=ndmin))


def _asnumpy(a):
    """A host copy of a device array (host data is returned as a NumPy array)."""
    if type(a) is DeviceArray:
        return a.get()
    return numpy.asarray(a)


def _get_array_module(*arrays):
    return module if any(type(a) is DeviceArray for a in arrays) else numpy


module.asarray = _asarray
module.array = _array
module.asnumpy = _asnumpy
module.get_array_module = _get_array_module
