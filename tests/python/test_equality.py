"""regionloss.Plan against the project's float64 PyTorch implementation of
SPEC.md (tools/goldens/make_goldens.py) on random cases: both layouts, both
modes, every variant this machine runs.

* reference: loss parts, diagnostics and darknet stats to 1e-12 relative,
  as tests/goldens does; its float gradient is the double gradient rounded
  once, so each entry lies within half a float ulp (2^-24 relative) of the
  float64 golden, plus the same 1e-12.
* every other variant: the bound of docs/numerics.md,
  |v - r| <= RL_TOL_REL |r| + RL_TOL_ABS S + RL_TOL_FLOOR, with S the
  weight of the term (tests/common/diffcheck.c), against the golden parts
  and the golden gradient rounded to float (what the reference returns).
Counts must be equal (the cases keep every decision away from thresholds).
"""
import numpy as np
import pytest

import regionloss
from conftest import tolerance
from goldens import golden, plan_args, pred_array, random_case, target_list, target_rows

SEEDS = [11, 12, 13]
COMBOS = [(layout, mode) for layout in ("nchw", "nhwc") for mode in ("spec", "darknet")]
PARTS = ("loss", "coord", "cls", "obj", "noobj", "warmup")
DIAG = ("avg_iou", "recall50", "recall75", "avg_obj", "avg_noobj", "avg_cls")
COUNTS = ("n_obj", "n_noobj", "n_conf", "n_truths")
DARKNET = ("avg_iou", "recall", "recall75", "avg_cls", "avg_obj", "avg_anyobj", "cost")
REL = 1e-12

_cache = {}


def case_and_golden(seed, layout, mode):
    key = (seed, layout, mode)
    if key not in _cache:
        case = random_case(seed, layout, mode)
        _cache[key] = (case, golden(case))
    return _cache[key]


def run(case, variant, targets=None):
    args, kw = plan_args(case)
    with regionloss.Plan(*args, variant=variant, **kw) as plan:
        assert plan.variant == variant
        seen = case.seen if case.mode == "darknet" else None
        res, grad = plan.compute(pred_array(case), target_list(case) if targets is None
                                 else targets, seen=seen)
    return res, grad.reshape(-1)


def close(v, g, scale):
    """test_goldens.c's rule: relative, with a floor 1e-12 * scale for g = 0."""
    return abs(v - g) <= REL * max(abs(g), 1e-12 * scale)


@pytest.mark.parametrize("layout,mode", COMBOS)
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_matches_float64_autograd(seed, layout, mode):
    case, g = case_and_golden(seed, layout, mode)
    res, grad = run(case, "reference")
    for k in COUNTS:
        assert getattr(res, k) == g[k], k
    lscale = max(abs(g["loss"]), 1e-300)
    for k in PARTS:
        assert close(getattr(res, k), g[k], lscale), (k, getattr(res, k), g[k])
    for k in DIAG:
        assert close(getattr(res, k), g[k], 1.0), (k, getattr(res, k), g[k])
    for k in DARKNET:
        assert close(getattr(res.darknet, k), g["darknet"][k], max(abs(g["darknet"]["cost"]), 1)), k
    assert res.darknet.count == g["darknet"]["count"]
    want = g["grad"]
    gscale = np.abs(want).max() if want.size else 0.0
    bound = (2.0 ** -24 + REL) * np.maximum(np.abs(want), 1e-12 * gscale)
    err = np.abs(grad.astype(np.float64) - want)
    bad = np.nonzero(err > bound)[0]
    assert bad.size == 0, (f"{bad.size} gradient entries off, first {bad[0]}: "
                           f"{grad[bad[0]]!r} vs {want[bad[0]]!r}")
    # The case is not vacuous: it has objects, a loss and a gradient.
    assert g["n_truths"] == 0 or g["n_obj"] > 0
    assert gscale > 0


