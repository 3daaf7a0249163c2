"""regionloss.torch.RegionLoss: its gradient against central finite
differences of its own loss, grad_output, the plan per grid, darknet's seen,
eval mode, crit.last."""
import math
import warnings

import numpy as np
import pytest

from conftest import HALF_VARIANTS, VOC_ANCHORS, need_torch, rows

torch = need_torch()
import regionloss  # noqa: E402
from regionloss.torch import RegionLoss  # noqa: E402

ANCHORS = [(0.8, 1.1), (2.3, 1.7)]
C = 3
H, W = 4, 5


def small_batch(seed):
    rng = np.random.default_rng(seed)
    out = torch.tensor(rng.uniform(-2, 2, (2, 2 * (5 + C), H, W)).astype(np.float32),
                       requires_grad=True)
    return out, torch.tensor(rows(rng, 2, 3, C))


def responsible_box_entries(crit, out, t):
    """Flat indices of the box channels (0..3) of responsible slots: the
    spec mode freezes the IoU target (docs/loss.md), which depends on them,
    so a finite difference of the spec loss with lambda_obj > 0 does not
    give the spec's gradient there (tested with lambda_obj = 0 instead)."""
    g = torch.zeros_like(out)
    probe = RegionLoss(ANCHORS, C, lambda_coord=1, lambda_class=0, lambda_obj=0,
                       lambda_noobj=0, variant="reference")
    x = out.detach().clone().requires_grad_(True)
    probe(x, t).backward()
    g = x.grad.view(2, 2, 5 + C, H, W)[:, :, :4]
    mask = torch.zeros(2, 2, 5 + C, H, W, dtype=torch.bool)
    mask[:, :, :4] = g != 0
    return mask.view(-1)


CONFIGS = [
    ("spec", dict()),
    ("spec lambda_obj 0", dict(lambda_obj=0.0)),
    ("spec sum", dict(norm="sum", thresh=0.3)),
    ("darknet no rescore, warm-up", dict(mode="darknet", rescore=False)),
    ("darknet logistic, images", dict(mode="darknet", rescore=False, logistic_classes=True,
                                      norm="images", seen=20000)),
]


@pytest.mark.parametrize("name,cfg", CONFIGS, ids=[c[0] for c in CONFIGS])
@pytest.mark.parametrize("seed", [1, 2])
def test_gradient_against_finite_differences(name, cfg, seed):
    out, t = small_batch(seed)
    crit = RegionLoss(ANCHORS, C, variant="reference", **cfg)
    seen0 = crit.seen
    loss = crit(out, t)
    loss.backward()
    g = out.grad.view(-1).double()
    base = crit.last
    assert base.n_obj > 0
    crit.eval()  # seen stays put: every evaluation sees the training call's warm-up
    x = out.detach().clone()
    flat = x.view(-1)
    h = 2.0 ** -10  # exact in float32 for these magnitudes: x + h - (x - h) = 2h
    fd = torch.empty(flat.numel(), dtype=torch.float64)
    for k in range(flat.numel()):
        v = float(flat[k])
        flat[k] = v + h
        crit.seen = seen0 + 2  # the same seen the training call used
        lp = (crit(x, t), crit.last)[1]
        flat[k] = v - h
        lm = (crit(x, t), crit.last)[1]
        flat[k] = v
        # the masks and counts are constants: a step that moves a decision
        # would not be a derivative
        assert (lp.n_obj, lp.n_noobj) == (base.n_obj, base.n_noobj), f"entry {k} moves a mask"
        fd[k] = (lp.loss - lm.loss) / (2 * h)
    check = torch.ones(flat.numel(), dtype=torch.bool)
    if cfg.get("mode", "spec") == "spec" and cfg.get("lambda_obj", 5.0) != 0:
        check &= ~responsible_box_entries(crit, out, t)
    scale = float(g.abs().max())
    # central differences err by O(h^2) times the third derivative: 1e-4 of
    # the largest entry leaves room for it and for the float gradient's
    # rounding, and none for a wrong term (which is O(1) of an entry)
    err = (fd - g).abs()[check]
    assert float(err.max()) <= 1e-4 * scale + 1e-5 * float(g.abs()[check].max()), \
        f"worst finite-difference error {float(err.max()):.3g} (scale {scale:.3g})"
    assert int((g[check] != 0).sum()) > 10  # not vacuous


