"""regionloss.torch.YoloLoss: its gradient against central finite
differences of its own loss and against the float64 autograd oracle,
grad_output, crit.last (a Result per head and the total), the grid read
from each output, net_size per call, darknet's defaults, eval and no_grad,
heads that need no gradient, half outputs, the gradient buffers, the
float32 row-tensor targets; overflow, and backward more than once over a
graph."""
import math
import warnings

import numpy as np
import pytest

from conftest import HALF_VARIANTS, need_torch, tolerance

torch = need_torch()
import regionloss  # noqa: E402
import yolo_oracle as yo  # noqa: E402
from regionloss.torch import YoloLoss  # noqa: E402

# a small network: three heads on a 96 x 64 input (strides 32, 16, 8)
ANCHORS = [(8, 10), (14, 24), (30, 18), (26, 44), (52, 40), (70, 58)]
MASKS = [[4, 5], [2, 3], [0, 1]]
NET = (96, 64)
GRIDS = [(2, 3), (4, 6), (8, 12)]
C = 3


def outputs(seed, n=2, dtype=torch.float32, grids=GRIDS):
    rng = np.random.default_rng(seed)
    outs = []
    for (H, W), m in zip(grids, MASKS):
        a = rng.uniform(-2, 2, (n, len(m) * (5 + C), H, W)).astype(np.float32)
        a[:, 4::5 + C] -= 1.0
        outs.append(torch.tensor(a, dtype=dtype, requires_grad=True))
    return outs


def targets(seed, n=2):
    rng = np.random.default_rng(seed + 100)
    rows = []
    for k in range(n):
        for _ in range(3):
            rows.append([k, rng.integers(C), rng.uniform(0, 1), rng.uniform(0, 1),
                         rng.uniform(0.05, 0.8), rng.uniform(0.05, 0.8)])
    return torch.tensor(rows)


def plan_for(crit, grids=GRIDS, **kw):
    heads = [(H, W, m) for (H, W), m in zip(grids, MASKS)]
    cfg = dict(crit.config)
    cfg.update(kw)
    return regionloss.YoloPlan(ANCHORS, C, heads, crit.net_size, **cfg)


# ---- the gradient --------------------------------------------------------------------------

FD_CONFIGS = [
    ("images, reference", dict(variant="reference")),
    ("sum, truth_thresh, lambdas", dict(norm="sum", ignore_thresh=0.4, truth_thresh=0.75,
                                        lambda_coord=2.0, lambda_class=0.5, lambda_obj=3.0,
                                        lambda_noobj=0.25)),
    ("nhwc, ignore 0.5", dict(layout="nhwc", ignore_thresh=0.5)),
]


@pytest.mark.parametrize("name,cfg", FD_CONFIGS, ids=[c[0] for c in FD_CONFIGS])
def test_gradient_against_finite_differences(name, cfg):
    """Every entry of every head, central differences of the module's own
    loss (crit.last.loss, a double).  The float variants' per-slot terms
    are float (docs/numerics.md): a step of 2^-8 keeps their rounding
    (~1e-7 of a term) below 1e-5 of the derivative, and the truncation
    (h^2/6 times the third derivative) too; the case keeps every decision
    5e-3 away from its threshold so that no step moves one."""
    layout = cfg.get("layout", "nchw")
    norm = cfg.get("norm", "images")
    th = (cfg.get("ignore_thresh", 0.7), cfg.get("truth_thresh", 1.0))
    case = yo.random_case(7, layout, norm, heads=3, n_images=2, thresholds=th, margin=5e-3,
                          net=(64, 64))
    lam = (cfg.get("lambda_coord", 1.0), cfg.get("lambda_class", 1.0),
           cfg.get("lambda_obj", 1.0), cfg.get("lambda_noobj", 1.0))
    case.lambdas = lam
    args, kw = case.plan_args()
    crit = YoloLoss(case.anchors, case.C, [m for _, _, m in case.heads], case.net,
                    variant=cfg.get("variant", "auto"), **kw)
    outs = [torch.tensor(p, requires_grad=True) for p in case.preds()]
    t = case.target_list()
    crit(outs, t).backward()
    base = crit.last
    assert base.n_obj > 0 and base.n_noobj > 0
    if th[1] < 1:  # the case has positives of truth_thresh alone
        matched = {(n, h, i, j, b) for h in range(3)
                   for n, lst in enumerate(yo.matches(case, h)) for _, i, j, b in lst}
        assert base.n_obj > len(matched)
    crit.eval()
    h = 2.0 ** -8  # exact in float32 for these magnitudes: x + h - (x - h) = 2h
    worst, checked = 0.0, 0
    for k, o in enumerate(outs):
        x = o.detach().clone()
        flat = x.view(-1)
        others = [p.detach() for p in outs]
        g = o.grad.view(-1).double()
        fd = torch.empty(flat.numel(), dtype=torch.float64)
        for e in range(flat.numel()):
            v = float(flat[e])
            flat[e] = v + h
            others[k] = x
            crit(others, t)
            lp = crit.last
            flat[e] = v - h
            crit(others, t)
            lm = crit.last
            flat[e] = v
            assert (lp.n_obj, lp.n_noobj, lm.n_obj, lm.n_noobj) == \
                (base.n_obj, base.n_noobj) * 2, f"head {k} entry {e} moves a decision"
            fd[e] = (lp.loss - lm.loss) / (2 * h)
        scale = float(g.abs().max())
        err = float((fd - g).abs().max())
        # 1e-4 of the largest entry covers truncation and rounding, and no
        # wrong term (which is O(1) of an entry)
        assert err <= 1e-4 * scale, f"head {k}: worst error {err:.3g} (scale {scale:.3g})"
        worst = max(worst, err / scale)
        checked += int((g != 0).sum())
    assert checked > 50
    print(f"{name}: {checked} nonzero entries, worst relative error {worst:.2g}")


