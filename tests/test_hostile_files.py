"""Hostile and damaged model files: each ends in nerve's own error, quickly and without large allocations."""

from __future__ import annotations

import json
import zipfile

import model_files as files
import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.training.saving import CorruptFileError


@pytest.fixture()
def good(tmp_path):
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2, name="d")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    path = tmp_path / "good.nerve"
    model.save(path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members, compression=zipfile.ZIP_STORED, extra=()):
    path.write_bytes(files.rebuild(members, compression=compression, extra=extra))  # manifest kept in step
    return path


def _with_config(good, tmp_path, config_bytes):
    members = _members(good)
    members["config.json"] = config_bytes
    return _write(tmp_path / "bad.nerve", members)


@pytest.mark.parametrize("config_bytes", [
    b"[" * 100_000 + b"]" * 100_000,                       # nested deeper than the JSON parser recurses
    b"\xff\xfe not utf-8",
    json.dumps([1, 2, 3]).encode(),                        # a list, not an object
    json.dumps({"format": "nerve-model", "version": "1"}).encode(),
    json.dumps({"format": "nerve-model", "version": 1, "model": []}).encode(),
    json.dumps({"format": "nerve-model", "version": 1, "model": {"class_name": "Dense", "config": "units"}}).encode(),
])
def test_broken_configs_raise_nerve_errors(good, tmp_path, config_bytes):
    with pytest.raises((CorruptFileError, nerve.saving.UnknownObjectError)):
        nerve.load_model(_with_config(good, tmp_path, config_bytes))


def test_duplicate_compressed_and_unknown_members_are_refused(good, tmp_path):
    members = _members(good)
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile itself warns while writing it
        duplicate = _write(tmp_path / "dup.nerve", members, extra=[("config.json", members["config.json"])])
    with pytest.raises(CorruptFileError, match="more than once"):
        nerve.load_model(duplicate)
    with pytest.raises(CorruptFileError, match="compressed"):
        nerve.load_model(_write(tmp_path / "bz.nerve", members, compression=zipfile.ZIP_BZIP2))
    with pytest.raises(CorruptFileError, match="unexpected member"):
        nerve.load_model(_write(tmp_path / "extra.nerve", members, extra=[("payload.py", b"print('hi')")]))


def test_a_huge_slot_count_is_refused_before_any_loop(good, tmp_path):
    config = json.loads(_members(good)["config.json"])
    config["optimizer_state"]["slots"] = {"m": 10 ** 10}
    with pytest.raises(CorruptFileError, match="slot counts"):
        nerve.load_model(_with_config(good, tmp_path, json.dumps(config).encode()))


def _with_weights(good, tmp_path, change):
    from safetensors.numpy import load, save

    members = _members(good)
    arrays = load(members["model.safetensors"])
    change(arrays)
    members["model.safetensors"] = save(arrays)
    return _write(tmp_path / "weights.nerve", members)


def test_non_finite_or_wrongly_typed_weights_are_refused(good, tmp_path):
    def nan(arrays):
        arrays["d/kernel"] = arrays["d/kernel"].copy()
        arrays["d/kernel"][0, 0] = np.nan

    with pytest.raises(CorruptFileError, match="NaN"):
        nerve.load_model(_with_weights(good, tmp_path, nan))

    def integers(arrays):
        arrays["d/kernel"] = np.ones(arrays["d/kernel"].shape, np.int8)

    with pytest.raises(CorruptFileError, match="int8"):
        nerve.load_model(_with_weights(good, tmp_path, integers))

    def half(arrays):
        arrays["d/kernel"] = arrays["d/kernel"].astype(np.float16)

    with pytest.raises(CorruptFileError, match="float16"):
        nerve.load_model(_with_weights(good, tmp_path, half))


