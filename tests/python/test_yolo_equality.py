"""regionloss.YoloPlan against the float64 autograd implementation of
docs/loss.md's [yolo] head in yolo_oracle.py, on random conditioned networks of
one to three heads: both layouts, both normalisations, truth_thresh on and off,
every variant this machine runs, float32 and half predictions.

* reference: every loss part, count, diagnostic and darknet statistic of
  every head and of the total to 1e-12 relative; its float gradient within
  half a float ulp (2^-24 relative) of the float64 one, plus the same 1e-12;
  in accumulate mode exactly one rounding of prior + gradient.
* every other variant: the bound of docs/numerics.md,
  |v - r| <= RL_TOL_REL |r| + RL_TOL_ABS S + RL_TOL_FLOOR, S the weight of
  the term (tests/common/diffcheck.c's weights for a [yolo] head: one
  divisor D, 2 lambda_coord / D for the box entries), against the float64
  parts and the float64 gradient rounded to float (what the reference
  returns).  An entry the loss does not touch is exactly 0.
* half predictions: the loss as for float inputs; each half gradient entry
  in [rnd(r - E), rnd(r + E)] (docs/numerics.md, "A half gradient").
Counts are equal: the cases keep every decision 1e-4 away from thresholds.
"""
import numpy as np
import pytest

import regionloss
from conftest import HALF_VARIANTS, need_torch, tolerance

need_torch()
import yolo_oracle as yo  # noqa: E402
from halfprec import as_half, between, widen  # noqa: E402

SEEDS = [21, 22, 23, 24]
COMBOS = [(layout, norm) for layout in ("nchw", "nhwc") for norm in ("images", "sum")]
PARTS = ("loss", "coord", "cls", "obj", "noobj", "warmup")
DIAG = ("avg_iou", "recall50", "recall75", "avg_obj", "avg_noobj", "avg_cls")
COUNTS = ("n_obj", "n_noobj", "n_conf", "n_truths", "n_recall50", "n_recall75")
DARKNET = ("avg_iou", "recall", "recall75", "avg_cls", "avg_obj", "avg_anyobj", "cost")
REL = 1e-12
FMT_DTYPE = {"float16": np.float16, "bfloat16": np.uint16}

_cache = {}


def case_and_oracle(seed, layout, norm, fmt="float32"):
    key = (seed, layout, norm, fmt)
    if key not in _cache:
        case = yo.random_case(seed, layout, norm, fmt)
        _cache[key] = (case, yo.compute(case))
    return _cache[key]


def run(case, variant, fmt="float32", targets=None, grad_dtype=None, **call):
    """YoloPlan.compute of the case's predictions (as float32, float16 or
    bfloat16 bits) with the variant; (result, [flat gradient per head])."""
    args, kw = case.plan_args()
    preds = case.preds() if fmt == "float32" else [as_half(p, fmt) for p in case.preds()]
    dtype = "bfloat16" if fmt == "bfloat16" else None
    with regionloss.YoloPlan(*args, variant=variant, grad_dtype=grad_dtype, **kw) as plan:
        assert variant == "auto" or plan.variant == variant
        res, grads = plan.compute(preds, case.target_list() if targets is None else targets,
                                  dtype=dtype, **call)
    for g, p in zip(grads, preds):
        assert g.shape == p.shape
        assert g.dtype == (np.float32 if grad_dtype or fmt == "float32" else p.dtype)
    return res, [g.reshape(-1) for g in grads]


def results(res, o):
    """(library Result, oracle dict, what) for every head and the total."""
    yield res, o["total"], "total"
    assert len(res.heads) == len(o["heads"])
    for h, (r, g) in enumerate(zip(res.heads, o["heads"])):
        yield r, g, f"head {h}"


def close(v, g, scale):
    """tests/goldens' rule: relative, with a floor 1e-12 * scale for g = 0."""
    return abs(v - g) <= REL * max(abs(g), 1e-12 * scale)


def check_reference_results(res, o, what):
    for r, g, part in results(res, o):
        w = f"{what}, {part}"
        for k in COUNTS:
            assert getattr(r, k) == g[k], (w, k, getattr(r, k), g[k])
        assert r.darknet.count == g["darknet"]["count"], w
        lscale = max(abs(g["loss"]), 1e-300)
        for k in PARTS:
            assert close(getattr(r, k), g[k], lscale), (w, k, getattr(r, k), g[k])
        for k in DIAG:
            assert close(getattr(r, k), g[k], 1.0), (w, k, getattr(r, k), g[k])
        for k in DARKNET:
            assert close(getattr(r.darknet, k), g["darknet"][k],
                         max(g["darknet"]["cost"], 1.0)), (w, k, getattr(r.darknet, k),
                                                          g["darknet"][k])
        assert r.variant == "reference"