def test_module_matches_float64_autograd():
    """The module's loss, parts and gradient are the oracle's (the float
    bound of docs/numerics.md, as for YoloPlan)."""
    tol = tolerance()
    for seed, layout, norm in [(31, "nchw", "images"), (32, "nhwc", "sum")]:
        case = yo.random_case(seed, layout, norm)
        o = yo.compute(case)
        args, kw = case.plan_args()
        crit = YoloLoss(case.anchors, case.C, [m for _, _, m in case.heads], case.net, **kw)
        outs = [torch.tensor(p, requires_grad=True) for p in case.preds()]
        loss = crit(outs, case.target_list())
        loss.backward()
        T = o["total"]
        assert float(loss) == pytest.approx(T["loss"], rel=1e-5)
        for k in ("coord", "cls", "obj", "noobj"):
            assert getattr(crit.last, k) == pytest.approx(T[k], rel=1e-5, abs=1e-6 * T["loss"])
        assert (crit.last.n_obj, crit.last.n_noobj) == (T["n_obj"], T["n_noobj"])
        for h, (x, r) in enumerate(zip(outs, o["grads"])):
            g = x.grad.reshape(-1).double().numpy()
            bound = tol["RL_TOL_REL"] * np.abs(r) + 2e-6 * np.abs(r).max() + 1e-7
            assert np.all(np.abs(g - r) <= bound), f"{case.name} head {h}"


def test_backward_is_the_library_gradient_times_grad_output():
    outs, t = outputs(1), targets(1)
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    res, grads = plan_for(crit).compute([o.detach() for o in outs], t.numpy())
    crit(outs, t).backward()
    assert crit.last == res
    for o, g in zip(outs, grads):
        assert torch.equal(o.grad, g)  # exactly: grad_output is 1
        o.grad = None
    (crit(outs, t) * 3.0).backward()
    for o, g in zip(outs, grads):
        assert torch.equal(o.grad, g * 3.0)
        o.grad = None
    (crit(outs, t) * 0.0).backward()
    assert not any(o.grad.any() for o in outs)


def test_last_holds_every_head_and_the_total():
    outs, t = outputs(2), targets(2)
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    loss = crit(outs, t)
    r = crit.last
    assert isinstance(r, regionloss.YoloResult) and isinstance(r, regionloss.Result)
    assert len(r.heads) == 3 and all(isinstance(h, regionloss.Result) for h in r.heads)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert float(loss) == pytest.approx(r.loss, rel=1e-7)
    for k in ("loss", "coord", "cls", "obj", "noobj", "sum_iou", "sum_obj", "sum_noobj"):
        assert getattr(r, k) == pytest.approx(sum(getattr(h, k) for h in r.heads), rel=1e-14)
    for k in ("n_obj", "n_noobj", "n_conf", "n_recall50", "n_recall75"):
        assert getattr(r, k) == sum(getattr(h, k) for h in r.heads)
    assert r.n_truths == len(t) and all(h.n_truths == len(t) for h in r.heads)
    assert r.darknet.count == sum(h.darknet.count for h in r.heads)
    assert r.darknet.cost == pytest.approx(sum(h.darknet.cost for h in r.heads), rel=1e-14)
    assert r.warmup == 0 and r.variant == crit._plan(tuple(GRIDS), NET).variant
    d = r.as_dict()
    assert len(d["heads"]) == 3 and d["heads"][0]["darknet"]["count"] == r.heads[0].darknet.count