def test_a_weights_file_containing_zip_signature_bytes_still_loads(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    signature = np.frombuffer(b"PK\x05\x06" * 2, dtype=np.float32).reshape(2)  # the end-of-zip marker, as bytes
    model.layers[0].bias.data[...] = signature
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    twin = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    twin.load_weights(path)
    np.testing.assert_array_equal(twin.layers[0].bias.numpy(), signature)


def test_saving_keeps_the_file_mode_and_the_symlink(tmp_path):
    import os
    import stat

    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
    target = tmp_path / "model.nerve"
    model.save(target)
    os.chmod(target, 0o644)
    model.save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    link = tmp_path / "latest.nerve"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and os.path.realpath(link) == os.path.realpath(target)
    nerve.load_model(link)


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_save(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".tmp-{int(dead.stdout)}-abc123-model.nerve"   # what a kill -9 mid-save leaves
    stale.write_bytes(b"half a model")
    nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]).save(tmp_path / "model.nerve")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.nerve"]


def test_load_weights_casts_between_float_widths_on_purpose(tmp_path):
    """``load_weights`` into a model of another float width (e.g. float64 for a gradient check) is a cast, by design."""
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    model.save_weights(tmp_path / "w.safetensors")
    wide = nerve.Sequential([nerve.Input(shape=(2,), dtype="float64"), layers.Dense(2, dtype="float64")])
    wide.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(wide.get_weights()[0], model.get_weights()[0].astype(np.float64))


# ------------------------------------------------------------ the corpus
#: cases that end in the registry's error for an unknown name (nerve.saving.UnknownObjectError, as in Keras), which
#: is nerve's own but not a CorruptFileError; a layer entry that is not a {"class_name", "config"} pair is one
UNKNOWN_NAME_CASES = {"compile_loss_unknown"}
SECONDS, BYTES = 2.0, 512 << 20


def run_corpus(folder):
    """Build the hostile corpus in ``folder`` and load it in one audited subprocess; ``(cases, outcomes by name)``."""
    import os
    import subprocess
    import sys

    import hostile_corpus

    good_model, good_weights = hostile_corpus.make_good_files(folder)
    cases = hostile_corpus.corpus(good_model, good_weights)
    listing = []
    for i, (name, kind, data, limits) in enumerate(cases):
        (folder / f"case{i:03d}.bin").write_bytes(data)
        listing.append({"name": name, "kind": kind, "file": f"case{i:03d}.bin", "limits": limits})
    (folder / "cases.json").write_text(json.dumps(listing))
    loader = os.path.join(os.path.dirname(__file__), "corpus_loader.py")
    result = subprocess.run([sys.executable, loader, str(folder)], capture_output=True, text=True, timeout=900,
                            check=False, cwd=folder)
    outcomes = {}
    for line in result.stdout.splitlines():
        if line.startswith("CASE "):
            outcome = json.loads(line[5:])
            outcomes[outcome["name"]] = outcome
    assert "DONE" in result.stdout, f"the corpus loader stopped:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return cases, outcomes


def judge(outcome):
    """What is wrong with one corpus outcome ('' when nothing is)."""
    problems = []
    if outcome.get("skipped"):
        return ""
    if outcome["error"] is None:
        problems.append("loaded without an error")
    elif not outcome["module"].startswith("nerve."):
        problems.append(f"generic {outcome['error']}: {outcome['message'][:160]}")
    elif not outcome["corrupt"] and outcome["name"] not in UNKNOWN_NAME_CASES:
        problems.append(f"{outcome['error']} is not a CorruptFileError: {outcome['message'][:160]}")
    if outcome["seconds"] > SECONDS:
        problems.append(f"took {outcome['seconds']:.1f} s")
    if outcome["max_rss_bytes"] > BYTES:  # the process's peak so far: 512 MB for nerve, NumPy and every case
        problems.append(f"peak resident size {outcome['max_rss_bytes'] >> 20} MB")
    if outcome["events"]:
        problems.append(f"did more than read the file: {outcome['events'][:5]}")
    return "; ".join(problems)


