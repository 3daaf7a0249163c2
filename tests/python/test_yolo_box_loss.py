"""box_loss= of YoloPlan and YoloLoss: the IoU-family box terms (iou,
giou, diou, ciou) against the float64 autograd model of yolo_oracle.py, whose
1 - XIoU is written from the definitions on its own (torch's min and max,
CIoU's alpha computed without autograd), on the random conditioned networks
of test_yolo_equality.py (the same draws; the conditioning also keeps every
positive's box edges 1e-4 away from its truth's, the kinks of the loss).

* reference: every part, count and statistic to 1e-12 relative, the float
  gradient within half a float ulp plus 1e-12 of the float64 one;
* every other variant: docs/numerics.md's bound, as for the default box loss;
* float16 and bfloat16 predictions: the loss as for float ones, each half
  gradient entry in [rnd(r - E), rnd(r + E)] (docs/numerics.md);
* threads: the same numbers, bit for bit, for every thread count;
* YoloLoss (eager) gives YoloPlan's loss and gradient bit for bit;
* the cases are not vacuous: positives whose box misses its truth (where
  only the enclosing-box and distance terms pull), CIoU's alpha both 0
  and not.
"""
import numpy as np
import pytest

import regionloss
from conftest import HALF_VARIANTS, need_torch, tolerance

torch = need_torch()
import yolo_oracle as yo  # noqa: E402
from halfprec import between, widen  # noqa: E402
from test_yolo_equality import (REL, check_reference_results,  # noqa: E402
                                check_untouched_are_zero, check_variant_results,
                                entry_scale, run)

KINDS = ("iou", "giou", "diou", "ciou")
SEEDS = [21, 22, 23]
COMBOS = [("nchw", "images"), ("nhwc", "sum")]

SEPARATED = -1   # the seed of separated_case
_cache = {}


def separated_case(kind, layout, norm):
    """Positives whose box misses its truth (IoU 0), in both axes or in
    one: the random cases' positives decode near their truths and always
    overlap them.  One head of 2x2 cells (64 pixels), small truths on a
    small anchor, their positives' boxes shrunk into the cell's far
    corner; a large truth on the other anchor, overlapped."""
    rng = np.random.default_rng(7)
    anchors = np.array([(8, 8), (40, 36)], dtype=np.float32)
    case = yo.YoloCase(f"separated_{kind}_{layout}_{norm}", anchors, [(2, 2, [0, 1])],
                       (64, 64), 3, layout, norm, box_loss=kind)
    case.truths = [np.array([[0, 0.10, 0.12, 0.06, 0.05],    # cell (0, 0), misses in x and y
                             [1, 0.70, 0.40, 0.07, 0.06],    # cell (0, 1), misses in x only
                             [2, 0.30, 0.70, 0.55, 0.45]],   # the large anchor, overlaps
                            dtype=np.float32),
                   np.array([[1, 0.60, 0.80, 0.05, 0.07]], dtype=np.float32)]
    t = rng.uniform(-2, 2, (2, 2, 2, 2, 8))
    t[..., 4] -= 1.5
    # (image, i, j, b, centre in the cell, size in pixels)
    for n, i, j, b, (fx, fy), (w, h) in ((0, 0, 0, 0, (0.9, 0.85), (2.0, 2.5)),
                                         (0, 0, 1, 0, (0.95, 0.3), (1.5, 3.0)),
                                         (1, 1, 1, 0, (0.1, 0.95), (2.5, 1.5))):
        t[n, i, j, b, :4] = [yo._logit(fx), yo._logit(fy), np.log(w / 8), np.log(h / 8)]
    case.preds_nhwbk = [t.astype(np.float32).astype(np.float64)]
    return yo.condition(case, rng, "float32")


def case_and_oracle(kind, seed, layout, norm, fmt="float32"):
    key = (kind, seed, layout, norm, fmt)
    if key not in _cache:
        case = separated_case(kind, layout, norm) if seed == SEPARATED else \
            yo.random_case(seed, layout, norm, fmt, box_loss=kind)
        _cache[key] = (case, yo.compute(case))
    return _cache[key]


@pytest.mark.parametrize("layout,norm", COMBOS)
@pytest.mark.parametrize("seed", SEEDS + [SEPARATED])
@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_float64_autograd(kind, seed, layout, norm):
    case, o = case_and_oracle(kind, seed, layout, norm)
    res, grads = run(case, "reference")
    what = f"reference {kind} {case.name}"
    check_reference_results(res, o, what)
    for h, (g, want) in enumerate(zip(grads, o["grads"])):
        gscale = np.abs(want).max() if want.size else 0.0
        bound = (2.0 ** -24 + REL) * np.maximum(np.abs(want), 1e-12 * gscale)
        err = np.abs(g.astype(np.float64) - want)
        bad = np.nonzero(err > bound)[0]
        assert bad.size == 0, (f"{what}: head {h}: {bad.size} gradient entries off, first "
                               f"{bad[0]}: {g[bad[0]]!r} vs {want[bad[0]]!r}")
    check_untouched_are_zero(grads, o, what)