def test_darknet_defaults():
    """yolov3.cfg's [yolo] settings unless told otherwise: ignore_thresh
    .7, truth_thresh 1, every scale 1; the normalisation by images."""
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    plan = crit._plan(tuple(GRIDS), NET)
    assert (plan.ignore_thresh, plan.truth_thresh, plan.norm) == (0.7, 1.0, "images")
    assert plan.lambdas == (1.0, 1.0, 1.0, 1.0) and plan.layout == "nchw"
    assert crit.norm == "images" and crit.net_size == NET
    assert YoloLoss(ANCHORS, C, MASKS, 416).net_size == (416, 416)


def test_grid_from_each_output_and_net_size_per_call():
    """Multi-scale training: the grids come from the outputs, the network's
    size from the constructor or the call; a plan per grids and size."""
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    t = targets(3)
    for grids, net in [(GRIDS, None), ([(3, 4), (6, 8), (12, 16)], (128, 96)), (GRIDS, None)]:
        outs = outputs(3, grids=grids)
        loss = crit(outs, t, net_size=net)
        loss.backward()
        want, _ = plan_for(crit, grids=grids).compute([o.detach() for o in outs], t.numpy()) \
            if net is None else \
            regionloss.YoloPlan(ANCHORS, C, [(H, W, m) for (H, W), m in zip(grids, MASKS)],
                                net).compute([o.detach() for o in outs], t.numpy())
        assert crit.last == want
        assert all(o.grad.shape == o.shape for o in outs)
    assert sorted(crit._plans) == sorted([(((1, 1),) * 3, NET), (tuple(GRIDS), NET),
                                          (((3, 4), (6, 8), (12, 16)), (128, 96))])
    # the network's size matters: the anchors are in its pixels
    outs = outputs(3)
    a = float(crit(outs, t))
    b = float(crit(outs, t, net_size=(192, 128)))
    assert a != b


def test_eval_no_grad_and_heads_without_gradient():
    outs, t = outputs(4), targets(4)
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    train = crit(outs, t)
    crit.eval()
    ev = crit(outs, t)
    assert ev.grad_fn is None and float(ev) == float(train)
    crit.train()
    with torch.no_grad():
        ng = crit(outs, t)
    assert ng.grad_fn is None and float(ng) == float(train)
    # one head frozen: the others get their gradients, it none
    _, grads = plan_for(crit).compute([o.detach() for o in outs], t.numpy())
    part = [outs[0], outs[1].detach(), outs[2]]
    crit(part, t).backward()
    assert outs[1].grad is None
    assert torch.equal(outs[0].grad, grads[0]) and torch.equal(outs[2].grad, grads[2])
    loss = crit([o.detach() for o in outs], t)
    assert loss.grad_fn is None and float(loss) == float(train)


def test_row_tensor_list_and_targets_agree_and_a_bad_row_changes_nothing():
    outs, t = outputs(5), targets(5)
    t32 = t.float()
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    exact = regionloss.Targets.from_rows(t32.numpy().astype(np.float64), 2)
    per_image = [t32[t32[:, 0] == k][:, 1:] for k in range(2)]
    got = []
    for tg in (t32, exact, per_image, t32.numpy()):
        for o in outs:
            o.grad = None
        crit(outs, tg).backward()
        got.append((crit.last, [o.grad.clone() for o in outs]))
    for r, g in got[1:]:
        assert r == got[0][0] and all(torch.equal(a, b) for a, b in zip(g, got[0][1]))
    last = crit.last
    bad = t32.clone()
    bad[2, 0] = 2  # image 2 of a 2-image batch
    with pytest.raises(ValueError, match=r"targets row 2: image index = 2.0 is not an integer"):
        crit(outs, bad)
    assert crit.last is last
    bad[2, 0] = 1
    bad[2, 1] = C
    with pytest.raises(regionloss.Error, match=r"class 3 is not in \[0, 3\)"):
        crit(outs, bad)
    assert crit.last is last


def test_gradient_buffers_reused_only_when_nothing_holds_them():
    torch.manual_seed(0)
    convs = [torch.nn.Conv2d(3, len(m) * (5 + C), 1) for m in MASKS]
    imgs = [torch.randn(2, 3, H, W) for H, W in GRIDS]
    t = targets(6)
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    seen = set()
    for _ in range(4):
        for c in convs:
            c.zero_grad()
        crit([c(x) for c, x in zip(convs, imgs)], t).backward()
        seen.add(tuple(b.ctypes.data for b in crit._grad_bufs))
    assert len(seen) == 1
    kept = []
    outs = [c(x) for c, x in zip(convs, imgs)]
    outs[1].register_hook(lambda g: kept.append(g))
    crit(outs, t).backward()
    snapshot = kept[0].clone()
    crit([c(x * 2) for c, x in zip(convs, imgs)], t).backward()
    assert torch.equal(kept[0], snapshot)