def test_hostile_corpus_ends_in_nerve_errors_quickly_in_little_memory_and_runs_nothing(tmp_path):
    """At least 60 hostile files of every kind (zip structure, bombs, limits, JSON, tensors, slots, manifest)."""
    cases, outcomes = run_corpus(tmp_path)
    assert len(cases) >= 60
    kinds = {name.split("_")[0] for name, *_ in cases}
    assert {"truncated", "deflate", "duplicate", "encrypted", "config", "weight", "slot", "manifest", "weights",
            "version", "units"} <= kinds
    assert sorted(outcomes) == sorted(name for name, *_ in cases)
    failures = {name: judge(outcome) for name, outcome in outcomes.items() if judge(outcome)}
    assert not failures, "\n".join(f"{name}: {problem}" for name, problem in failures.items())


# ------------------------------------------------------- limits, integrity, versions
def test_allow_nonfinite_loads_nan_weights_and_slots_on_request(good, tmp_path):
    from safetensors.numpy import load, save

    members = _members(good)
    arrays = {k: v.copy() for k, v in load(members["model.safetensors"]).items()}
    arrays["d/kernel"][0, 0] = np.nan
    members["model.safetensors"] = save(arrays)
    slots = {k: v.copy() for k, v in load(members["optimizer.safetensors"]).items()}
    slots["v/0"][0, 0] = np.inf
    members["optimizer.safetensors"] = save(slots)
    path = _write(tmp_path / "diverged.nerve", members)
    with pytest.raises(CorruptFileError, match=r"'d/kernel' holds NaN.*allow_nonfinite=True"):
        nerve.load_model(path)
    model = nerve.load_model(path, allow_nonfinite=True)
    assert np.isnan(model.get_weights()[0][0, 0])
    assert np.isinf(model.optimizer.state_dict()["slots"]["v"][0][0, 0])


def test_limits_are_checked_named_and_overridable(good):
    from nerve.saving import LimitExceededError, LoadLimits

    with pytest.raises(LimitExceededError, match=r"model.safetensors holds \d+ bytes, more than max_entry_bytes=10") as error:
        nerve.load_model(good, limits=LoadLimits(max_entry_bytes=10))
    assert (error.value.entry, error.value.limit) == ("model.safetensors", "max_entry_bytes")
    assert isinstance(error.value, CorruptFileError)
    with pytest.raises(LimitExceededError, match="max_json_depth=2") as error:
        nerve.load_model(good, limits=LoadLimits(max_json_depth=2))
    assert error.value.entry == "config.json"
    with pytest.raises(LimitExceededError, match="max_tensors=1"):
        nerve.load_model(good, limits=LoadLimits(max_tensors=1))
    nerve.load_model(good, limits=LoadLimits(max_entry_bytes=4096, max_json_depth=20, max_tensors=8))
    with pytest.raises(ValueError, match="max_tensors must be a positive integer"):
        LoadLimits(max_tensors=0)
    with pytest.raises(TypeError, match="LoadLimits"):
        nerve.load_model(good, limits={"max_tensors": 5})


def test_an_entry_changed_with_a_valid_crc_is_caught_by_the_manifest(good, tmp_path):
    from nerve.saving import IntegrityError

    members = _members(good)
    changed = bytearray(members["model.safetensors"])
    changed[-1] ^= 0x01  # the lowest bit of the last weight: a valid float, a valid file
    members["model.safetensors"] = bytes(changed)
    path = tmp_path / "changed.nerve"
    path.write_bytes(files.rebuild(members, refresh_manifest=False))
    with pytest.raises(IntegrityError, match=r"'model.safetensors' is corrupted: its size or SHA-256 differs"):
        nerve.load_model(path)
    with pytest.raises(IntegrityError):
        nerve.load_model(good).load_weights(path)


