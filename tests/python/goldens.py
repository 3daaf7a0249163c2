"""Random cases and their float64 PyTorch losses, from the project's own
second implementation of docs/loss.md: tools/goldens/make_goldens.py (written
from that page alone, autograd for the gradient, decisions conditioned away
from thresholds so that 1e-12 tests formulas rather than rounding).  This
module only draws new random cases for it and turns a case into the
arguments of regionloss.Plan."""
import os
import sys

import numpy as np

from conftest import SOURCE_ROOT, need_torch

sys.path.insert(0, os.path.join(SOURCE_ROOT, "tools", "goldens"))
_torch = need_torch()
_default = _torch.get_default_dtype()
import make_goldens as mg  # noqa: E402

# make_goldens sets float64 as torch's default dtype when imported; other
# test files in the same pytest process expect torch's own default.
_torch.set_default_dtype(_default)


def random_case(seed, layout, mode):
    """A conditioned random case: grid, anchors, weights, thresh, norm and
    darknet options drawn from the seed; truths per image 0 to 9."""
    rng = np.random.default_rng(seed)
    for attempt in range(20):
        H, W = int(rng.integers(2, 10)), int(rng.integers(2, 10))
        B, C = int(rng.integers(1, 6)), int(rng.integers(1, 9))
        n_images = int(rng.integers(1, 4))
        kw = dict(layout=layout, mode=mode)
        if mode == "spec":
            kw["norm"] = ["counts", "sum", "images"][int(rng.integers(3))]
            kw["thresh"] = float(rng.choice([0.6, 0.45, 0.3]))
        else:
            kw["norm"] = ["sum", "images"][int(rng.integers(2))]
            kw["rescore"] = int(rng.integers(2))
            kw["logistic"] = int(rng.integers(2))
            kw["seen"] = int(rng.choice([64, 12800, 40000]))
        if rng.uniform() < 0.5:
            kw["lambdas"] = tuple(float(v) for v in np.round(rng.uniform(0.25, 4.0, 4), 2))
        case = mg.Case(f"py_{mode}_{layout}_{seed}_{attempt}", seed * 100 + attempt, H, W, B, C,
                       **kw)
        case.truths = [case.random_truths(int(rng.integers(0, 10)))
                       for _ in range(n_images)]
        t = case.random_pred(n_images)
        try:
            mg.check_anchor_ties(case)
            mg.condition(case, t)
        except RuntimeError:
            continue  # an anchor near-tie or an unconditionable draw: draw again
        case.pred_nijbk = mg.f32(t)
        case.pred = case.to_layout(case.pred_nijbk)
        return case
    raise RuntimeError(f"seed {seed}: no usable case in 20 draws")


def golden(case):
    """The float64 autograd result: a dict of parts, counts, diagnostics,
    darknet stats and 'grad' (float64, flat, in the case's layout)."""
    _torch.set_default_dtype(_torch.float64)  # as make_goldens runs it
    try:
        return mg.compute(case)
    finally:
        _torch.set_default_dtype(_default)


NORM_NAMES = {"counts": "batch", "sum": "sum", "images": "images"}


def plan_args(case):
    """(args, kwargs) of regionloss.Plan for the case."""
    lc, lp, lo, ln = case.lambdas
    kw = dict(layout=case.layout, mode=case.mode, lambda_coord=lc, lambda_class=lp,
              lambda_obj=lo, lambda_noobj=ln, thresh=case.thresh,
              norm=NORM_NAMES[case.norm])
    if case.mode == "darknet":
        kw.update(rescore=bool(case.rescore), logistic_classes=bool(case.logistic),
                  warmup_seen=case.warmup_seen, warmup_scale=case.warmup_scale)
    return (case.anchors.astype(np.float64), case.C, (case.H, case.W)), kw


def pred_array(case):
    """The case's predictions as the 4-D array a trainer holds."""
    N = len(case.truths)
    if case.layout == "nchw":
        return case.pred.reshape(N, case.B * case.K, case.H, case.W).copy()
    return case.pred.reshape(N, case.H, case.W, case.B * case.K).copy()


def target_list(case):
    """Per-image (T, 5) arrays class, cx, cy, w, h (float32 values, exact)."""
    out = []
    for ts in case.truths:
        a = np.array([[c, cx, cy, w, h] for (cx, cy, w, h, c) in ts], dtype=np.float64)
        out.append(a.reshape(-1, 5))
    return out


def target_rows(case):
    """The same truths as (M, 6) rows image, class, cx, cy, w, h."""
    rows = [np.hstack([np.full((len(a), 1), n), a]) for n, a in enumerate(target_list(case))]
    return np.vstack(rows) if rows else np.zeros((0, 6))
