"""Killing a process with SIGKILL while it saves: the file on disk is the old or the new one, never a broken one.

A forked child saves a model file and a weights file over and over (save ``k`` fills every weight with
``k``); the test kills it at a random moment, 24 times. After each kill both files must load (all
integrity checks passing) and hold one save's weights; the temporary files a kill can leave behind must
be gone after the next save to the same path.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

import nerve
from nerve import layers

KILLS = 24

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or "fork" not in multiprocessing.get_all_start_methods(),
                                reason="needs fork (POSIX)")


def _model():
    model = nerve.Sequential([nerve.Input(shape=(256,)), layers.Dense(512, name="wide"), layers.Dense(8, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _fill(model, value):
    for weight in model.weights:
        weight.data[...] = value


def _saver(folder, conn):
    model = _model()
    k = 0
    while True:
        _fill(model, k)
        model.save(os.path.join(folder, "model.nerve"))
        model.save_weights(os.path.join(folder, "model.safetensors"))
        if k == 0:
            conn.send("saved once")
        k += 1


def _one_save_of(model):
    """The ``k`` that every weight of ``model`` holds (one save's weights), or fail."""
    values = np.unique(np.concatenate([w.ravel() for w in model.get_weights()]))
    assert values.size == 1 and values[0] == int(values[0]) >= 0, f"weights of several saves: {values[:5]}"
    return int(values[0])


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith(".tmp-"))


def test_sigkill_during_saves_leaves_the_old_or_the_new_file_and_no_temporaries(tmp_path):
    context = multiprocessing.get_context("fork")
    rng = np.random.default_rng(0)
    survivors, left_behind = [], 0
    reader = _model()
    for _ in range(KILLS):
        parent, child = context.Pipe()
        process = context.Process(target=_saver, args=(str(tmp_path), child), daemon=True)
        process.start()
        assert parent.poll(60), "the saving process did not start"
        parent.recv()
        time.sleep(rng.uniform(0.0, 0.06))
        os.kill(process.pid, signal.SIGKILL)
        process.join()  # reaped: its pid no longer runs, so its temporary files count as stale
        assert process.exitcode == -signal.SIGKILL
        survivors.append(_one_save_of(nerve.load_model(tmp_path / "model.nerve")))
        reader.load_weights(tmp_path / "model.safetensors")
        _one_save_of(reader)
        left_behind += bool(_temporaries(tmp_path))
        fresh = _model()  # the next save to each path cleans up after the killed writer
        fresh.save(tmp_path / "model.nerve")
        fresh.save_weights(tmp_path / "model.safetensors")
        assert _temporaries(tmp_path) == [], "temporary files survived the next save"
    assert sorted(os.listdir(tmp_path)) == ["model.nerve", "model.safetensors"]
    assert max(survivors) > 0, "every kill came before the second save: the test does not exercise overwrites"
    print(f"{KILLS} kills: the files held saves {survivors}; {left_behind} kills left temporary files")
