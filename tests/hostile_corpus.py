"""A corpus of hostile and damaged model files, built from one good model file and one good weights file.

``corpus(good_model, good_weights)`` returns ``[(name, kind, data, limits)]``: ``kind`` is ``"model"``
(loaded with ``nerve.load_model``) or ``"weights"`` (``load_weights`` into the same architecture);
``limits`` is None (the defaults) or keyword arguments for ``nerve.saving.LoadLimits``. Every file
must end in one of nerve's own errors, quickly and in little memory. Used by tests/test_hostile_files.py,
which loads them all in one audited subprocess (tests/corpus_loader.py).
"""

from __future__ import annotations

import json
import struct
import zipfile

import model_files as mf
import numpy as np

GOOD_ARCHITECTURE = "Sequential: Input(3), Dense(4, relu, name='hidden'), Dense(1, name='out'); adam, mse"


def build_model():
    """The architecture of the good files (also what the loader builds for ``weights`` cases)."""
    import nerve
    from nerve import layers

    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4, activation="relu", name="hidden"),
                              layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse")
    return model


def make_good_files(folder):
    """Write good.nerve and good.safetensors (a trained model, with optimizer state) into ``folder``."""
    import nerve

    nerve.random.seed(0)
    model = build_model()
    model.fit(np.linspace(0, 1, 24, dtype="float32").reshape(8, 3), np.ones((8, 1), "float32"), epochs=2, verbose=0)
    model.save(folder / "good.nerve")
    model.save_weights(folder / "good.safetensors")
    return folder / "good.nerve", folder / "good.safetensors"


# ------------------------------------------------------------ safetensors
def header_and_body(data):
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]), data[8 + size:]


def safetensors(header, body):
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def change_header(change):
    """A function of safetensors bytes: ``change(header)`` applied to its header, the body kept."""
    def apply(data):
        header, body = header_and_body(data)
        change(header)
        return safetensors(header, body)
    return apply


def change_arrays(change):
    """A function of safetensors bytes: ``change(arrays)`` on the tensors, written again by safetensors."""
    def apply(data):
        from safetensors.numpy import load, save

        header, _ = header_and_body(data)
        arrays = {k: v.copy() for k, v in load(data).items()}
        change(arrays)
        return save(arrays, metadata=header.get("__metadata__"))
    return apply


def raw_header(raw_json, body=b""):
    return struct.pack("<Q", len(raw_json)) + raw_json + body


# -------------------------------------------------------------- zip bytes
def central_entries(data):
    """``{name: offset of its central directory header}``."""
    out, at = {}, data.find(b"PK\x01\x02")
    while at >= 0:
        n = struct.unpack_from("<H", data, at + 28)[0]
        out[data[at + 46:at + 46 + n].decode("cp437")] = at
        at = data.find(b"PK\x01\x02", at + 46 + n)
    return out


