"""Process-wide settings are opt-in: importing nerve changes nothing outside nerve.

``nerve.backend.keep_freed_memory()`` changes glibc's allocator for the whole
process, so it runs only when called. Each check runs in a fresh interpreter
(``import nerve`` must be the first import there) with ``ctypes.CDLL`` replaced
by a spy that records every lookup of ``mallopt``.
"""

import subprocess
import sys
import textwrap

import pytest

SPY = textwrap.dedent("""
    import ctypes

    looked_up = []

    class Spy(ctypes.CDLL):
        def __getattr__(self, name):
            looked_up.append(name)
            return super().__getattr__(name)

    ctypes.CDLL = Spy
""")


def run_python(code):
    result = subprocess.run([sys.executable, "-c", SPY + textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_import_does_not_touch_the_allocator():
    out = run_python("""
        import os
        os.environ["NERVE_KEEP_FREED_MEMORY"] = "1"  # no longer read: the environment cannot opt in either
        import nerve
        import nerve.engine.backend as engine_backend
        import nerve.layers, nerve.ops, nerve.optimizers  # the modules a training script loads
        assert "mallopt" not in looked_up, looked_up
        assert engine_backend._MEMORY["keep_freed"] is False
        print("untouched")
    """)
    assert out == "untouched"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_keep_freed_memory_is_an_explicit_opt_in():
    out = run_python("""
        import nerve
        import nerve.engine.backend as engine_backend
        assert nerve.backend.keep_freed_memory(enable=False) is False and "mallopt" not in looked_up
        applied = nerve.backend.keep_freed_memory()
        assert engine_backend._MEMORY["keep_freed"] is applied
        try:
            ctypes.CDLL(None).gnu_get_libc_version
            glibc = True
        except AttributeError:  # musl and other C libraries: nothing to do
            glibc = False
        assert applied is glibc and ("mallopt" in looked_up) is glibc, (applied, looked_up)
        print("applied" if applied else "not glibc")
    """)
    assert out in ("applied", "not glibc")