def weights(case, g):
    """kc, kp, ko, kn, kw as tests/common/diffcheck.c's weights_of."""
    N = len(case.truths)
    lc, lp, lo, ln = case.lambdas
    dobj = dconf = 1.0
    if case.norm == "counts":
        dobj, dconf = g["n_obj"], g["n_conf"]
    elif case.norm == "images":
        dobj = dconf = N
    if case.mode == "darknet":
        dconf = dobj
    kc = lc / dobj if dobj else 0.0
    kp = lp / dobj if dobj else 0.0
    ko = lo / dconf if dconf else 0.0
    kn = ln / dconf if dconf else 0.0
    warm = case.mode == "darknet" and case.seen < case.warmup_seen and dobj
    kw = case.warmup_scale / dobj if warm else 0.0
    if case.mode == "darknet":
        kc *= 2
    else:
        kc, ko, kn = 2 * kc, 2 * ko, 2 * kn
    return kc, kp, ko, kn, kw


def entry_scale(case, g):
    """S of every gradient entry: the weight of its channel's term."""
    kc, kp, ko, kn, kw = weights(case, g)
    n = len(case.truths) * case.H * case.W * case.B * case.K
    x = np.arange(n)
    k = (x // (case.H * case.W)) % case.K if case.layout == "nchw" else x % case.K
    return np.where(k < 4, max(kc, kw), np.where(k == 4, max(ko, kn), kp))


def test_every_variant_within_the_stated_tolerance():
    tol = tolerance()
    rel, tabs, floor = tol["RL_TOL_REL"], tol["RL_TOL_ABS"], tol["RL_TOL_FLOOR"]
    variants = [v for v in regionloss.variants() if v != "reference"]
    assert variants, "no variant but the reference in this build"
    checked = 0
    for seed in SEEDS:
        for layout, mode in COMBOS:
            case, g = case_and_golden(seed, layout, mode)
            kc, kp, ko, kn, kw = weights(case, g)
            no, nn = g["n_obj"], g["n_noobj"]
            slots = len(case.truths) * case.H * case.W * case.B
            pscale = {"coord": kc * no, "cls": kp * no, "obj": ko * no, "noobj": kn * nn,
                      "warmup": kw * slots}
            pscale["loss"] = sum(pscale.values())
            want = g["grad"].astype(np.float32).astype(np.float64)  # the reference's rounding
            bound = rel * np.abs(want) + tabs * entry_scale(case, g) + floor
            for v in variants:
                what = f"{v} seed {seed} {layout} {mode}"
                res, grad = run(case, v)
                for k in COUNTS:
                    assert getattr(res, k) == g[k], (what, k)
                for k in PARTS:
                    got, ref = getattr(res, k), g[k]
                    assert abs(got - ref) <= rel * abs(ref) + tabs * pscale[k] + floor, \
                        (what, k, got, ref)
                for k in ("avg_iou", "avg_obj", "avg_noobj", "avg_cls"):
                    got, ref = getattr(res, k), g[k]
                    assert abs(got - ref) <= rel * abs(ref) + tabs + floor, (what, k, got, ref)
                assert (res.recall50, res.recall75) == (g["recall50"], g["recall75"]), what
                err = np.abs(grad.astype(np.float64) - want)
                bad = np.nonzero(err > bound)[0]
                assert bad.size == 0, (f"{what}: {bad.size} gradient entries off, first "
                                       f"{bad[0]}: {grad[bad[0]]!r} vs {want[bad[0]]!r} "
                                       f"(bound {bound[bad[0]]:.3g})")
                checked += 1
    print(f"{checked} variant runs within the numerics.md bound: {', '.join(variants)}")


@pytest.mark.parametrize("layout,mode", COMBOS)
def test_rows_and_list_targets_agree(layout, mode):
    """The (M, 6) rows, shuffled across images, give the per-image lists'
    result bit for bit (the order within an image is kept)."""
    case, _ = case_and_golden(SEEDS[0], layout, mode)
    rows = target_rows(case)
    rng = np.random.default_rng(5)
    # shuffle images but keep each image's order: stable sort on a random key per image
    key = rng.permutation(len(case.truths))[rows[:, 0].astype(int)]
    rows = rows[np.argsort(key, kind="stable")]
    a, ga = run(case, "reference")
    b, gb = run(case, "reference", targets=rows)
    assert a == b
    assert np.array_equal(ga, gb)
