"""Packed optimizer updates: every parameter updated by one pass of array calls.

Every built-in update rule (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta) is elementwise, so running
it once over the concatenation of all gradients and slots gives the same bits as running it on each
parameter, with a dozen array calls per step instead of a dozen per parameter. :class:`Packing` holds the
flat gradient, scratch and slot arrays; :class:`PackedParams` is what the update rule sees as its
parameter, so that its final in-place writes reach every parameter's own array.

Examples:
    >>> import numpy as np
    >>> from nerve.engine.tensor import Tensor
    >>> params = [Tensor(np.ones((2, 2), np.float32)), Tensor(np.zeros(3, np.float32))]
    >>> packing = Packing(params)
    >>> flat = packing.gather([np.full((2, 2), 2, np.float32), np.arange(3, dtype=np.float32)])
    >>> flat.tolist()
    [2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 2.0]
    >>> packing.targets -= flat
    >>> params[0].data.tolist(), params[1].data.tolist()
    ([[-1.0, -1.0], [-1.0, -1.0]], [0.0, -1.0, -2.0])
"""

from __future__ import annotations

from nerve.engine.backend import get_array_module

__all__ = ["PACKED", "Packing", "PackedParams"]

#: The ``index`` that an optimizer's update_step receives when it updates every parameter at once.
PACKED = "packed"  # the ``index`` that update_step receives when it updates every parameter at once


class Packing:
    """Flat gradients, scratch and slots for updating every parameter with one pass of array calls.

    Every built-in update rule is elementwise, so running it once over the
    concatenation of all gradients and slots gives the same bits as running it
    on each parameter, with a dozen array calls per step instead of a dozen per
    parameter (the per-call cost dominates small networks). The parameters keep
    their own arrays (updated in place, as always): the rule's final in-place
    writes reach them through :class:`PackedParams`. Each per-parameter slot
    array becomes a view into its flat slot; ``valid()`` notices when one is
    rebound (``load_state_dict``) and the optimizer then packs again.
    """

    def __init__(self, params):
        first = params[0].data
        xp = get_array_module(first)
        self.dtype = first.dtype
        self.shapes = [p.data.shape for p in params]
        self.bounds = []
        offset = 0
        for p in params:
            self.bounds.append((offset, offset + p.data.size))
            offset += p.data.size
        self.size = offset
        self.grads = xp.empty(offset, self.dtype)
        self.scratch = xp.empty(offset, self.dtype)
        self.grad_views = self.split(self.grads)
        self.scratch_views = self.split(self.scratch)
        self.targets = PackedParams(self, params)
        self.slots = {}  # name -> (flat array, its per-parameter views)

    @property
    def xp(self):
        return get_array_module(self.grads)  # looked up, not stored: optimizers stay picklable

    def split(self, flat):
        """Per-parameter views of a flat array."""
        return [flat[start:stop].reshape(shape) for (start, stop), shape in zip(self.bounds, self.shapes)]

    def valid(self, params, slots):
        """True while the parameters have the packed shapes and dtype and no slot array was rebound."""
        if len(params) != len(self.shapes):
            return False
        dtype, kind = self.dtype, type(self.grads)
        for p, shape in zip(params, self.shapes):
            data = p.data
            if type(data) is not kind or data.dtype != dtype or data.shape != shape:
                return False
        for name, (_, views) in self.slots.items():
            arrays = slots.get(name)
            if arrays is None or any(a is not v for a, v in zip(arrays, views)):
                return False
        return True

    def gather(self, grads):
        """Copy the gradients into the flat gradient array and return it."""
        copyto = self.xp.copyto
        for view, g in zip(self.grad_views, grads):
            copyto(view, g)
        return self.grads

    def gather_params(self, params):
        """The parameter values as one flat array (in the scratch array's twin, made on first use)."""
        flat = getattr(self, "param_values", None)
        if flat is None:
            flat = self.param_values = self.xp.empty(self.size, self.dtype)
            self.param_views = self.split(flat)
        copyto = self.xp.copyto
        for view, p in zip(self.param_views, params):
            copyto(view, p.data)
        return flat

    def slot(self, name, arrays, fill):
        """The flat slot ``name``: made on first use from the per-parameter ``arrays`` (None entries: ``fill``)."""
        entry = self.slots.get(name)
        if entry is None:
            xp = self.xp
            flat = xp.full(self.size, fill, self.dtype) if fill else xp.zeros(self.size, self.dtype)
            views = self.split(flat)
            for i, (view, old) in enumerate(zip(views, arrays)):
                if old is not None:
                    view[...] = old
                arrays[i] = view
            entry = self.slots[name] = (flat, views)
        return entry[0]


class PackedParams:
    """What a packed update rule sees as ``param``: ``-=`` and ``*=`` go to every parameter's own array."""

    def __init__(self, packing, params):
        self.packing = packing
        self.params = params
        self.dtype = packing.dtype

    def _pieces(self, flat):
        packing = self.packing
        return packing.scratch_views if flat is packing.scratch else packing.split(flat)

    def __isub__(self, flat):
        for p, piece in zip(self.params, self._pieces(flat)):
            p.data -= piece
        return self

    def __imul__(self, factor):
        for p in self.params:
            p.data *= factor
        return self