def test_backward_is_the_library_gradient_times_grad_output():
    out, t = small_batch(3)
    crit = RegionLoss(ANCHORS, C)
    p = regionloss.Plan(ANCHORS, C, (H, W))
    res, g = p.compute(out.detach().numpy(), t.numpy())
    crit(out, t).backward()
    assert np.array_equal(out.grad.numpy(), g)  # exactly: grad_output is 1
    assert crit.last == res
    out.grad = None
    (crit(out, t) * 3.0).backward()
    assert torch.equal(out.grad, torch.from_numpy(g) * 3.0)
    out.grad = None
    (crit(out, t) * 0.0).backward()
    assert not out.grad.any()


def test_loss_tensor_and_grid_from_each_output():
    crit = RegionLoss(VOC_ANCHORS, 20)
    rng = np.random.default_rng(0)
    for h, w in [(13, 13), (7, 9), (13, 13)]:
        out = torch.tensor(rng.standard_normal((2, 125, h, w)).astype(np.float32),
                           requires_grad=True)
        loss = crit(out, torch.tensor(rows(rng, 2, 4, 20)))
        assert loss.dtype == torch.float32 and loss.dim() == 0
        assert loss.item() == pytest.approx(crit.last.loss, rel=1e-7)
        loss.backward()
        assert out.grad.shape == out.shape
    assert sorted(crit._plans) == [(1, 1), (7, 9), (13, 13)]


def test_nhwc_module_matches_nchw():
    rng = np.random.default_rng(4)
    out = rng.standard_normal((3, 125, 13, 13)).astype(np.float32)
    t = torch.tensor(rows(rng, 3, 5, 20))
    a = torch.tensor(out, requires_grad=True)
    nhwc = np.ascontiguousarray(out.reshape(3, 5, 25, 13, 13).transpose(0, 3, 4, 1, 2))
    b = torch.tensor(nhwc.reshape(3, 13, 13, 125), requires_grad=True)
    la = RegionLoss(VOC_ANCHORS, 20)(a, t)
    lb = RegionLoss(VOC_ANCHORS, 20, layout="nhwc")(b, t)
    la.backward()
    lb.backward()
    assert float(la) == pytest.approx(float(lb), rel=1e-6)
    back = b.grad.view(3, 13, 13, 5, 25).permute(0, 3, 4, 1, 2).reshape(3, 125, 13, 13)
    assert torch.allclose(a.grad, back, rtol=1e-5, atol=1e-7)


def test_darknet_seen_like_darknet():
    out, t = small_batch(5)
    crit = RegionLoss(ANCHORS, C, mode="darknet", warmup_seen=6)
    assert crit.seen == 0
    crit(out, t)
    assert crit.seen == 2 and crit.last.warmup > 0  # net.seen += batch, then forward
    crit(out, t)
    assert crit.seen == 4 and crit.last.warmup > 0
    crit(out, t)  # seen 6 = warmup_seen: the warm-up is over
    assert crit.seen == 6 and crit.last.warmup == 0
    crit.seen = 0  # settable, e.g. when resuming
    crit(out, t)
    assert crit.seen == 2 and crit.last.warmup > 0
    crit.eval()
    loss = crit(out, t)
    assert crit.seen == 2  # eval does not count images
    assert loss.grad_fn is None and not loss.requires_grad


def test_eval_and_no_grad_compute_without_gradient():
    out, t = small_batch(6)
    crit = RegionLoss(ANCHORS, C)
    train_loss = crit(out, t)
    crit.eval()
    ev = crit(out, t)
    assert ev.grad_fn is None and float(ev) == float(train_loss)
    crit.train()
    with torch.no_grad():
        ng = crit(out, t)
    assert ng.grad_fn is None and float(ng) == float(train_loss)