@pytest.mark.parametrize("variant", [v for v in regionloss.variants() if v != "reference"])
def test_every_variant_within_the_stated_tolerance(variant):
    tol = tolerance()
    rel, tabs, floor = tol["RL_TOL_REL"], tol["RL_TOL_ABS"], tol["RL_TOL_FLOOR"]
    for kind in KINDS:
        for seed in SEEDS + [SEPARATED]:
            for layout, norm in COMBOS:
                case, o = case_and_oracle(kind, seed, layout, norm)
                what = f"{variant} {kind} {case.name}"
                res, grads = run(case, variant)
                check_variant_results(case, res, o, what, tol)
                for h, (g, r) in enumerate(zip(grads, o["grads"])):
                    want = r.astype(np.float32).astype(np.float64)
                    bound = rel * np.abs(want) + tabs * entry_scale(case, h, o["D"]) + floor
                    err = np.abs(g.astype(np.float64) - want)
                    bad = np.nonzero(err > bound)[0]
                    assert bad.size == 0, (f"{what}: head {h}: {bad.size} gradient entries "
                                           f"off, first {bad[0]}: {g[bad[0]]!r} vs "
                                           f"{want[bad[0]]!r} (bound {bound[bad[0]]:.3g})")
                check_untouched_are_zero(grads, o, what)


@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
@pytest.mark.parametrize("variant", HALF_VARIANTS)
def test_half_predictions_match_float64_autograd(variant, fmt):
    tol = tolerance()
    for kind in KINDS:
        for seed in SEEDS[:2]:
            case, o = case_and_oracle(kind, seed, "nhwc", "images", fmt)
            what = f"{variant} {kind} {case.name}"
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


@pytest.mark.parametrize("kind", KINDS)
def test_threads_give_the_same_numbers(kind):
    case, _ = case_and_oracle(kind, SEEDS[2], "nchw", "sum")
    args, kw = case.plan_args()
    for variant in [v for v in regionloss.variants() if v != "reference"]:
        one = regionloss.YoloPlan(*args, variant=variant, **kw)
        many = regionloss.YoloPlan(*args, variant=variant, threads=3, **kw)
        res, grads = one.compute(case.preds(), case.target_list())
        res3, grads3 = many.compute(case.preds(), case.target_list())
        assert res3 == res, variant
        assert all(np.array_equal(a, b) for a, b in zip(grads, grads3)), variant


def test_each_kind_is_its_own_loss():
    """One network under each box loss: the box part differs from mse's
    and between kinds (the option reaches the library) and is ordered as
    the penalties make it (1 - IoU <= 1 - GIoU, 1 - IoU <= 1 - DIoU <=
    1 - CIoU); every other part and count is the same."""
    base = yo.random_case(SEEDS[0], "nchw", "images")
    coords, first = {}, None
    for kind in ("mse",) + KINDS:
        base.box_loss = kind
        res, _ = run(base, "reference")
        coords[kind] = res.coord
        first = first or res
        for k in ("cls", "obj", "noobj", "n_obj", "n_noobj", "sum_iou"):
            assert getattr(res, k) == getattr(first, k), (kind, k)
    assert first.n_obj > 0
    assert len(set(coords.values())) == len(coords), coords
    assert coords["iou"] < coords["giou"], coords
    assert coords["iou"] < coords["diou"] < coords["ciou"], coords


def test_the_cases_are_not_vacuous():
    """Positives whose box overlaps its truth and positives whose box
    misses it (IoU 0: only GIoU's, DIoU's and CIoU's penalties pull), and
    CIoU's aspect-ratio term at work (v > 0, so alpha > 0)."""
    seen = dict(overlapping=0, missing=0, aspect=0)
    for seed in SEEDS + [SEPARATED]:
        for layout, norm in COMBOS:
            case, o = case_and_oracle("ciou", seed, layout, norm)
            for h, r in enumerate(o["heads"]):
                pos = r["pos"]
                _, _, box, _, _, _, boxes = yo.assign(case, h, torch.tensor(case.preds_nhwbk[h]))
                p, g = boxes[pos], box[..., :4][pos]
                ious = yo.iou(p, g)
                seen["overlapping"] += int((ious > 0).sum())
                seen["missing"] += int((ious == 0).sum())
                v = torch.atan(g[:, 2] / g[:, 3]) - torch.atan(p[:, 2] / p[:, 3])
                seen["aspect"] += int((v != 0).sum())
    print(seen)
    assert all(v > 0 for v in seen.values()), seen


@pytest.mark.parametrize("kind", KINDS)
def test_module_gives_the_plans_numbers(kind):
    """YoloLoss(box_loss=kind): YoloPlan's loss and every head's gradient,
    bit for bit (the module passes the option on)."""
    from regionloss.torch import YoloLoss
    case, _ = case_and_oracle(kind, SEEDS[1], "nchw", "images")
    args, kw = case.plan_args()
    anchors, C, heads, net = args
    res, grads = run(case, "generic")
    kw.pop("layout")
    crit = YoloLoss(anchors, C, [m for _, _, m in heads], net, variant="generic", **kw)
    assert crit.box_loss == kind and f"box_loss='{kind}'" in repr(crit)
    outs = [torch.tensor(p, requires_grad=True) for p in case.preds()]
    loss = crit(outs, case.target_rows())
    loss.backward()
    assert float(loss.detach()) == np.float32(res.loss)
    assert crit.last.coord == res.coord
    for o, g in zip(outs, grads):
        assert np.array_equal(o.grad.numpy().reshape(-1), g)
