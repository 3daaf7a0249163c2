"""bench/torch_vs_regionloss.py runs (one repetition of the smallest row,
1 thread) and its PyTorch implementation computes the library's loss: the
bench exits non-zero when they differ by more than 1e-4.  Times nothing
worth reading; it keeps the bench from rotting."""
import os
import subprocess
import sys

from conftest import SOURCE_ROOT, need_torch

need_torch()


def test_bench_runs_and_agrees():
    out = subprocess.run([sys.executable, os.path.join(SOURCE_ROOT, "bench",
                                                       "torch_vs_regionloss.py"),
                          "--reps", "1", "--filter", "voc-2", "--one-thread"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "voc-2" in out.stdout and "x " in out.stdout
