"""Correctness + speed scoring of candidate kernels against NumPy references, in the sandbox.

CPU variant (always available): the candidate is Python source defining three kernels,
``softmax(x)`` (row-wise), ``matmul(a, b)`` and ``conv1d(x, w)`` (``valid`` cross-correlation,
as ``np.correlate(x, w, "valid")``). Each dataset example names one kernel; the sandbox runs
it on random inputs, checks ``np.allclose`` against the reference and times both.

GPU variant (``gpu_evaluate``, used only when ``torch.cuda.is_available()``): the
KernelBench shape: a PyTorch reference ``Model`` and a candidate ``ModelNew`` that must match
it (allclose) and beat its CUDA time; the candidate may use ``torch.utils.cpp_extension.load_inline``.
"""

from __future__ import annotations

import glob
import math
import os
import stat
from typing import Any

import honing as hn

KERNELS = ("softmax", "matmul", "conv1d")

SEED = '''import numpy as np


def softmax(x):
    """Row-wise softmax of a 2-D array."""
    rows, cols = x.shape
    out = np.empty((rows, cols))
    for i in range(rows):
        m = max(x[i, j] for j in range(cols))
        total = 0.0
        for j in range(cols):
            out[i, j] = np.exp(x[i, j] - m)
            total += out[i, j]
        for j in range(cols):
            out[i, j] /= total
    return out


def matmul(a, b):
    """Matrix product of 2-D arrays a (n x k) and b (k x m)."""
    n, k = a.shape
    m = b.shape[1]
    out = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            s = 0.0
            for t in range(k):
                s += a[i, t] * b[t, j]
            out[i, j] = s
    return out


def conv1d(x, w):
    """'valid' cross-correlation of 1-D x with kernel w: out[i] = sum_j x[i + j] * w[j]."""
    n, k = len(x), len(w)
    out = np.zeros(n - k + 1)
    for i in range(n - k + 1):
        s = 0.0
        for j in range(k):
            s += x[i + j] * w[j]
        out[i] = s
    return out
'''

HARNESS = '''

import time as _time
import numpy as _np


def _reference(name, args):
    if name == "softmax":
        x = args[0]
        e = _np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "matmul":
        return args[0] @ args[1]
    return _np.correlate(args[0], args[1], mode="valid")


def _inputs(name, seed):
    rng = _np.random.default_rng(seed)
    if name == "softmax":
        x = rng.normal(size=(64, 256))
        if seed % 2:
            x = x * 400.0  # large logits: a softmax without the max shift overflows
        return (x,)
    if name == "matmul":
        return rng.normal(size=(48, 64)), rng.normal(size=(64, 40))
    return rng.normal(size=4096), rng.normal(size=31)


def _best_time(fn, args, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = _time.perf_counter()
        out = fn(*args)
        best = min(best, _time.perf_counter() - start)
    return best, out


def _check(name):
    fn = globals().get(name)
    if fn is None:
        return {"error": f"the candidate does not define {name}()"}
    cases = []
    seconds = reference_seconds = 0.0
    for seed in range(3):
        args = _inputs(name, seed)
        ref = _reference(name, args)
        spent, got = _best_time(fn, [a.copy() for a in args], 3 if seed == 0 else 1)
        got = _np.asarray(got, dtype=float)
        if got.shape != ref.shape:
            return {"error": f"input {seed}: output shape {got.shape}, expected {ref.shape}"}
        if not _np.allclose(got, ref, rtol=1e-6, atol=1e-8, equal_nan=False):
            bad = _np.abs(got - ref)
            return {"error": f"input {seed}: wrong values, max abs error {_np.nanmax(bad):.3g}"
                             f"{' (NaN or inf in the output)' if not _np.isfinite(got).all() else ''}"}
        if seed == 0:
            seconds = spent
            reference_seconds = _best_time(_reference, (name, args), 5)[0]
    return {"seconds": seconds, "reference_seconds": max(reference_seconds, 1e-7)}
'''

OBJECTIVE = ("Make the NumPy kernels softmax, matmul and conv1d as fast as possible while staying numerically "
             "correct (np.allclose with rtol=1e-6 against a reference).")

