"""Shared helpers of the Python tests (imported by pytest before them)."""
import os
import sys

import numpy as np
import pytest

SOURCE_ROOT = os.environ.get("REGIONLOSS_SOURCE_ROOT",
                             os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__)))))
# The source tree's package, unless the run tests an installed one
# (scripts/test-all.sh's pip stage sets REGIONLOSS_TEST_INSTALLED).
if not os.environ.get("REGIONLOSS_TEST_INSTALLED"):
    sys.path.insert(0, os.path.join(SOURCE_ROOT, "python"))

VOC_ANCHORS = [(1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892),
               (9.47112, 4.84053), (11.2364, 10.0071)]


# Variants the half-precision tests run: the two the library had right for
# every element type first, and "auto" (the CPU's best, or REGIONLOSS_VARIANT
# when set), which is a SIMD family on any machine that has one.
HALF_VARIANTS = ("reference", "generic", "auto")


def need_torch():
    """Imports torch, or skips the calling test with the reason."""
    return pytest.importorskip(
        "torch", reason="torch is not installed (Debian: python3-torch); the torch tests "
        "need it")


def rows(rng, n_images, per_image, num_classes):
    """Random (M, 6) targets image, class, cx, cy, w, h, images interleaved."""
    out = []
    for n in range(n_images):
        for _ in range(per_image):
            out.append([n, rng.integers(num_classes), rng.uniform(0, 1), rng.uniform(0, 1),
                        rng.uniform(0.05, 0.7), rng.uniform(0.05, 0.7)])
    out = np.array(out, dtype=np.float64).reshape(-1, 6)
    return out[rng.permutation(len(out))]


def tolerance():
    """RL_TOL_* of tests/common/tolerance.h, the one place they live."""
    vals = {}
    with open(os.path.join(SOURCE_ROOT, "tests", "common", "tolerance.h")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("RL_TOL_"):
                vals[parts[1]] = float(parts[2])
    assert {"RL_TOL_REL", "RL_TOL_ABS", "RL_TOL_FLOOR"} <= set(vals), vals
    return vals