def test_module_configuration_errors():
    with pytest.raises(ValueError, match="accumulat"):
        RegionLoss(ANCHORS, C, grad_mode="accumulate")
    with pytest.raises(TypeError, match="grid"):
        RegionLoss(ANCHORS, C, grid=(4, 5))
    with pytest.raises(regionloss.Error) as e:
        RegionLoss(ANCHORS, C, lambda_coord=float("nan"))
    assert e.value.status == "RL_ERR_BAD_LAMBDA"
    with pytest.raises(RuntimeError, match="not initialised"):
        out, t = small_batch(7)
        RegionLoss(ANCHORS, C, distributed=True)(out, t)


def test_gradient_buffer_reused_only_when_nothing_holds_it():
    """The module writes each gradient into a buffer it keeps; a gradient
    some tensor still holds (a hook's copy, a leaf's .grad) is never
    overwritten by the next call."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2 * (5 + C), 1)
    img = torch.randn(2, 3, H, W)
    t = small_batch(8)[1]
    crit = RegionLoss(ANCHORS, C)
    bufs = set()
    for _ in range(4):  # a training loop: the gradient is consumed by conv's backward
        conv.zero_grad()
        crit(conv(img), t).backward()
        bufs.add(crit._grad_buf.ctypes.data)
    assert len(bufs) == 1
    kept = []
    o = conv(img)
    o.register_hook(lambda g: kept.append(g))
    crit(o, t).backward()
    snapshot = kept[0].clone()
    crit(conv(img * 2), t).backward()  # must not write into kept[0]
    assert torch.equal(kept[0], snapshot)
    assert crit._grad_buf.ctypes.data != kept[0].data_ptr()
    leaf, _ = small_batch(9)
    crit(leaf, t).backward()
    first = leaf.grad.clone()
    crit(leaf.detach().clone().requires_grad_(True), t).backward()
    assert torch.equal(leaf.grad, first)


# ---- overflow, and backward more than once over a graph (issue 24) -------------------------

def far_out(tw, seed=1):
    """small_batch with tw = th = tw on every slot: boxes of exp(tw)
    anchors, whose squared size (the spec's coordinate term) or squared tw
    (darknet's) leaves float's range."""
    out, t = small_batch(seed)
    out.data.view(2, 2, 5 + C, H, W)[:, :, 2:4] = tw
    return out, t


@pytest.mark.parametrize("mode,tw,finite", [
    ("spec", 45.0, True),       # the loss 8.7e39: a double, past float's 3.4e38
    ("spec", 1e4, False),       # past double's range too: the library's loss is inf
    ("darknet", 1e20, True),    # 1.2e41 (tw^2); the gradient finite, seen moves on
])
def test_overflow_is_inf_as_the_library_rounds_it(mode, tw, finite):
    """A loss past float's range is +inf in the float32 loss tensor, with
    no error: IEEE's rounding, the one the library applies to its float
    gradient entries past that range (docs/numerics.md, "The edges of
    float").  The call is an ordinary one: crit.last is the library's
    result (its double loss), seen moves on, and loss and gradient are
    Plan.compute's for the same input."""
    out, t = far_out(tw)
    darknet = mode == "darknet"
    crit = RegionLoss(ANCHORS, C, mode=mode, seen=10 if darknet else 0)
    loss = crit(out, t)
    assert loss.dtype == torch.float32 and float(loss) == math.inf
    plan = regionloss.Plan(ANCHORS, C, (H, W), mode=mode)
    res, g = plan.compute(out.detach(), t.numpy(), seen=12 if darknet else None)
    assert crit.last == res and res.loss > 3.5e38 and math.isfinite(res.loss) == finite
    assert crit.seen == (12 if darknet else 0)
    loss.backward()
    assert torch.equal(out.grad, g)  # the same entries, the infinite ones included
    assert bool(torch.isinf(g).any()) == (not darknet) and not bool(torch.isnan(g).any())
    # the same numbers once more through a module that has run before
    out.grad = None
    crit.seen = 10 if darknet else 0
    crit(out, t).backward()
    assert crit.last == res and torch.equal(out.grad, g)


def test_loss_tensor_rounds_to_float32_as_ieee_does():
    """The double loss becomes the float32 tensor as float64 -> float32
    rounds (to nearest, ties to even, +-inf past the range), including
    the doubles just past FLT_MAX that still round to it, where
    torch.scalar_tensor raises instead."""
    from regionloss.torch import _loss_tensor
    f32max = float(np.finfo(np.float32).max)
    edge = 2.0 ** 128 - 2.0 ** 103  # FLT_MAX + half its unit: rounds (to even) up
    for v in [0.0, 1.5, 1e-45, 1e30, f32max, np.nextafter(f32max, math.inf),
              np.nextafter(edge, 0.0), edge, 1e39, 1e300, math.inf]:
        for x in (float(v), -float(v)):
            want = torch.tensor(x, dtype=torch.float64).to(torch.float32)
            got = _loss_tensor(x)
            assert got.dtype == torch.float32 and got.dim() == 0
            assert torch.equal(got, want), (x, got, want)
    assert math.isnan(float(_loss_tensor(math.nan)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_backward_twice_over_a_retained_graph(dtype):
    """loss.backward(retain_graph=True), then loss.backward(): the second
    pass hands on the same gradient, accumulated into .grad as autograd
    does (exactly twice the library's), even after the module's next call
    in between (which must not write into the gradient the retained graph
    holds); grad_output != 1 too.  Without retain_graph a second backward
    is autograd's usual error."""
    out32, t = small_batch(31)
    out = out32.detach().to(dtype).requires_grad_(True)
    crit = RegionLoss(ANCHORS, C)
    g = regionloss.Plan(ANCHORS, C, (H, W)).compute(out.detach(), t.numpy())[1]
    loss = crit(out, t)
    loss.backward(retain_graph=True)
    assert torch.equal(out.grad, g)
    other, t2 = small_batch(32)  # the module's next call, same shape and dtype
    crit(other.detach().to(dtype).requires_grad_(True), t2).backward()
    loss.backward()
    assert torch.equal(out.grad, g * 2)
    out.grad = None
    loss3 = crit(out, t) * 3.0
    loss3.backward(retain_graph=True)
    loss3.backward()
    assert torch.equal(out.grad, (g * 3.0) * 2)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss3.backward()


def test_autograd_grad_then_backward():
    """torch.autograd.grad(loss, out, retain_graph=True), then
    loss.backward(): both the library's gradient; the tensor autograd.grad
    returned is not written by the backward or by the module's next call."""
    out, t = small_batch(33)
    crit = RegionLoss(ANCHORS, C)
    g = regionloss.Plan(ANCHORS, C, (H, W)).compute(out.detach(), t.numpy())[1]
    loss = crit(out, t)
    ga, = torch.autograd.grad(loss, out, retain_graph=True)
    assert torch.equal(ga, g)
    loss.backward()
    assert torch.equal(out.grad, g) and torch.equal(ga, g)
    crit(out.detach().clone().requires_grad_(True), t).backward()
    assert torch.equal(ga, g) and torch.equal(out.grad, g)


def test_single_backward_hands_the_gradient_over_without_a_copy():
    """The common step (one backward, the graph not retained) keeps the
    fast path: autograd frees the saved gradient before it reaches the
    leaf, so the leaf's .grad is the module's buffer itself, not a copy;
    and the buffer is reused by the next step even while the previous
    step's loss tensor is still alive (a loop's `loss` variable)."""
    out, t = small_batch(34)
    crit = RegionLoss(ANCHORS, C)
    crit(out, t).backward()
    assert out.grad.data_ptr() == crit._grad_buf.ctypes.data
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2 * (5 + C), 1)
    img = torch.randn(2, 3, H, W)
    bufs = set()
    for _ in range(4):
        conv.zero_grad()
        loss = crit(conv(img), t)  # the previous loss lives until this assignment
        loss.backward()
        bufs.add(crit._grad_buf.ctypes.data)
    assert len(bufs) == 1


@pytest.mark.parametrize("cfg", [dict(lambda_obj=0.0),
                                 dict(mode="darknet", rescore=False, seen=20000)],
                         ids=["spec lambda_obj 0", "darknet"])
def test_gradcheck(cfg):
    """torch.autograd.gradcheck, which uses one graph for several backward
    passes (two must agree bit for bit) and an undefined grad_output.  The
    module takes no float64 (docs/python.md: it refuses a silent
    rounding), so gradcheck runs in float32: its numerical Jacobian
    differentiates the float32 loss tensor, each entry off by up to two
    roundings of it over 2 eps, which is atol (the gradient's accuracy is
    test_gradient_against_finite_differences's, on the double
    crit.last.loss).  Configurations whose finite differences are the
    gradient (no frozen IoU target, as there)."""
    out, t = small_batch(1)
    crit = RegionLoss(ANCHORS, C, variant="reference", **cfg)
    eps = 2.0 ** -10
    loss = float(crit(out, t))
    atol = float(np.spacing(np.float32(2 * loss))) / (2 * eps)
    with warnings.catch_warnings():  # "not a double precision floating point"
        warnings.simplefilter("ignore", UserWarning)
        assert torch.autograd.gradcheck(lambda x: crit(x, t), (out,), eps=eps, atol=atol,
                                        rtol=1e-3)


def test_float32_row_tensors_take_the_library_conversion():
    """An (M, 6) float32 tensor is converted by rl_truths_from_rows straight
    from its memory; the result is the same, bit for bit, as through
    regionloss.Targets (float64 rows, numpy), rows in any image order, and a
    bad row gets the same message with nothing moved on."""
    out, t = small_batch(12)
    t32 = t.float()
    exact = regionloss.Targets.from_rows(t32.numpy().astype(np.float64), 2)
    crit = RegionLoss(ANCHORS, C)
    results = []
    for targets in (t32, exact, t32.flip(0).contiguous(), t32):
        out.grad = None
        crit(out, targets).backward()
        results.append((crit.last.loss, out.grad.clone()))
    # reversed rows change the order of an image's truths: only the first,
    # second and last calls must agree bit for bit
    for loss, grad in (results[1], results[3]):
        assert loss == results[0][0] and torch.equal(grad, results[0][1])
    crit = RegionLoss(ANCHORS, C, mode="darknet", seen=10)
    ref = RegionLoss(ANCHORS, C, mode="darknet", seen=10)
    x = out.detach().clone().requires_grad_(True)
    ref(x, exact).backward()
    x2 = out.detach().clone().requires_grad_(True)
    crit.seen = 10
    crit(x2, t32).backward()
    assert crit.last == ref.last and torch.equal(x.grad, x2.grad)
    bad = t32.clone()
    bad[3, 0] = 2  # image 2 of a 2-image batch
    last, seen = crit.last, crit.seen
    with pytest.raises(ValueError, match=r"targets row 3: image index = 2.0 is not an integer"):
        crit(out, bad)
    assert crit.last is last and crit.seen == seen
    bad[3, 0] = 1
    bad[3, 1] = C  # class out of [0, C): the library's check, naming image and truth
    with pytest.raises(regionloss.Error, match=r"class 3 is not in \[0, 3\)"):
        crit(out, bad)
    assert crit.last is last and crit.seen == seen


# ---- half-precision outputs (issue 17) ---------------------------------------------------

HALF_TORCH = [torch.bfloat16, torch.float16]


def half_bits(x):
    """A half tensor's bits as an int16 numpy array (numpy has no bfloat16)."""
    return x.detach().view(torch.int16).numpy()


@pytest.mark.parametrize("variant", HALF_VARIANTS)
@pytest.mark.parametrize("dtype", HALF_TORCH, ids=["bf16", "f16"])
def test_half_outputs_read_in_place_gradient_in_their_type(dtype, variant):
    """A bfloat16 or float16 output is read as it is (no conversion) and its
    gradient comes back in its type: the library's, bit for bit, as
    Plan.compute gives it for the same tensor; the loss is float32."""
    out32, t = small_batch(21)
    out = out32.detach().to(dtype).requires_grad_(True)
    crit = RegionLoss(ANCHORS, C, variant=variant)
    loss = crit(out, t)
    assert loss.dtype == torch.float32 and float(loss) == pytest.approx(crit.last.loss, rel=1e-7)
    loss.backward()
    assert out.grad.dtype == dtype and out.grad.shape == out.shape
    plan = regionloss.Plan(ANCHORS, C, (H, W), variant=variant)
    res, g = plan.compute(out.detach(), t.numpy())
    assert g.dtype == dtype and crit.last == res
    assert np.array_equal(half_bits(out.grad), half_bits(g))
    # grad_output != 1 multiplies (in the half type, as autograd would)
    out.grad = None
    (crit(out, t) * 3.0).backward()
    assert torch.equal(out.grad, g * 3.0)
    # the same numbers in float32: the same loss (the reference exactly; the
    # others within the float bound), a gradient within one unit of the type
    wide = out.detach().float().requires_grad_(True)
    ref = RegionLoss(ANCHORS, C, variant="reference")
    ref(wide, t).backward()
    if variant == "reference":
        assert ref.last.loss == crit.last.loss
    else:
        assert ref.last.loss == pytest.approx(crit.last.loss, rel=1e-5)
    unit = 2.0 ** -7 if dtype == torch.bfloat16 else 2.0 ** -10
    err = (out.grad.double() / 3 - wide.grad.double()).abs()
    assert bool((err <= wide.grad.double().abs() * unit + 2.0 ** -24).all())


def test_half_outputs_share_the_module_with_float32():
    """One module, outputs of every type and two grids: a library plan per
    grid and type, a validation per shape and type, the gradient buffer
    reused within a type (bfloat16: a uint16 buffer viewed as bfloat16) and
    never overwritten while a tensor holds it."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 2 * (5 + C), 1)
    img = torch.randn(2, 3, H, W)
    t = small_batch(22)[1]
    crit = RegionLoss(ANCHORS, C, variant="generic")
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.bfloat16):
        bufs = set()
        for _ in range(3):
            conv.zero_grad()
            o = conv(img).to(dtype)   # to(): autograd carries the gradient to conv
            crit(o, t).backward()
            assert conv.weight.grad is not None and conv.weight.grad.dtype == torch.float32
            bufs.add(crit._grad_buf.ctypes.data)
        assert len(bufs) == 1 and crit._grad_buf.itemsize == (4 if dtype == torch.float32 else 2)
    assert {k[1] for k in crit._shapes} == {torch.float32, torch.bfloat16, torch.float16}
    plan = crit._plans[(H, W)]
    assert sorted(plan._handles) == [(0, 0), (1, 1), (2, 2)]
    # a held bfloat16 gradient is not written by the next call
    kept = []
    o = conv(img).to(torch.bfloat16)
    o.register_hook(lambda g: kept.append(g))
    crit(o, t).backward()
    snapshot = kept[0].clone()
    crit(conv(img * 2).to(torch.bfloat16), t).backward()
    assert torch.equal(kept[0], snapshot)


def test_half_output_darknet_eval_and_bad_half_values():
    out32, t = small_batch(23)
    out = out32.detach().to(torch.bfloat16).requires_grad_(True)
    crit = RegionLoss(ANCHORS, C, mode="darknet", variant="reference")
    crit(out, t).backward()
    assert crit.seen == 2 and crit.last.warmup > 0 and out.grad.dtype == torch.bfloat16
    crit.eval()
    ev = crit(out, t)
    assert ev.grad_fn is None and crit.seen == 2
    crit.train()
    bad = out.detach().clone()
    bad.view(torch.int16).view(-1)[4 * H * W] = 0x7F81  # a NaN with a payload in the low bits
    last = crit.last
    with pytest.raises(regionloss.Error, match="not finite"):
        crit(bad.requires_grad_(True), t)
    assert crit.last is last and crit.seen == 2


def test_alexeyab_flavour_module():
    out, t = small_batch(9)
    crit = RegionLoss(ANCHORS, C, mode="darknet", flavour="alexeyab", classfix=2,
                      focal_loss=True, thresh=0.3, seen=64)
    loss = crit(out, t)
    loss.backward()
    plan = regionloss.Plan(ANCHORS, C, tuple(out.shape[2:]), mode="darknet",
                           flavour="alexeyab", classfix=2, focal_loss=True, thresh=0.3)
    res, g = plan.compute(out.detach().numpy(), t.numpy(), seen=crit.seen)
    assert float(loss) == pytest.approx(res.loss, rel=1e-6)
    assert np.array_equal(out.grad.numpy(), g)