def test_files_of_version_1_without_a_manifest_still_load(good, tmp_path):
    members = _members(good)
    del members["manifest.json"]
    config = json.loads(members["config.json"])
    config["version"] = 1
    members["config.json"] = json.dumps(config).encode()
    path = tmp_path / "v1.nerve"
    path.write_bytes(files.rebuild(members))
    old = nerve.load_model(path)
    np.testing.assert_array_equal(old.get_weights()[0], nerve.load_model(good).get_weights()[0])
    config["version"] = 2  # a version-2 file must have its manifest
    members["config.json"] = json.dumps(config).encode()
    path.write_bytes(files.rebuild(members))
    with pytest.raises(CorruptFileError, match="has manifest.json, and this one has none"):
        nerve.load_model(path)


def test_weights_files_carry_a_digest_and_older_ones_still_load(tmp_path):
    from safetensors.numpy import load, save

    from nerve.saving import IntegrityError

    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    data = path.read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    assert len(header["__metadata__"]["sha256"]) == 64
    arrays = load(data)
    key = [k for k in arrays if k.endswith("kernel")][0]
    arrays[key] = arrays[key] + 1
    path.write_bytes(save(arrays, metadata=header["__metadata__"]))  # new values, the old digest
    with pytest.raises(IntegrityError, match="SHA-256 recorded in its metadata"):
        model.load_weights(path)
    metadata = {k: v for k, v in header["__metadata__"].items() if k not in ("sha256", "version")}
    path.write_bytes(save(arrays, metadata=metadata))  # what nerve wrote before version 2: loads unchecked
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], arrays[key])


def test_json_depth_is_measured_without_parsing_and_ignores_brackets_in_strings():
    from nerve.training.saving import _json_depth

    def by_hand(text):
        depth = deepest = 0
        inside = escaped = False
        for ch in text:
            if inside:
                escaped, inside = (False, inside) if escaped else (ch == "\\", ch != '"')
            elif ch == '"':
                inside = True
            elif ch in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in "]}":
                depth -= 1
        return deepest

    rng = np.random.default_rng(0)
    pieces = ['"\\\\"', '"\\"["', '"]]}"', "[", "]", "{", "}", '"a\\\\\\"{"', "1", ","]
    for _ in range(300):
        text = "".join(rng.choice(pieces, size=int(rng.integers(0, 60))))
        raw = text.encode()
        assert _json_depth(raw) == _json_depth(raw, chunk=3) == by_hand(text), text
    assert _json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000


def _layer_units(units):
    def change(config):
        config["model"]["config"]["layers"][0]["config"]["units"] = units
    return change


@pytest.mark.parametrize("change, limit", [
    (_layer_units(10**8), "weights size"),               # 1.2 GB of kernel from a 3 KB file
    (_layer_units(10**5), "weights size"),               # 1.2 MB: more than the file's weights hold
    (lambda c: c.update(build_input_shape=[10**6, 10**9]), "max_build_elements"),  # a 4 GB sample to build on
])
def test_an_architecture_larger_than_its_weights_is_refused_before_allocating(good, tmp_path, change, limit):
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = tmp_path / "big.nerve"
    path.write_bytes(files.rebuild(files.with_config(files.entries(good), change)))
    with pytest.raises(nerve.saving.LimitExceededError) as caught:
        nerve.load_model(path)
    assert caught.value.limit == limit and caught.value.entry == "config.json"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: nothing big was allocated


def test_the_weight_budget_counts_every_weight_and_is_restored():
    from nerve.blocks.layers.base import WeightBudgetError, weight_budget
    with weight_budget(4 * (3 * 2 + 2)):  # exactly Dense(2) on 3 features in float32
        layers.Dense(2).build((None, 3))
        with pytest.raises(WeightBudgetError, match=r"weight 'kernel' of shape \(3, 2\) needs 24 bytes, more than the 0"):
            layers.Dense(2).build((None, 3))
    layers.Dense(1000).build((None, 1000))  # no budget outside the block
