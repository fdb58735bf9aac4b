"""Fuzzing model files: damaged or altered bytes never end in a generic exception, nor in a silent load of altered data.

Seeded with NumPy's generator (``NERVE_FUZZ_SEED``, default 0). CI runs 3,000 cases (a few seconds);
``NERVE_FUZZ_CASES=100000`` runs more. Four kinds of case:

* ``file``: random byte mutations of the whole model file (flips, overwrites, insertions, deletions,
  truncations, 32-bit fields set to edge values), half of them aimed at the zip headers;
* ``entry``: mutations inside one entry, the zip rebuilt with valid CRCs and the manifest left as saved
  (damage the CRC cannot see): a load that succeeds must give back exactly the saved model;
* ``crafted``: the same with the manifest rebuilt too (a consistent, hand-made file): it may load (the
  change is then the file's content) or fail, but only with nerve's own error;
* ``weights``: mutations of a plain weights file through ``load_weights``: nerve's own errors only.
"""

from __future__ import annotations

import collections
import os
import struct

import hostile_corpus
import model_files as mf
import numpy as np
import pytest

import nerve

CASES = int(os.environ.get("NERVE_FUZZ_CASES", "3000"))
SEED = int(os.environ.get("NERVE_FUZZ_SEED", "0"))
SHARES = {"file": 0.4, "entry": 0.3, "crafted": 0.2, "weights": 0.1}
EDGE_VALUES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 1 << 20)


def hot_spots(data):
    """Offsets of zip header fields: local and central headers and the end record."""
    spots = []
    for signature, length in ((b"PK\x03\x04", 30), (b"PK\x01\x02", 46), (b"PK\x05\x06", 22)):
        at = data.find(signature)
        while at >= 0:
            spots.extend(range(at, min(at + length, len(data))))
            at = data.find(signature, at + 1)
    return spots


def mutate(data, rng, hot=()):
    """``data`` with 1 to 3 random mutations; positions from ``hot`` half the time."""
    data = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if not data:
            break
        pos = int(rng.choice(hot)) if len(hot) and rng.random() < 0.5 else int(rng.integers(0, len(data)))
        pos = min(pos, len(data) - 1)
        op = int(rng.integers(0, 6))
        if op == 0:
            data[pos] ^= int(rng.integers(1, 256))
        elif op == 1:
            data[pos] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x22, 0x5B, 0x7B, 0x5C]))
        elif op == 2:
            del data[pos:pos + int(rng.integers(1, 64))]
        elif op == 3:
            data[pos:pos] = rng.bytes(int(rng.integers(1, 16)))
        elif op == 4:
            del data[pos:]
        else:
            data[pos:pos + 4] = struct.pack("<I", int(rng.choice(EDGE_VALUES)))
    return bytes(data)


def safetensors_header_spots(entry):
    size = int.from_bytes(entry[:8], "little") if len(entry) >= 8 else 0
    return list(range(min(8 + size, len(entry))))


class Reference:
    """The good files and what loading them gives (the entries of the loaded model saved again)."""

    def __init__(self, folder):
        self.folder = folder
        self.model_path, self.weights_path = hostile_corpus.make_good_files(folder)
        self.model_bytes, self.weights_bytes = self.model_path.read_bytes(), self.weights_path.read_bytes()
        self.entries = mf.entries(self.model_bytes)
        self.saved = self.resaved(nerve.load_model(self.model_path, restore_random_state=False))
        self.weights = [w.copy() for w in self.load_weights(self.weights_path).get_weights()]

    def resaved(self, model):
        path = self.folder / "resaved.nerve"
        model.save(path)
        return {k: v for k, v in mf.entries(path).items() if k != "manifest.json"}

    @staticmethod
    def load_weights(path):
        model = hostile_corpus.build_model()
        nerve.saving.load_weights(model, path)
        return model


def run_case(kind, data, reference, path):
    """``"error"``, ``"loaded"``, ``"altered"`` (a load gave back other data than saved) or ``"generic: <type>"``."""
    path.write_bytes(data)
    try:
        if kind == "weights":
            model = reference.load_weights(path)
            same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.weights))
        else:
            model = nerve.load_model(path, restore_random_state=False)
            same = reference.resaved(model) == reference.saved
    except (nerve.saving.CorruptFileError, nerve.saving.UnknownObjectError):
        return "error"
    except Exception as error:  # noqa: BLE001 - what the test looks for
        return f"generic: {type(error).__name__}: {str(error)[:120]}"
    return "loaded" if same else "altered"


def fuzz(folder, cases=CASES, seed=SEED):
    """Run ``cases`` fuzz cases; ``{kind: Counter(outcome)}`` and the first failing examples."""
    reference = Reference(folder)
    rng = np.random.default_rng(seed)
    counts = {kind: collections.Counter() for kind in SHARES}
    examples = []
    whole_hot = hot_spots(reference.model_bytes)
    path = folder / "fuzzed.nerve"
    for kind, share in SHARES.items():
        for i in range(int(cases * share)):
            if kind == "file":
                data = mutate(reference.model_bytes, rng, whole_hot)
            elif kind == "weights":
                data = mutate(reference.weights_bytes, rng, safetensors_header_spots(reference.weights_bytes))
            else:
                name = str(rng.choice(sorted(reference.entries)))
                entry = reference.entries[name]
                hot = safetensors_header_spots(entry) if name.endswith(".safetensors") else ()
                changed = {**reference.entries, name: mutate(entry, rng, hot)}
                data = mf.rebuild(changed, refresh_manifest=(kind == "crafted"))
            outcome = run_case(kind, data, reference, path)
            if kind == "crafted" and outcome == "altered":
                outcome = "loaded"  # a consistent file: its content is whatever it says
            counts[kind][outcome.split(":")[0]] += 1
            if outcome.startswith("generic") or outcome == "altered":
                examples.append(f"{kind} #{i}: {outcome}")
    return counts, examples


def test_fuzzed_model_files_end_in_nerve_errors_or_load_unaltered(tmp_path):
    counts, examples = fuzz(tmp_path)
    total = sum(sum(c.values()) for c in counts.values())
    assert total >= min(CASES, 3000) * 0.99
    assert counts["entry"]["error"] > 0 and counts["file"]["error"] > 0
    assert not examples, f"{len(examples)} bad outcomes ({counts}):\n" + "\n".join(examples[:30])


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "optimizer.safetensors"])
def test_every_single_byte_change_inside_an_entry_is_caught(tmp_path, name):
    """Each byte of the entry changed in turn, CRC valid: the manifest's SHA-256 catches every one."""
    reference = Reference(tmp_path)
    entry = reference.entries[name]
    step = max(1, len(entry) // 150)
    for position in range(0, len(entry), step):
        changed = mf.rebuild(hostile_corpus.crc_valid_entry_change(reference.entries, name, position, 0x01),
                             refresh_manifest=False)
        assert run_case("entry", changed, reference, tmp_path / "one.nerve") == "error", (name, position)