def patch(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def patch_entry(data, name, central_offset, local_offset, fmt, value):
    """Patch the field of entry ``name`` at ``central_offset`` in its central header and ``local_offset`` in its local one."""
    at = central_entries(data)[name]
    local = struct.unpack_from("<I", data, at + 42)[0]
    out = data
    if central_offset is not None:
        out = patch(out, at + central_offset, fmt, value)
    if local_offset is not None:
        out = patch(out, local + local_offset, fmt, value)
    return out


def end_record(data):
    return data.rfind(b"PK\x05\x06")


def zip_of(pairs, compression=zipfile.ZIP_STORED):
    return mf.rebuild({}, extra=pairs, compression=compression)


def deflate_bomb(name, size):
    """A zip whose one entry inflates to ``size`` zero bytes."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                entry.write(block)
    return buffer.getvalue()


# ------------------------------------------------------------------ corpus
def corpus(good_model, good_weights):
    """``[(name, kind, data, limits)]``: at least 60 hostile files of every kind."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # zipfile warns while writing duplicates
        return _corpus(good_model, good_weights)


def _corpus(good_model, good_weights):
    good = mf.entries(good_model)
    cases = []

    def model(name, data, limits=None):
        cases.append((name, "model", data, limits))

    def weights(name, data, limits=None):
        cases.append((name, "weights", data, limits))

    def with_entries(name, change=None, refresh=True, limits=None, **replace):
        members = {**good, **{k.replace("__", "."): v for k, v in replace.items()}}
        if change is not None:
            members = change(members)
        model(name, mf.rebuild(members, refresh_manifest=refresh), limits)

    def with_config(name, change, refresh=True):
        with_entries(name, lambda m: mf.with_config(m, change), refresh=refresh)

    def layer(index, key, value):
        def change(c):
            c["model"]["config"]["layers"][index]["config"][key] = value
        return change

    def config_key(*keys_and_value):
        *keys, value = keys_and_value

        def change(c):
            node = c
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value
        return change

    def model_tensors(change):
        return {"model__safetensors": change(good["model.safetensors"])}

    def optimizer_tensors(change):
        return {"optimizer__safetensors": change(good["optimizer.safetensors"])}

    # ---- not a zip, truncated, damaged structure
    data = good_model.read_bytes()
    model("empty_file", b"")
    model("plain_text", b"this is not a model file\n" * 10)
    for keep in (0.02, 0.3, 0.6, 0.9, 0.99):
        model(f"truncated_{int(keep * 100)}pct", data[:int(len(data) * keep)])
    model("empty_zip", zip_of([]))
    model("only_config", zip_of([("config.json", good["config.json"])]))
    with_entries("missing_weights_entry", lambda m: {k: v for k, v in m.items() if k != "model.safetensors"})
    with_entries("missing_optimizer_entry", lambda m: {k: v for k, v in m.items() if k != "optimizer.safetensors"})
    model("duplicate_config", mf.rebuild(good, extra=[("config.json", mf.with_config(good, config_key(
        "compile", "loss", "mae"))["config.json"])]))
    model("duplicate_weights", mf.rebuild(good, extra=[("model.safetensors", good["model.safetensors"])]))
    model("unexpected_python_entry", mf.rebuild(good, extra=[("payload.py", b"import os; os.system('true')")]))
    model("path_traversal_entry", mf.rebuild(good, extra=[("../../evil.sh", b"#!/bin/sh\n")]))
    model("pickle_entry", mf.rebuild(good, extra=[("data.pkl", b"\x80\x04\x95\x00cos\nsystem\n.")]))
    model("many_entries", mf.rebuild(good, extra=[(f"e{i}", b"") for i in range(200)]))
    model("deflated_entries", mf.rebuild(good, compression=zipfile.ZIP_DEFLATED))
    model("bzip2_entries", mf.rebuild(good, compression=zipfile.ZIP_BZIP2))
    model("lzma_entries", mf.rebuild(good, compression=zipfile.ZIP_LZMA))
    model("deflate_bomb_256mb", deflate_bomb("model.safetensors", 256 << 20))
    model("deflate_bomb_config", deflate_bomb("config.json", 64 << 20))
    model("encrypted_flag", patch_entry(data, "model.safetensors", 8, 6, "<H", 0x1))
    model("unknown_method_99", patch_entry(data, "config.json", 10, 8, "<H", 99))
    model("claims_4gb_entry", patch_entry(data, "model.safetensors", 24, 22, "<I", 0xFFFFFFF0))
    model("sizes_disagree", patch_entry(data, "model.safetensors", 20, 18, "<I",
                                        len(good["model.safetensors"]) - 8))
    model("bad_crc", patch_entry(data, "config.json", 16, 14, "<I", 0x12345678))
    model("end_record_lists_60000_entries", patch(patch(data, end_record(data) + 8, "<H", 60000),
                                                  end_record(data) + 10, "<H", 60000))
    model("directory_offset_past_end", patch(data, end_record(data) + 16, "<I", len(data) * 2))
    first, second = sorted(central_entries(data).values())[:2]
    model("entries_overlap", patch(data, second + 42, "<I", struct.unpack_from("<I", data, first + 42)[0]))
    model("local_name_differs", data.replace(b"config.json", b"config.jsoN", 1))
    # ---- limits: sizes, JSON depth and length, tensor counts
    with_config("config_over_16mb", lambda c: c.update(padding=" " * (17 << 20)))
    with_entries("config_depth_100000", **{"config__json": b"[" * 100_000 + b"]" * 100_000})
    with_config("config_depth_150_valid_json", config_key("model", "config", "layers", 0, "config", "name",
                                                          json.loads("[" * 150 + "]" * 150)))
    with_entries("manifest_depth_bomb", refresh=False, **{"manifest__json": b"{\"a\":" * 5000 + b"1" + b"}" * 5000})
    with_entries("weight_header_depth_bomb", **model_tensors(lambda d: raw_header(b"[" * 50_000 + b"]" * 50_000)))
    with_entries("weight_header_claims_1tb", **model_tensors(lambda d: struct.pack("<Q", 1 << 40) + d[8:]))
    with_entries("weight_header_past_entry", **model_tensors(lambda d: struct.pack("<Q", len(d)) + d[8:]))
    many = b"{" + b",".join(b'"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i
                            for i in range(150_000)) + b"}"
    with_entries("weight_150000_tensors", **model_tensors(lambda d: raw_header(many)))
    with_entries("entry_over_custom_limit", limits={"max_entry_bytes": 64})
    with_entries("total_over_custom_limit", limits={"max_total_bytes": 1000})
    with_entries("config_over_custom_limit", limits={"max_json_bytes": 200})
    with_entries("depth_over_custom_limit", limits={"max_json_depth": 3})
    with_entries("tensors_over_custom_limit", limits={"max_tensors": 3})
    # ---- config.json content
    with_entries("config_invalid_utf8", **{"config__json": b"\xff\xfe{not utf-8}"})
    with_entries("config_not_json", **{"config__json": b"{'format': 'nerve-model'}"})
    with_entries("config_is_a_list", **{"config__json": b"[1, 2, 3]"})
    with_entries("config_huge_integer", **{"config__json": b'{"format": "nerve-model", "version": ' + b"9" * 5000 + b"}"})
    with_config("version_is_a_string", config_key("version", "2"))
    with_config("version_negative", config_key("version", -1))
    with_config("version_newer", config_key("version", 99))
    with_config("format_missing", lambda c: c.pop("format"))
    with_config("model_is_a_list", config_key("model", []))
    with_config("layer_config_is_a_string", config_key("model", "config", "layers", 0, "config", "units"))
    with_config("units_negative", layer(0, "units", -5))
    with_config("units_a_string", layer(0, "units", "four"))
    with_config("units_nan", layer(0, "units", float("nan")))
    with_config("units_10_to_the_12", layer(0, "units", 10 ** 12))
    with_config("units_other_than_saved", layer(0, "units", 5))
    with_config("build_input_shape_text", config_key("build_input_shape", "abc"))
    with_config("build_input_shape_negative", config_key("build_input_shape", [None, -3]))
    with_config("input_shape_negative", config_key("model", "config", "input_shape", [-3]))
    with_config("weight_dtype_float16_in_config", layer(0, "dtype", "float16"))
    with_config("training_state_bad_epoch", config_key("training_state", {"epoch": -3, "random_state": {}}))
    with_config("training_state_bad_random_state", config_key("training_state", {"epoch": 1, "random_state": [1]}))
    with_config("training_state_list", config_key("training_state", [1, 2]))
    with_config("compile_loss_unknown", config_key("compile", "loss", {"class_name": "NoSuchLoss", "config": {}}))
    with_config("compile_not_an_object", config_key("compile", [1]))
    with_config("optimizer_state_a_list", config_key("optimizer_state", [1]))
    with_config("slot_count_10_to_the_10", config_key("optimizer_state", "slots", {"m": 10 ** 10, "v": 4}))
    with_config("slot_count_negative", config_key("optimizer_state", "slots", {"m": -1, "v": 4}))
    with_config("slot_unknown_name", config_key("optimizer_state", "slots", {"m": 4, "v": 4, "evil": 4}))
    with_config("iterations_negative", config_key("optimizer_state", "iterations", -1))
    with_config("iterations_text", config_key("optimizer_state", "iterations", "many"))
    with_config("params_duplicated", config_key("optimizer_state", "params",
                                                ["hidden/kernel", "hidden/kernel", "out/kernel", "out/bias"]))
    with_config("params_unknown_weight", config_key("optimizer_state", "params", ["nowhere/kernel"]))
    with_config("optimizer_config_not_a_dict", config_key("optimizer_state", "config", 7))
    model("version_2_manifest_removed", mf.rebuild({k: v for k, v in good.items() if k != "manifest.json"}))
    # ---- model.safetensors
    kernel = "hidden/kernel"

    def retype(dtype):
        return lambda arrays: arrays.__setitem__(kernel, arrays[kernel].astype(dtype))

    def poison(value, key=kernel):
        def change(arrays):
            arrays[key][(0,) * arrays[key].ndim] = value
        return change

    for dtype in ("int8", "float16", "float64", "bool", "uint32", "int64"):
        with_entries(f"weight_dtype_{dtype}", **model_tensors(change_arrays(retype(dtype))))
    with_entries("weight_nan", **model_tensors(change_arrays(poison(np.nan))))
    with_entries("weight_inf", **model_tensors(change_arrays(poison(-np.inf, "out/bias"))))
    with_entries("weight_transposed", **model_tensors(change_arrays(
        lambda a: a.__setitem__(kernel, np.ascontiguousarray(a[kernel].T)))))
    with_entries("weight_extra_tensor", **model_tensors(change_arrays(
        lambda a: a.__setitem__("extra/kernel", np.zeros(3, "float32")))))
    with_entries("weight_missing_tensor", **model_tensors(change_arrays(lambda a: a.pop("out/bias"))))
    with_entries("weight_shape_10_to_the_12", **model_tensors(change_header(
        lambda h: h[kernel].update(shape=[10 ** 12, 10 ** 12]))))
    with_entries("weight_offsets_past_end", **model_tensors(change_header(
        lambda h: h[kernel].update(data_offsets=[h[kernel]["data_offsets"][0] + 10 ** 9,
                                                 h[kernel]["data_offsets"][1] + 10 ** 9]))))
    with_entries("weight_offsets_overlap", **model_tensors(change_header(
        lambda h: h["out/bias"].update(data_offsets=[0, 4]))))
    with_entries("weight_offsets_negative", **model_tensors(change_header(
        lambda h: h[kernel].update(data_offsets=[-48, 0]))))
    with_entries("weight_offsets_reversed", **model_tensors(change_header(
        lambda h: h[kernel].update(data_offsets=h[kernel]["data_offsets"][::-1]))))
    with_entries("weight_shape_negative", **model_tensors(change_header(lambda h: h[kernel].update(shape=[-3, -4]))))
    with_entries("weight_dtype_unknown", **model_tensors(change_header(lambda h: h[kernel].update(dtype="X99"))))
    with_entries("weight_dtype_bf16", **model_tensors(change_header(lambda h: h[kernel].update(dtype="BF16"))))
    with_entries("weight_spec_missing_offsets", **model_tensors(change_header(lambda h: h[kernel].pop("data_offsets"))))
    with_entries("weight_metadata_not_strings", **model_tensors(change_header(
        lambda h: h.__setitem__("__metadata__", {"order": [1, 2]}))))
    with_entries("weight_order_metadata_bomb", **model_tensors(change_header(
        lambda h: h.__setitem__("__metadata__", {"order": "[" * 100_000}))))
    with_entries("weight_header_a_list", **model_tensors(lambda d: raw_header(b"[1, 2]")))
    with_entries("weight_header_not_json", **model_tensors(lambda d: raw_header(b"{oops", d[8 + int.from_bytes(d[:8], "little"):])))
    with_entries("weight_header_size_zero", **model_tensors(lambda d: struct.pack("<Q", 0) + d[8:]))
    with_entries("weight_entry_5_bytes", **{"model__safetensors": b"\x01\x00\x00\x00\x00"})
    with_entries("weight_body_truncated", **model_tensors(lambda d: d[:-4]))
    # ---- optimizer.safetensors
    with_entries("slot_nan", **optimizer_tensors(change_arrays(lambda a: a["m/0"].__setitem__((0, 0), np.nan))))
    with_entries("slot_wrong_shape", **optimizer_tensors(change_arrays(
        lambda a: a.__setitem__("m/0", np.zeros((40, 40), "float32")))))
    with_entries("slot_int_dtype", **optimizer_tensors(change_arrays(
        lambda a: a.__setitem__("v/0", a["v/0"].astype("int32")))))
    with_entries("slot_index_leading_zero", **optimizer_tensors(change_arrays(lambda a: a.__setitem__("m/01", a.pop("m/1")))))
    with_entries("slot_index_out_of_range", **optimizer_tensors(change_arrays(lambda a: a.__setitem__("m/999", a.pop("m/1")))))
    with_entries("slot_unlisted_name", **optimizer_tensors(change_arrays(lambda a: a.__setitem__("evil/0", a.pop("m/0")))))
    # ---- manifest.json
    flipped = bytearray(good["model.safetensors"])
    flipped[-1] ^= 0x40  # one bit of the last weight
    with_entries("manifest_stale_weights", refresh=False, model__safetensors=bytes(flipped))
    with_config("manifest_stale_config", config_key("compile", "loss", "mae"), refresh=False)
    slots = bytearray(good["optimizer.safetensors"])
    slots[-2] ^= 0x01
    with_entries("manifest_stale_slots", refresh=False, optimizer__safetensors=bytes(slots))
    with_entries("manifest_not_json", refresh=False, manifest__json=b"not json")
    listing = json.loads(good.get("manifest.json") or mf.manifest_for(good))  # files of version 1 have none

    def manifest(change):
        copy = json.loads(json.dumps(listing))
        change(copy["entries"])
        return json.dumps(copy).encode()

    with_entries("manifest_missing_an_entry", refresh=False, manifest__json=manifest(lambda e: e.pop("config.json")))
    with_entries("manifest_extra_entry", refresh=False, manifest__json=manifest(
        lambda e: e.__setitem__("payload.py", e["config.json"])))
    with_entries("manifest_short_hash", refresh=False, manifest__json=manifest(
        lambda e: e["config.json"].update(sha256="00")))
    with_entries("manifest_wrong_size", refresh=False, manifest__json=manifest(
        lambda e: e["model.safetensors"].update(bytes=3)))
    with_entries("manifest_a_list", refresh=False, manifest__json=b"[]")
    # ---- weights files (load_weights)
    plain = good_weights.read_bytes()
    weights("weights_truncated", plain[:len(plain) // 2])
    weights("weights_header_claims_1tb", struct.pack("<Q", 1 << 40) + plain[8:])
    weights("weights_nan", change_arrays(poison(np.nan))(plain))
    weights("weights_int8", change_arrays(retype("int8"))(plain))
    weights("weights_zip_signature_then_junk", b"PK\x03\x04" + bytes(range(256)) * 4)
    weights("weights_header_depth_bomb", raw_header(b"{\"a\":" * 10_000 + b"1" + b"}" * 10_000))
    weights("weights_offsets_overlap", change_header(lambda h: h["out/bias"].update(data_offsets=[0, 4]))(plain))
    weights("weights_via_model_file_bomb", deflate_bomb("model.safetensors", 64 << 20))
    weights("weights_via_model_file_changed", mf.rebuild({**good, "model.safetensors": bytes(flipped)},
                                                         refresh_manifest=False))
    return cases


def crc_valid_entry_change(members, name, position, xor):
    """``members`` with one byte of entry ``name`` changed (the zip is rebuilt, so its CRC is valid)."""
    data = bytearray(members[name])
    data[position % len(data)] ^= xor or 1
    return {**members, name: bytes(data)}