def weights(case, D):
    """kc, kp, ko, kn of diffcheck_util's rl_dc_weights_of for a head."""
    lc, lp, lo, ln = case.lambdas
    return 2 * lc / D, lp / D, lo / D, ln / D


def check_variant_results(case, res, o, what, tol):
    rel, tabs, floor = tol["RL_TOL_REL"], tol["RL_TOL_ABS"], tol["RL_TOL_FLOOR"]
    kc, kp, ko, kn = weights(case, o["D"])
    lc, lp, lo, ln = case.lambdas
    lmax = max(2 * lc, lp, lo, ln)
    for r, g, part in results(res, o):
        w = f"{what}, {part}"
        for k in COUNTS:
            assert getattr(r, k) == g[k], (w, k, getattr(r, k), g[k])
        assert r.darknet.count == g["darknet"]["count"], w
        no, nn = g["n_obj"], g["n_noobj"]
        scale = {"coord": kc * no, "cls": kp * no, "obj": ko * no, "noobj": kn * nn,
                 "warmup": 0.0}
        scale["loss"] = sum(scale.values())
        for k in PARTS:
            got, want = getattr(r, k), g[k]
            assert abs(got - want) <= rel * abs(want) + tabs * scale[k] + floor, \
                (w, k, got, want)
        for k in ("avg_iou", "avg_obj", "avg_noobj", "avg_cls"):
            got, want = getattr(r, k), g[k]
            assert abs(got - want) <= rel * abs(want) + tabs + floor, (w, k, got, want)
        assert (r.recall50, r.recall75) == (g["recall50"], g["recall75"]), w
        cost_scale = lmax * lmax * (no * case.K + nn + 4 * g["slots"])
        for k in DARKNET:
            got, want = getattr(r.darknet, k), g["darknet"][k]
            s = cost_scale if k == "cost" else 1.0
            assert abs(got - want) <= rel * abs(want) + tabs * s + floor, (w, k, got, want)


def entry_scale(case, h, D):
    """S of every gradient entry of head h (flat, the case's layout)."""
    kc, kp, ko, kn = weights(case, D)
    H, W, mask = case.heads[h]
    k = np.zeros((case.N, H, W, len(mask), case.K))
    k[...] = np.arange(case.K)
    k = case.to_layout(h, k).reshape(-1)
    return np.where(k < 4, kc, np.where(k == 4, max(ko, kn), kp))


def check_untouched_are_zero(grads, o, what):
    """Overwrite mode writes 0 where the loss has no term, exactly."""
    for h, (g, want) in enumerate(zip(grads, o["grads"])):
        stray = np.nonzero((want == 0) & (g.astype(np.float64) != 0))[0]
        assert stray.size == 0, f"{what}: head {h}: {stray.size} entries without a term are " \
            f"not 0, first {stray[0]}: {g[stray[0]]!r}"


# ---- float32 ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout,norm", COMBOS)
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_matches_float64_autograd(seed, layout, norm):
    case, o = case_and_oracle(seed, layout, norm)
    res, grads = run(case, "reference")
    what = f"reference {case.name}"
    check_reference_results(res, o, what)
    for h, (g, want) in enumerate(zip(grads, o["grads"])):
        gscale = np.abs(want).max() if want.size else 0.0
        bound = (2.0 ** -24 + REL) * np.maximum(np.abs(want), 1e-12 * gscale)
        err = np.abs(g.astype(np.float64) - want)
        bad = np.nonzero(err > bound)[0]
        assert bad.size == 0, (f"{what}: head {h}: {bad.size} gradient entries off, first "
                               f"{bad[0]}: {g[bad[0]]!r} vs {want[bad[0]]!r}")
    check_untouched_are_zero(grads, o, what)


def other_variants():
    return [v for v in regionloss.variants() if v != "reference"]