# ---- overflow, and backward more than once over a graph (issue 24) -------------------------

def test_overflow_is_inf_as_the_library_rounds_it():
    """tw = th = 1e20 on every slot: the coordinate term (tw - log(..))^2
    is 5.5e40, a double past float's range.  The float32 loss tensor is
    +inf with no error (as for RegionLoss, docs/python.md "Overflow"), and
    the call is an ordinary one: crit.last is the library's result, the
    gradient YoloPlan.compute's for the same input."""
    outs, t = outputs(1), targets(1)
    for o in outs:
        o.data.view(o.shape[0], -1, 5 + C, *o.shape[2:])[:, :, 2:4] = 1e20
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    loss = crit(outs, t)
    assert loss.dtype == torch.float32 and float(loss) == math.inf
    res, grads = plan_for(crit).compute([o.detach() for o in outs], t.numpy())
    assert crit.last == res and math.isfinite(res.loss) and res.loss > 3.5e38
    loss.backward()
    for o, g in zip(outs, grads):
        assert torch.equal(o.grad, g)


def test_backward_twice_over_a_retained_graph():
    """As RegionLoss's: the second backward of a retained graph hands every
    head the same gradient again (.grad exactly twice the library's), also
    after the module's next call in between, and with a head that needs no
    gradient (its saved gradient is None); then autograd.grad and backward
    over one graph."""
    outs, t = outputs(11), targets(11)
    crit = YoloLoss(ANCHORS, C, MASKS, NET)
    _, grads = plan_for(crit).compute([o.detach() for o in outs], t.numpy())
    part = [outs[0], outs[1].detach(), outs[2]]
    loss = crit(part, t) * 3.0
    loss.backward(retain_graph=True)
    crit(outputs(12), targets(12)).backward()  # the module's next call, the same shapes
    loss.backward()
    assert outs[1].grad is None
    for h in (0, 2):
        assert torch.equal(outs[h].grad, (grads[h] * 3.0) * 2)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    for o in outs:
        o.grad = None
    loss = crit(outs, t)
    got = torch.autograd.grad(loss, outs, retain_graph=True)
    loss.backward()
    for o, a, g in zip(outs, got, grads):
        assert torch.equal(a, g) and torch.equal(o.grad, g)
    crit(outputs(12), targets(12)).backward()
    assert all(torch.equal(a, g) for a, g in zip(got, grads))


def test_gradcheck():
    """torch.autograd.gradcheck over the three heads, in float32 (the
    module takes no float64): atol is two roundings of the float32 loss
    over 2 eps, as in test_torch_module.py's; the gradient's accuracy is
    test_gradient_against_finite_differences's."""
    outs, t = outputs(1), targets(1)
    crit = YoloLoss(ANCHORS, C, MASKS, NET, variant="reference")
    eps = 2.0 ** -10
    loss = float(crit(outs, t))
    atol = float(np.spacing(np.float32(2 * loss))) / (2 * eps)
    with warnings.catch_warnings():  # "not a double precision floating point"
        warnings.simplefilter("ignore", UserWarning)
        assert torch.autograd.gradcheck(lambda *xs: crit(list(xs), t), tuple(outs), eps=eps,
                                        atol=atol, rtol=1e-3)


# ---- half outputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", HALF_VARIANTS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_half_outputs_read_in_place_gradient_in_their_type(dtype, variant):
    outs = [o.detach().to(dtype).requires_grad_(True) for o in outputs(8)]
    t = targets(8)
    crit = YoloLoss(ANCHORS, C, MASKS, NET, variant=variant)
    loss = crit(outs, t)
    assert loss.dtype == torch.float32
    loss.backward()
    res, grads = plan_for(crit).compute([o.detach() for o in outs], t.numpy())
    assert crit.last == res
    for o, g in zip(outs, grads):
        assert o.grad.dtype == dtype and g.dtype == dtype
        assert torch.equal(o.grad.view(torch.int16), g.view(torch.int16))
    # the same numbers in float32: the same loss to the float bound, each
    # gradient entry within one unit of the type
    wide = [o.detach().float().requires_grad_(True) for o in outs]
    ref = YoloLoss(ANCHORS, C, MASKS, NET, variant=variant)
    ref(wide, t).backward()
    assert ref.last.loss == pytest.approx(crit.last.loss, rel=1e-5)
    unit = 2.0 ** -7 if dtype == torch.bfloat16 else 2.0 ** -10
    for o, w in zip(outs, wide):
        err = (o.grad.double() - w.grad.double()).abs()
        assert bool((err <= w.grad.double().abs() * unit + 2.0 ** -24).all())
