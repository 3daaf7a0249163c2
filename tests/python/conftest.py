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


def bits(a):
    """The bytes of a, copied: to compare before and after a call."""
    return np.array(a, copy=True, order="C").view(np.uint8)


def expect_untouched(call, exc, match, *arrays):
    """call() raises exc matching match and writes none of arrays; returns
    the exception."""
    before = [bits(a) for a in arrays]
    with pytest.raises(exc, match=match) as info:
        call()
    for a, b in zip(arrays, before):
        assert np.array_equal(bits(a), b), "an input was written"
    return info.value


def unraisable(monkeypatch):
    """The list sys.unraisablehook is given from now on: what Python would
    print as "Exception ignored in: <function Plan.__del__ ...>" (an
    exception in __del__ is reported, never raised)."""
    got = []
    monkeypatch.setattr(sys, "unraisablehook", got.append)
    return got


def reported(got):
    return [f"{u.exc_type.__name__}: {u.exc_value} (in {u.object!r})" for u in got]


def synthetic_rectangles(n, rng, size, num_classes, per_image, wh):
    """n size x size images (N, 3, size, size) float32 holding
    rng.integers(*per_image) filled rectangles each, their sides drawn from
    rng.uniform(*wh) and their colour channel the class, and the (M, 6)
    target rows ``image, class, cx, cy, w, h`` of the rectangles (a list)."""
    images = np.zeros((n, 3, size, size), dtype=np.float32)
    targets = []
    for k in range(n):
        for _ in range(int(rng.integers(*per_image))):
            w, h = rng.uniform(*wh, 2)
            cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
            cls = int(rng.integers(num_classes))
            x0, x1 = int((cx - w / 2) * size), int((cx + w / 2) * size)
            y0, y1 = int((cy - h / 2) * size), int((cy + h / 2) * size)
            images[k, cls, y0:y1, x0:x1] = 1.0
            targets.append([k, cls, cx, cy, w, h])
    return images, targets


def assert_float32_finite_grads(net):
    """Every parameter of net has a finite float32 gradient."""
    import torch
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name


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