@pytest.mark.parametrize("variant", other_variants())
def test_every_variant_within_the_stated_tolerance(variant):
    tol = tolerance()
    rel, tabs, floor = tol["RL_TOL_REL"], tol["RL_TOL_ABS"], tol["RL_TOL_FLOOR"]
    checked = 0
    for seed in SEEDS:
        for layout, norm in COMBOS:
            case, o = case_and_oracle(seed, layout, norm)
            what = f"{variant} {case.name}"
            res, grads = run(case, variant)
            check_variant_results(case, res, o, what, tol)
            for h, (g, r) in enumerate(zip(grads, o["grads"])):
                want = r.astype(np.float32).astype(np.float64)  # the reference's rounding
                bound = rel * np.abs(want) + tabs * entry_scale(case, h, o["D"]) + floor
                err = np.abs(g.astype(np.float64) - want)
                bad = np.nonzero(err > bound)[0]
                assert bad.size == 0, (f"{what}: head {h}: {bad.size} gradient entries off, "
                                       f"first {bad[0]}: {g[bad[0]]!r} vs {want[bad[0]]!r} "
                                       f"(bound {bound[bad[0]]:.3g})")
            check_untouched_are_zero(grads, o, what)
            checked += 1
    print(f"{variant}: {checked} networks within the numerics.md bound")


def test_the_cases_are_not_vacuous():
    """Across the cases: positives in every head of some case, slots with
    several truths (multi-label), positives of truth_thresh alone, ignored
    slots, images without truths, both decisions of the recall counts."""
    seen = dict(tt=0, multi=0, ignored=0, empty=0, r50=0, below50=0, heads=0)
    for seed in SEEDS:
        for layout, norm in COMBOS:
            case, o = case_and_oracle(seed, layout, norm)
            seen["empty"] += sum(len(t) == 0 for t in case.truths)
            for h, r in enumerate(o["heads"]):
                seen["heads"] += r["n_obj"] > 0
                seen["ignored"] += int((~r["pos"] & ~r["neg"]).sum())
                seen["r50"] += r["n_recall50"]
                seen["below50"] += r["n_obj"] - r["n_recall50"]
                m = yo.matches(case, h)
                slots = [(n, i, j, b) for n, lst in enumerate(m) for _, i, j, b in lst]
                seen["multi"] += len(slots) - len(set(slots))
                seen["tt"] += r["n_obj"] - len(set(slots))
    print(seen)
    assert all(v > 0 for v in seen.values()), seen


# ---- the other forms and options of a call ----------------------------------------------

@pytest.mark.parametrize("layout,norm", COMBOS[:2])
def test_rows_list_and_targets_agree(layout, norm):
    """(M, 6) rows shuffled across images (each image's order kept), the
    per-image lists and prepared Targets give the same result bit for bit."""
    case, _ = case_and_oracle(SEEDS[0], layout, norm)
    rows = case.target_rows()
    rng = np.random.default_rng(5)
    key = rng.permutation(case.N)[rows[:, 0].astype(int)]
    rows = rows[np.argsort(key, kind="stable")]
    a, ga = run(case, "generic")
    b, gb = run(case, "generic", targets=rows)
    c, gc = run(case, "generic", targets=regionloss.Targets.from_list(case.target_list()))
    assert a == b == c
    for x, y, z in zip(ga, gb, gc):
        assert np.array_equal(x, y) and np.array_equal(x, z)


def test_global_image_count_divides_by_every_shard():
    """norm images with global_counts: the loss and gradient of the call
    divided by the images of every shard (an integer or a Counts)."""
    case, _ = case_and_oracle(SEEDS[1], "nchw", "images")
    o = yo.compute(case, global_images=5 * case.N)
    tol = tolerance()
    for gc in (5 * case.N, regionloss.Counts(0, 0, 0, 5 * case.N)):
        res, grads = run(case, "generic", global_counts=gc)
        check_variant_results(case, res, o, "global_counts", tol)
        for g, r in zip(grads, o["grads"]):
            assert np.allclose(g, r, rtol=1e-5, atol=1e-9)
    # norm sum divides by nothing: global_counts changes nothing
    case, _ = case_and_oracle(SEEDS[1], "nchw", "sum")
    a, ga = run(case, "generic")
    b, gb = run(case, "generic", global_counts=7)
    assert a == b and all(np.array_equal(x, y) for x, y in zip(ga, gb))


