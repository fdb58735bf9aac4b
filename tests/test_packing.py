"""The packed-update kernel (nerve.engine.kernels.packing) on its own: views, gathers and in-place writes."""

from __future__ import annotations

import numpy as np

from nerve.engine.kernels.packing import PACKED, Packing
from nerve.engine.tensor import Tensor


def _params():
    return [Tensor(np.arange(6, dtype=np.float32).reshape(2, 3)), Tensor(np.full(4, 2.0, np.float32))]


def test_gather_packs_in_parameter_order_and_split_gives_views():
    params = _params()
    packing = Packing(params)
    flat = packing.gather([np.ones((2, 3), np.float32), np.arange(4, dtype=np.float32)])
    assert flat.tolist() == [1.0] * 6 + [0.0, 1.0, 2.0, 3.0]
    views = packing.split(flat)
    views[1][0] = 9.0
    assert flat[6] == 9.0 and views[0].shape == (2, 3)
    np.testing.assert_array_equal(packing.gather_params(params), np.concatenate([p.data.ravel() for p in params]))


def test_packed_params_write_every_parameter_in_place():
    params = _params()
    originals = [p.data for p in params]
    packing = Packing(params)
    step = np.linspace(0, 1, 10, dtype=np.float32)
    expected = [p.data - s for p, s in zip(params, packing.split(step.copy()))]
    packing.targets -= step
    packing.targets *= np.float32(2)
    for p, original, e in zip(params, originals, expected):
        assert p.data is original  # updated in place, not rebound
        np.testing.assert_array_equal(p.data, 2 * e)


def test_slots_become_views_and_a_rebound_slot_invalidates_the_packing():
    params = _params()
    packing = Packing(params)
    slots = {"m": [np.full((2, 3), 5.0, np.float32), None]}
    flat = packing.slot("m", slots["m"], fill=0.0)
    assert flat.tolist() == [5.0] * 6 + [0.0] * 4
    assert slots["m"][0].base is flat  # the per-parameter slot is now a view of the flat one
    assert packing.valid(params, slots)
    slots["m"][1] = np.zeros(4, np.float32)  # load_state_dict rebinds a slot array
    assert not packing.valid(params, slots)
    assert not packing.valid(params[:1], slots) and PACKED == "packed"