BACKGROUND = """The candidate is Python source defining three functions (NumPy is available, nothing else):
- softmax(x): row-wise softmax of a 64x256 float array; some inputs have logits around +-1000, so it must be
  numerically stable (subtract the row maximum).
- matmul(a, b): (48x64) @ (64x40).
- conv1d(x, w): 'valid' cross-correlation of a 4096-vector with a 31-tap kernel,
  out[i] = sum_j x[i + j] * w[j] (same as np.correlate(x, w, "valid")).
Each is scored separately: 0 if any output is wrong, else a speed score of 1.0 at the speed of NumPy's
own vectorized reference, falling by 0.25 for every 10x slower. Python loops are slow; vectorize."""


def speed_score(seconds: float, reference: float) -> float:
    ratio = max(seconds, 1e-9) / max(reference, 1e-9)
    return max(0.0, min(1.0, 1.0 - math.log10(max(ratio, 1.0)) / 4.0))


def check(candidate: str, kernel: str, timeout: float = 60.0) -> dict[str, Any]:
    result = hn.run_code(candidate + HARNESS, "_check", (kernel,), timeout=timeout, memory_mb=1024)
    if not result.ok:
        return {"error": result.feedback(1500)}
    return result.value


def evaluate(candidate: str, example: dict) -> tuple[float, dict[str, Any]]:
    kernel = example["kernel"]
    report = check(candidate, kernel)
    if "error" in report:
        return 0.0, {"kernel": kernel, "error": report["error"]}
    slower = report["seconds"] / report["reference_seconds"]
    return speed_score(report["seconds"], report["reference_seconds"]), {
        "kernel": kernel,
        "result": (f"correct; {report['seconds'] * 1e3:.3f} ms vs {report['reference_seconds'] * 1e3:.3f} ms "
                   f"for the NumPy reference ({slower:.1f}x)"),
    }


DATASET = [{"kernel": k} for k in KERNELS]


# ---- GPU variant (KernelBench-style) -------------------------------------------------------------

GPU_REFERENCE = '''import torch


class Model(torch.nn.Module):
    """Row-wise softmax written out of primitive ops."""

    def forward(self, x):
        e = torch.exp(x - x.max(dim=1, keepdim=True).values)
        return e / e.sum(dim=1, keepdim=True)
'''

GPU_SEED = GPU_REFERENCE.replace("class Model(", "class ModelNew(")

GPU_OBJECTIVE = ("Write ModelNew, a faster drop-in replacement for the PyTorch reference Model (row-wise softmax of "
                 "a 4096x4096 float32 CUDA tensor), e.g. with a custom CUDA kernel through "
                 "torch.utils.cpp_extension.load_inline. It must match Model's output (allclose, atol 1e-5).")

GPU_HARNESS = '''

def _gpu_check():
    import torch
    ns = {}
    exec(compile(_REFERENCE, "reference", "exec"), ns)
    ref_model, new_model = ns["Model"]().cuda(), ModelNew().cuda()
    x = torch.randn(4096, 4096, device="cuda")
    expected = ref_model(x)
    got = new_model(x)
    torch.cuda.synchronize()
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
        return {"error": "output does not match the reference"}
    def timed(model):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(3):
            model(x)
        start.record()
        for _ in range(20):
            model(x)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 20
    return {"ms": timed(new_model), "reference_ms": timed(ref_model)}
'''


def gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def gpu_evaluate(candidate: str) -> tuple[float, dict[str, Any]]:
    """Score a ``ModelNew`` source: 0 if wrong, else reference time / candidate time.

    The reference model's own source is run inside the sandbox (``exec`` there, on trusted text);
    the CUDA driver needs a large address space, so the memory limit is lifted for this check.
    The sandbox shows the code nothing of the host it is not given: the GPU's device files and
    the CUDA toolkit (for ``load_inline``) are listed here.
    """
    code = f"_REFERENCE = {GPU_REFERENCE!r}\n" + candidate + GPU_HARNESS
    devices = [p for p in sorted(glob.glob("/dev/nvidia*")) if stat.S_ISCHR(os.stat(p).st_mode)]
    toolkit = [p for p in ("/usr/local/cuda", "/opt/cuda", "/sys/bus/pci", "/sys/devices") if os.path.exists(p)]
    result = hn.run_code(code, "_gpu_check", timeout=300, memory_mb=1 << 22, max_processes=512,
                         devices=devices, readable=toolkit)
    if not result.ok:
        return 0.0, {"error": result.feedback(2000)}
    report = result.value
    if "error" in report:
        return 0.0, report
    speedup = report["reference_ms"] / max(report["ms"], 1e-6)
    return speedup, {"result": f"correct; {report['ms']:.3f} ms vs {report['reference_ms']:.3f} ms "
                               f"for the reference ({speedup:.2f}x speedup)"}