@pytest.mark.parametrize("variant", ["reference", "generic", "auto"])
def test_accumulate_adds_into_out_and_none_skips_a_head(variant):
    case, o = case_and_oracle(SEEDS[2], "nhwc", "images")
    args, kw = case.plan_args()
    plan = regionloss.YoloPlan(*args, variant=variant, grad_mode="accumulate", **kw)
    rng = np.random.default_rng(3)
    priors = [rng.uniform(-1, 1, p.shape).astype(np.float32) for p in case.preds()]
    out = [p.copy() for p in priors]
    out[-1] = None
    res, grads = plan.compute(case.preds(), case.target_list(), out=out)
    assert grads is not out and grads[-1] is None
    assert all(g is b for g, b in zip(grads[:-1], out[:-1]))
    for h in range(len(case.heads) - 1):
        want = priors[h].astype(np.float64).reshape(-1) + o["grads"][h]
        got = out[h].astype(np.float64).reshape(-1)
        if variant == "reference":
            # (float)((double)prior + g): half a float ulp of the sum, and
            # the 1e-12 of the double gradient
            bound = 2.0 ** -24 * np.abs(want) + REL * np.abs(o["grads"][h]) + 1e-300
        else:
            # one float rounding of the sum (numerics.md, accumulate), plus
            # the variant's bound on the gradient itself
            bound = 2.0 ** -23 * (np.abs(want) + np.abs(priors[h].reshape(-1))) + \
                1e-5 * np.abs(o["grads"][h]) + 1e-6 * entry_scale(case, h, o["D"])
        assert np.all(np.abs(got - want) <= bound), f"head {h}"
        untouched = o["grads"][h] == 0
        assert np.array_equal(got[untouched], priors[h].reshape(-1)[untouched].astype(np.float64))


def test_no_gradient_and_threads_give_the_same_numbers():
    case, _ = case_and_oracle(SEEDS[3], "nchw", "images")
    args, kw = case.plan_args()
    one = regionloss.YoloPlan(*args, variant="generic", **kw)
    res, grads = one.compute(case.preds(), case.target_list())
    res2, none = one.compute(case.preds(), case.target_list(), grad=False)
    assert none is None and res2 == res
    many = regionloss.YoloPlan(*args, variant="generic", threads=3, **kw)
    res3, grads3 = many.compute(case.preds(), case.target_list())
    assert res3 == res and all(np.array_equal(a, b) for a, b in zip(grads, grads3))
    # the same plan from every thread at once, with a per-thread workspace
    import threading
    outs = [None] * 4

    def work(k):
        outs[k] = one.compute(case.preds(), case.target_list())

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r, g in outs:
        assert r == res and all(np.array_equal(a, b) for a, b in zip(grads, g))


# ---- half precision ------------------------------------------------------------------------

HALF = ("float16", "bfloat16")


@pytest.mark.parametrize("fmt", HALF)
@pytest.mark.parametrize("variant", HALF_VARIANTS)
def test_half_predictions_match_float64_autograd(variant, fmt):
    tol = tolerance()
    checked = 0
    for seed in SEEDS[:3]:
        for layout, norm in COMBOS[1:3]:
            case, o = case_and_oracle(seed, layout, norm, fmt)
            what = f"{variant} {case.name}"
            res, grads = run(case, variant, fmt)
            if variant == "reference":
                check_reference_results(res, o, what)
            else:
                check_variant_results(case, res, o, what, tol)
            for h, (g, r) in enumerate(zip(grads, o["grads"])):
                if variant == "reference":
                    E = REL * np.maximum(np.abs(r), 1e-12 * np.abs(r).max())
                else:
                    E = (tol["RL_TOL_REL"] * np.abs(r) + tol["RL_TOL_ABS"]
                         * entry_scale(case, h, o["D"]) + tol["RL_TOL_FLOOR"])
                v = widen(g, fmt)
                bad = np.nonzero(~between(v, r - E, r + E, fmt))[0]
                assert bad.size == 0, (f"{what}: head {h}: {bad.size} gradient entries "
                                       f"outside [rnd(r - E), rnd(r + E)], first {bad[0]}: "
                                       f"{v[bad[0]]!r} vs exact {r[bad[0]]!r}")
            checked += 1
    print(f"{variant} {fmt}: {checked} networks within the half-gradient rule")


@pytest.mark.parametrize("fmt", HALF)
def test_half_predictions_float32_gradient(fmt):
    """grad_dtype="float32": the float rules, on half inputs."""
    tol = tolerance()
    case, o = case_and_oracle(SEEDS[0], "nchw", "images", fmt)
    res, grads = run(case, "generic", fmt, grad_dtype="float32")
    check_variant_results(case, res, o, f"generic {fmt} float32 gradient", tol)
    for h, (g, r) in enumerate(zip(grads, o["grads"])):
        want = r.astype(np.float32).astype(np.float64)
        bound = tol["RL_TOL_REL"] * np.abs(want) + tol["RL_TOL_ABS"] * \
            entry_scale(case, h, o["D"]) + tol["RL_TOL_FLOOR"]
        assert np.all(np.abs(g.astype(np.float64) - want) <= bound), f"head {h}"
