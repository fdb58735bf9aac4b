"""Load every file of a hostile corpus in this one process, audited, and print one ``CASE {json}`` line per file.

Run by tests/test_hostile_files.py as ``python corpus_loader.py FOLDER``; FOLDER holds good.nerve,
good.safetensors and cases.json (``[{"name", "kind", "file", "limits"}]``). After nerve has imported
what a benign load needs (one benign load of each kind), an audit hook (``sys.addaudithook``) records
every import of a module outside nerve and its dependencies, every exec/compile, every process start
and every file opened other than the case's own. For each case the line gives the error (type, module,
whether it is a ``nerve.saving.CorruptFileError``), the seconds, the peak of the allocations made while loading
(tracemalloc, NumPy's included) and the process's peak resident size so far (VmHWM on Linux).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import tracemalloc

ALLOWED_IMPORTS = ("nerve", "numpy", "safetensors", "tqdm")
FORBIDDEN_EVENTS = ("subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "ctypes.",
                    "socket.", "webbrowser.", "urllib.")


def peak_resident_bytes():
    """This process's peak resident size: VmHWM where Linux gives it (``ru_maxrss`` keeps the peak of the process
    that forked us across exec: a large pytest parent would show as ours), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main(folder):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hostile_corpus

    import nerve

    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    good_model, good_weights = os.path.join(folder, "good.nerve"), os.path.join(folder, "good.safetensors")
    nerve.load_model(good_model)  # warm-up: what a benign load imports is imported now
    nerve.saving.load_weights(hostile_corpus.build_model(), good_weights)
    nerve.saving.load_weights(hostile_corpus.build_model(), good_model)
    has_limits = hasattr(nerve.saving, "LoadLimits")
    targets = {case["name"]: hostile_corpus.build_model() for case in cases if case["kind"] == "weights"}
    events, current = [], {"file": None, "measuring": False}

    def hook(event, args):
        if event == "import":
            if str(args[0]).split(".")[0] not in ALLOWED_IMPORTS:
                events.append(f"import {args[0]}")
        elif event in ("exec", "compile"):
            events.append(event)
        elif event == "open":
            if not current["measuring"] and not isinstance(args[0], int) and os.path.abspath(os.fsdecode(args[0])) != current["file"]:
                events.append(f"open {os.fsdecode(args[0])}")
        elif event.startswith(FORBIDDEN_EVENTS):
            events.append(event)

    tracemalloc.start()
    sys.addaudithook(hook)
    for case in cases:
        path = os.path.abspath(os.path.join(folder, case["file"]))
        kwargs = {}
        if case["limits"]:
            if not has_limits:
                print("CASE " + json.dumps({"name": case["name"], "skipped": "no LoadLimits"}), flush=True)
                continue
            kwargs["limits"] = nerve.saving.LoadLimits(**case["limits"])
        events.clear()
        current["file"] = path
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]  # a refused huge NumPy allocation can stay counted
        start = time.perf_counter()
        try:
            if case["kind"] == "model":
                nerve.load_model(path, **kwargs)
            else:
                nerve.saving.load_weights(targets[case["name"]], path, **kwargs)
            outcome = {"error": None}
        except BaseException as error:  # SystemExit included: a file must not be able to raise it
            outcome = {"error": type(error).__name__, "module": type(error).__module__,
                       "corrupt": isinstance(error, nerve.saving.CorruptFileError), "message": str(error)[:300]}
        seconds = time.perf_counter() - start
        current["file"], current["measuring"] = None, True
        resident = peak_resident_bytes()
        current["measuring"] = False
        outcome.update(name=case["name"], seconds=seconds, peak_bytes=tracemalloc.get_traced_memory()[1] - traced_before,
                       max_rss_bytes=resident, events=list(events))
        print("CASE " + json.dumps(outcome), flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
