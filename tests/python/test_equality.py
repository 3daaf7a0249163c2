"""regionloss.Plan against the project's float64 PyTorch implementation of
docs/loss.md (tools/goldens/make_goldens.py) on random cases: both layouts, both
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


# ---- half precision (issue 17) ------------------------------------------------------
#
# The same cases with their predictions rounded to float16 or bfloat16 (and
# conditioned again, tests/python/halfprec.py), given to Plan.compute as
# float16 arrays and uint16 bfloat16 bit patterns.  The golden is the float64
# autograd implementation on the widened values, so:
#   * the loss, parts and diagnostics owe what they owe for float inputs
#     (the reference 1e-12, the others docs/numerics.md's float bound);
#   * a half gradient entry v, the exact one r: the reference's is r rounded
#     once, so v lies in [rnd(r - e), rnd(r + e)] with e = 1e-12 |r|; every
#     other variant's in [rnd(r - E), rnd(r + E)] with E the float bound of
#     the entry (numerics.md, "A half gradient": within one unit of the type
#     of the reference's wherever E is below half a unit);
#   * a float32 gradient (grad_dtype="float32") as for float inputs.

from conftest import HALF_VARIANTS  # noqa: E402
from halfprec import as_half, between, half_case, widen  # noqa: E402

HALF = ("float16", "bfloat16")
_half_cache = {}


def half_case_and_golden(seed, layout, mode, fmt):
    key = (seed, layout, mode, fmt)
    if key not in _half_cache:
        case = half_case(random_case(seed, layout, mode), fmt)
        _half_cache[key] = (case, golden(case))
    return _half_cache[key]


def run_half(case, variant, fmt, grad_dtype=None):
    args, kw = plan_args(case)
    pred = as_half(pred_array(case), fmt)   # exact: the case's values are half values
    assert np.array_equal(widen(pred, fmt), pred_array(case).astype(np.float64))
    with regionloss.Plan(*args, variant=variant, grad_dtype=grad_dtype, **kw) as plan:
        seen = case.seen if case.mode == "darknet" else None
        res, grad = plan.compute(pred, target_list(case), seen=seen,
                                 dtype="bfloat16" if fmt == "bfloat16" else None)
    want = np.float32 if grad_dtype else pred.dtype
    assert grad.dtype == want and grad.shape == pred.shape, (grad.dtype, grad.shape)
    return res, grad.reshape(-1)


def loss_bounds(case, g, variant, tol):
    """(part -> bound) for the loss parts and (diag -> bound) for averages."""
    if variant == "reference":
        lscale = max(abs(g["loss"]), 1e-300)
        return ({k: REL * max(abs(g[k]), 1e-12 * lscale) for k in PARTS},
                {k: REL * max(abs(g[k]), 1e-12) for k in DIAG})
    rel, tabs, floor = tol["RL_TOL_REL"], tol["RL_TOL_ABS"], tol["RL_TOL_FLOOR"]
    kc, kp, ko, kn, kw = weights(case, g)
    no, nn = g["n_obj"], g["n_noobj"]
    slots = len(case.truths) * case.H * case.W * case.B
    pscale = {"coord": kc * no, "cls": kp * no, "obj": ko * no, "noobj": kn * nn,
              "warmup": kw * slots}
    pscale["loss"] = sum(pscale.values())
    return ({k: rel * abs(g[k]) + tabs * pscale[k] + floor for k in PARTS},
            {k: rel * abs(g[k]) + tabs + floor for k in DIAG})


def entry_bound(case, g, variant, tol):
    """E of every gradient entry: how far the variant's float value may be
    from the exact gradient r."""
    r = g["grad"]
    if variant == "reference":
        gscale = np.abs(r).max()
        return REL * np.maximum(np.abs(r), 1e-12 * gscale)
    return (tol["RL_TOL_REL"] * np.abs(r) + tol["RL_TOL_ABS"] * entry_scale(case, g)
            + tol["RL_TOL_FLOOR"])


@pytest.mark.parametrize("fmt", HALF)
@pytest.mark.parametrize("variant", HALF_VARIANTS)
def test_half_predictions_match_float64_autograd(variant, fmt):
    tol = tolerance()
    checked = 0
    for seed in SEEDS:
        for layout, mode in COMBOS:
            case, g = half_case_and_golden(seed, layout, mode, fmt)
            what = f"{variant} {fmt} seed {seed} {layout} {mode}"
            res, grad = run_half(case, variant, fmt)
            for k in COUNTS:
                assert getattr(res, k) == g[k], (what, k)
            parts, diags = loss_bounds(case, g, variant, tol)
            for k in PARTS:
                assert abs(getattr(res, k) - g[k]) <= parts[k], (what, k, getattr(res, k), g[k])
            for k in ("avg_iou", "avg_obj", "avg_noobj", "avg_cls"):
                assert abs(getattr(res, k) - g[k]) <= diags[k], (what, k, getattr(res, k), g[k])
            assert (res.recall50, res.recall75) == (g["recall50"], g["recall75"]), what
            r = g["grad"]
            E = entry_bound(case, g, variant, tol)
            v = widen(grad, fmt)
            ok = between(v, r - E, r + E, fmt)
            bad = np.nonzero(~ok)[0]
            assert bad.size == 0, (f"{what}: {bad.size} gradient entries outside "
                                   f"[rnd(r - E), rnd(r + E)], first {bad[0]}: {v[bad[0]]!r} "
                                   f"vs exact {r[bad[0]]!r} (E {E[bad[0]]:.3g})")
            assert np.count_nonzero(v) > 0
            checked += 1
    print(f"{variant} {fmt}: {checked} cases within the half-gradient rule")


@pytest.mark.parametrize("fmt", HALF)
@pytest.mark.parametrize("variant", HALF_VARIANTS)
def test_half_predictions_float32_gradient(variant, fmt):
    """grad_dtype="float32": the float rules of the tests above, on half inputs."""
    tol = tolerance()
    for seed in SEEDS[:2]:
        for layout, mode in COMBOS:
            case, g = half_case_and_golden(seed, layout, mode, fmt)
            what = f"{variant} {fmt} seed {seed} {layout} {mode}"
            res, grad = run_half(case, variant, fmt, grad_dtype="float32")
            r = g["grad"]
            if variant == "reference":
                gscale = np.abs(r).max()
                bound = (2.0 ** -24 + REL) * np.maximum(np.abs(r), 1e-12 * gscale)
                want = r
            else:
                want = r.astype(np.float32).astype(np.float64)
                bound = (tol["RL_TOL_REL"] * np.abs(want) + tol["RL_TOL_ABS"]
                         * entry_scale(case, g) + tol["RL_TOL_FLOOR"])
            err = np.abs(grad.astype(np.float64) - want)
            bad = np.nonzero(err > bound)[0]
            assert bad.size == 0, (f"{what}: {bad.size} float32 gradient entries off, first "
                                   f"{bad[0]}: {grad[bad[0]]!r} vs {want[bad[0]]!r}")


@pytest.mark.parametrize("fmt", HALF)
def test_half_reference_is_one_rounding_of_its_float32_run(fmt):
    """Bit-level: the reference's half gradient is its double gradient
    rounded once; its float32 gradient (of the same inputs) is that double
    rounded to float.  Rounding the latter again agrees except where the
    float32 value is exactly halfway between two half values."""
    case, _ = half_case_and_golden(SEEDS[0], "nchw", "spec", fmt)
    _, gh = run_half(case, "reference", fmt)
    _, g32 = run_half(case, "reference", fmt, grad_dtype="float32")
    again = as_half(g32.astype(np.float64), fmt).view(np.uint16)
    hb = gh.view(np.uint16)
    differ = np.nonzero(again != hb)[0]
    assert differ.size <= max(1, hb.size // 1000), differ.size
    for k in differ:
        assert abs(int(again[k]) - int(hb[k])) == 1, k
