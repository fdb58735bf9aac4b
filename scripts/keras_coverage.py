"""How much of Keras 3's public API nerve has, per namespace.

The Keras names are kept in ``scripts/keras_api.json`` (Keras 3.16.0: what ``keras/api/<namespace>/__init__.py``
exports, and the public methods and properties of ``Model``). A name counts when ``nerve.<namespace>`` has it
(``keras.optimizers.schedules`` is ``nerve.schedules``; Model methods are looked up on ``nerve.Model``).
``NOT_APPLICABLE`` lists names that make no sense for nerve, with the reason; they are left out of the
percentage. ``tests/test_keras_coverage.py`` fails when a namespace's coverage drops.

Run ``python scripts/keras_coverage.py`` for the table, ``--missing`` to list the missing names too.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pathlib

API_FILE = pathlib.Path(__file__).with_name("keras_api.json")

#: keras namespace -> nerve module
MODULES = {
    "optimizers.schedules": "nerve.schedules",
}

_TF_ONLY = "a TensorFlow/JAX/PyTorch interoperability wrapper; nerve runs its own ops"
_COMPILED = "XLA/JAX compilation or graph tracing; nerve runs eagerly"
#: Keras names that are submodules (``keras.optimizers.schedules``): present when nerve has the module there too
SUBMODULES = {("optimizers", "schedules")}

#: (namespace, name) -> why nerve does not have it
NOT_APPLICABLE = {
    ("layers", "TFSMLayer"): "loads TensorFlow SavedModels",
    ("layers", "JaxLayer"): _TF_ONLY,
    ("layers", "FlaxLayer"): _TF_ONLY,
    ("layers", "TorchModuleWrapper"): _TF_ONLY,
    ("layers", "InputSpec"): "Keras-internal input checks; nerve layers check shapes themselves",
    ("utils", "FeatureSpace"): "a tf.data preprocessing pipeline",
    ("utils", "Config"): "Keras-internal configuration container",
    ("utils", "legacy"): "Keras 2 compatibility",
    ("optimizers", "legacy"): "Keras 2 compatibility",
    ("layers", "TernaryDense"): "ternary-weight quantization kernels of the compiled backends",
    ("layers", "MaxNumBoundingBoxes"): "tf.data bounding-box preprocessing",
    ("Model methods", "jit_compile"): _COMPILED,
    ("Model methods", "compute_output_spec"): _COMPILED,
    ("Model methods", "symbolic_call"): _COMPILED,
    ("Model methods", "stateless_call"): "JAX's functional (stateless) calls",
    ("Model methods", "stateless_compute_loss"): "JAX's functional (stateless) calls",
    ("Model methods", "rematerialized_call"): "JAX rematerialization",
    ("Model methods", "get_state_tree"): "JAX state trees",
    ("Model methods", "set_state_tree"): "JAX state trees",
    ("Model methods", "make_train_function"): _COMPILED,
    ("Model methods", "make_test_function"): _COMPILED,
    ("Model methods", "make_predict_function"): _COMPILED,
    ("Model methods", "export"): "exports TensorFlow SavedModels / ONNX",
    ("Model methods", "quantize"): "int8/float8 quantization kernels of the compiled backends",
    ("Model methods", "quantized_build"): "int8/float8 quantization kernels of the compiled backends",
    ("Model methods", "quantized_call"): "int8/float8 quantization kernels of the compiled backends",
    ("Model methods", "quantization_mode"): "int8/float8 quantization kernels of the compiled backends",
    ("Model methods", "quantization_summary"): "int8/float8 quantization kernels of the compiled backends",
    ("Model methods", "get_quantization_layer_structure"): "int8/float8 quantization kernels of the compiled backends",
    ("config", "enable_flash_attention"): "cuDNN/TPU flash-attention kernels",
    ("config", "disable_flash_attention"): "cuDNN/TPU flash-attention kernels",
    ("config", "is_flash_attention_enabled"): "cuDNN/TPU flash-attention kernels",
    ("config", "enable_traceback_filtering"): "Keras's traceback filtering of compiled-backend frames",
    ("config", "disable_traceback_filtering"): "Keras's traceback filtering of compiled-backend frames",
    ("config", "is_traceback_filtering_enabled"): "Keras's traceback filtering of compiled-backend frames",
    ("config", "enable_unsafe_deserialization"): "nerve model files never hold code to deserialize, safe or not",
    ("config", "is_nnx_enabled"): "Flax NNX (JAX backend)",
    ("config", "set_backend"): "nerve is its own single backend",
    ("config", "set_max_epochs"): "Keras-internal testing hook",
    ("config", "max_epochs"): "Keras-internal testing hook",
    ("config", "set_max_steps_per_epoch"): "Keras-internal testing hook",
    ("config", "max_steps_per_epoch"): "Keras-internal testing hook",
}


def load_api():
    """``{namespace: [names]}`` of Keras 3 and its version."""
    data = json.loads(API_FILE.read_text())
    return data["namespaces"], data["keras_version"]


def _nerve_names(namespace):
    import nerve

    if namespace == "Model methods":  # class attributes and what every compiled model holds
        model = nerve.Sequential([nerve.Input(shape=(2,)), nerve.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        return {n for n in dir(model) if not n.startswith("_")}
    try:
        module = importlib.import_module(MODULES.get(namespace, f"nerve.{namespace}"))
    except ImportError:
        return set()
    return {n for n in dir(module) if not n.startswith("_")
            and (not inspect.ismodule(getattr(module, n)) or (namespace, n) in SUBMODULES)}


def coverage():
    """``{namespace: (have, applicable, missing names, not applicable names)}``."""
    api, _ = load_api()
    out = {}
    for namespace, names in api.items():
        present = _nerve_names(namespace)
        skipped = sorted(n for n in names if (namespace, n) in NOT_APPLICABLE)
        applicable = [n for n in names if (namespace, n) not in NOT_APPLICABLE]
        have = [n for n in applicable if n in present]
        out[namespace] = (len(have), len(applicable), sorted(set(applicable) - set(have)), skipped)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", action="store_true", help="list the missing names")
    args = parser.parse_args(argv)
    _, version = load_api()
    table = coverage()
    print(f"Keras {version} public names that nerve has (not-applicable names left out):")
    total_have = total = 0
    for namespace, (have, applicable, missing, skipped) in table.items():
        total_have, total = total_have + have, total + applicable
        extra = f"  ({len(skipped)} not applicable)" if skipped else ""
        print(f"  {namespace:<22} {have:>4}/{applicable:<4} {100 * have / max(applicable, 1):5.1f}%{extra}")
        if args.missing and missing:
            print("      missing: " + ", ".join(missing))
    print(f"  {'all':<22} {total_have:>4}/{total:<4} {100 * total_have / max(total, 1):5.1f}%")


if __name__ == "__main__":
    main()
