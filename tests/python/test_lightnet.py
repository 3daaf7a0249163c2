"""regionloss.lightnet.RegionLoss, lightnet's constructor (issue 24).

The shim is the native module in darknet mode with norm "images"; these
tests check that it gives the native module's loss and gradient bit for
bit, and, to show that this configuration is lightnet's loss, compare it
with `lightnet_v2_loss` below: a float64 autograd transcription, written
for this test, of what lightnet 2.0.0's RegionLoss.forward computes with
a target tensor (lightnet/network/loss/_regionloss.py of its tag v2.0.0;
lightnet itself is not installed here)."""
import math

import numpy as np
import pytest

import regionloss
from conftest import need_torch

torch = need_torch()
import torch.nn.functional as F  # noqa: E402

from regionloss.lightnet import RegionLoss as LightnetLoss  # noqa: E402
from regionloss.torch import RegionLoss  # noqa: E402

CELLS = [(1.0, 1.5), (2.5, 2.0), (4.0, 4.5)]
STRIDE = 32
PIXELS = [(w * STRIDE, h * STRIDE) for w, h in CELLS]
C, H, W, N = 4, 6, 7, 4
SCALES = dict(coord_scale=2.0, noobject_scale=0.5, object_scale=4.0, class_scale=1.5,
              thresh=0.55)


def native(seen=0, prefill=10, **kw):
    """The native module configured as the shim says it is."""
    return RegionLoss(CELLS, C, mode="darknet", norm="images",
                      lambda_coord=SCALES["coord_scale"], lambda_noobj=SCALES["noobject_scale"],
                      lambda_obj=SCALES["object_scale"], lambda_class=SCALES["class_scale"],
                      thresh=SCALES["thresh"], warmup_seen=prefill, seen=seen, **kw)


def case(seed, pad_first=False):
    """An output (N, B*(5+C), H, W) and its truths as lightnet's padded
    (N, T, 5) tensor and as (M, 6) rows: truths in distinct cells, a slot
    decoding close to each (ignored), image 1 with no truth (all padding),
    padding after the truths (or, pad_first, before them too)."""
    rng = np.random.default_rng(seed)
    B, K = len(CELLS), 5 + C
    t = rng.normal(0, 0.8, (N, B, K, H, W))
    per_image = {0: 3, 1: 0, 2: 2, 3: 4}
    T = 6
    padded = np.zeros((N, T, 5), dtype=np.float32)
    padded[:, :, 0] = -1
    rows = []
    for n, count in per_image.items():
        cells = rng.choice(H * W, count, replace=False)
        start = 1 if pad_first and count else 0
        for k, c in enumerate(cells):
            i, j = divmod(int(c), W)
            cx, cy = (j + rng.uniform(0.2, 0.8)) / W, (i + rng.uniform(0.2, 0.8)) / H
            w, h = rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6)
            cls = int(rng.integers(C))
            padded[n, start + k] = (cls, cx, cy, w, h)
            rows.append((n, cls, cx, cy, w, h))
            # another anchor of the truth's cell decodes close to it
            b = int(rng.integers(B))
            aw, ah = CELLS[b]
            fx, fy = min(max(cx * W - j + 0.01, 0.01), 0.99), min(max(cy * H - i, 0.01), 0.99)
            t[n, b, 0:4, i, j] = (math.log(fx / (1 - fx)), math.log(fy / (1 - fy)),
                                  math.log(w * W * 1.04 / aw), math.log(h * H * 0.97 / ah))
    out = torch.tensor(t.reshape(N, B * K, H, W), dtype=torch.float32)
    rows = torch.tensor(np.array(rows, dtype=np.float32).reshape(-1, 6))
    return out, torch.from_numpy(padded), rows


def lightnet_v2_loss(out, target, anchors, num_classes, seen, training, coord_scale=1.0,
                     noobject_scale=1.0, object_scale=5.0, class_scale=1.0, thresh=0.6,
                     coord_prefill=12800):
    """lightnet 2.0.0's region loss of a target tensor, in float64 with
    autograd: (loss, gradient).  seen is the count after lightnet's own
    update (it adds the batch before building the targets in training)."""
    x = out.detach().double().requires_grad_()
    nB, _, nH, nW = x.shape
    nA = len(anchors)
    anc = torch.tensor(anchors, dtype=torch.float64)
    t = x.view(nB, nA, 5 + num_classes, nH, nW)
    coord = torch.stack([t[:, :, 0].sigmoid(), t[:, :, 1].sigmoid(), t[:, :, 2], t[:, :, 3]], 2)
    conf = t[:, :, 4].sigmoid()
    with torch.no_grad():
        cols = torch.arange(nW, dtype=torch.float64).view(1, 1, 1, nW)
        rows_ = torch.arange(nH, dtype=torch.float64).view(1, 1, nH, 1)
        pred = torch.stack([coord[:, :, 0] + cols, coord[:, :, 1] + rows_,
                            coord[:, :, 2].exp() * anc[:, 0].view(1, nA, 1, 1),
                            coord[:, :, 3].exp() * anc[:, 1].view(1, nA, 1, 1)], -1)
    coord_mask = torch.zeros(nB, nA, nH, nW, dtype=torch.float64)
    tcoord = torch.zeros(nB, nA, 4, nH, nW, dtype=torch.float64)
    if training and seen < coord_prefill:
        coord_mask.fill_(0.01 / coord_scale)           # lightnet's sqrt, squared
        tcoord[:, :, 0:2] = 0.5
    conf_mask = torch.full((nB, nA, nH, nW), noobject_scale, dtype=torch.float64)
    tconf = torch.zeros(nB, nA, nH, nW, dtype=torch.float64)
    picked = []
    for b in range(nB):
        gt = target[b][target[b, :, 0] >= 0].double()
        if len(gt) == 0:
            continue
        g = gt[:, 1:] * torch.tensor([nW, nH, nW, nH], dtype=torch.float64)
        p = pred[b].reshape(-1, 4)
        ix = (torch.min(g[:, None, 0] + g[:, None, 2] / 2, p[:, 0] + p[:, 2] / 2)
              - torch.max(g[:, None, 0] - g[:, None, 2] / 2, p[:, 0] - p[:, 2] / 2)).clamp(min=0)
        iy = (torch.min(g[:, None, 1] + g[:, None, 3] / 2, p[:, 1] + p[:, 3] / 2)
              - torch.max(g[:, None, 1] - g[:, None, 3] / 2, p[:, 1] - p[:, 3] / 2)).clamp(min=0)
        inter = ix * iy
        ious = (inter / (g[:, None, 2] * g[:, None, 3] + p[:, 2] * p[:, 3] - inter)).view(
            len(g), nA, nH, nW)
        conf_mask[b][(ious > thresh).any(0)] = 0
        ai = torch.min(g[:, None, 2], anc[:, 0]) * torch.min(g[:, None, 3], anc[:, 1])
        best = (ai / (g[:, None, 2] * g[:, None, 3] + anc[:, 0] * anc[:, 1] - ai)).argmax(1)
        for k in range(len(g)):
            a = int(best[k])
            gi, gj = int(g[k, 0].clamp(0, nW - 1)), int(g[k, 1].clamp(0, nH - 1))
            conf_mask[b, a, gj, gi] = object_scale
            tconf[b, a, gj, gi] = ious[k, a, gj, gi]
            coord_mask[b, a, gj, gi] = 2 - g[k, 2] * g[k, 3] / (nH * nW)
            tcoord[b, a, :, gj, gi] = torch.stack([g[k, 0] - gi, g[k, 1] - gj,
                                                   (g[k, 2] / anc[a, 0]).log(),
                                                   (g[k, 3] / anc[a, 1]).log()])
            picked.append((b, a, gj, gi, int(gt[k, 0])))
    loss = coord_scale * (coord_mask[:, :, None] * (coord - tcoord) ** 2).sum() / (2 * nB)
    loss = loss + (conf_mask * (conf - tconf) ** 2).sum() / (2 * nB)
    if num_classes > 1 and picked:
        logits = torch.stack([t[b, a, 5:, j, i] for b, a, j, i, _ in picked])
        labels = torch.tensor([c for *_, c in picked])
        loss = loss + class_scale * F.cross_entropy(logits, labels, reduction="sum") / nB
    loss.backward()
    return loss.item(), x.grad


# ---- the same loss as the native module ---------------------------------------------

@pytest.mark.parametrize("variant", ["reference", "auto"])
@pytest.mark.parametrize("units", ["cells", "pixels"])
def test_same_loss_and_gradient_as_native(units, variant):
    """Steps across coord_prefill (seen 4, 8: the prior; 12, 16: none),
    then eval: loss, gradient, crit.last and seen are the native module's
    bit for bit (the shim fed the padded tensor, the native rows)."""
    anchors = CELLS if units == "cells" else PIXELS
    shim = LightnetLoss(C, anchors, STRIDE, 0, coord_prefill=10, anchor_units=units,
                        variant=variant, **SCALES)
    ref = native(variant=variant)
    for step in range(4):
        out, padded, rows = case(step)
        a = out.clone().requires_grad_()
        b = out.clone().requires_grad_()
        la, lb = shim(a, padded), ref(b, rows)
        la.backward()
        lb.backward()
        assert torch.equal(la, lb) and torch.equal(a.grad, b.grad)
        assert shim.last == ref.last and shim.seen == ref.seen == 4 * (step + 1)
        assert (shim.last.warmup > 0) == (step < 2)
        v = shim.values
        assert float(v["total"]) == float(la)
        assert math.isclose(float(v["coord"]) + float(v["conf"]) + float(v["class"]),
                            float(la), rel_tol=1e-6)
    # eval: lightnet has no prefill there, which is the loss of seen >= coord_prefill
    shim.eval()
    shim.seen = 3
    out, padded, rows = case(9)
    with torch.no_grad():
        got = shim(out, padded)
    ref.seen = 10
    ref.eval()
    assert torch.equal(got, ref(out, rows)) and shim.last.warmup == 0 and shim.seen == 3


@pytest.mark.parametrize("phase", ["prefill", "trained", "eval"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_configuration_is_lightnets_loss(phase, seed):
    """The shim (reference variant) against lightnet 2.0.0's formulas: the
    loss to 1e-9 relative, the gradient to float rounding."""
    out, padded, _ = case(seed)
    start = {"prefill": 0, "trained": 100, "eval": 3}[phase]
    shim = LightnetLoss(C, CELLS, seen=start, coord_prefill=10, variant="reference", **SCALES)
    x = out.clone().requires_grad_()
    if phase == "eval":
        shim.eval()
    loss = shim(x, padded)
    training = phase != "eval"
    want, grad = lightnet_v2_loss(out, padded, CELLS, C, start + N if training else start,
                                  training, coord_prefill=10, **SCALES)
    assert math.isclose(shim.last.loss, want, rel_tol=1e-9), (shim.last.loss, want)
    assert (shim.last.warmup > 0) == (phase == "prefill")
    if training:
        loss.backward()
        assert torch.allclose(x.grad.double(), grad, rtol=2e-7, atol=1e-12)
    assert shim.last.n_noobj < N * len(CELLS) * H * W - shim.last.n_obj   # ignored slots


def test_forward_seen_replaces_the_count():
    """lightnet's forward(output, target, seen=S): the call computes with S
    and keeps it (no batch added)."""
    out, padded, rows = case(3)
    shim = LightnetLoss(C, CELLS, seen=0, coord_prefill=10, **SCALES)
    shim(out.clone().requires_grad_(), padded, seen=50)
    assert shim.seen == 50 and shim.last.warmup == 0
    ref = native(seen=46)
    ref(out.clone().requires_grad_(), rows)
    assert shim.last == ref.last
    shim(out.clone().requires_grad_(), padded)
    assert shim.seen == 54
    with pytest.raises(ValueError, match="seen = -1"):
        shim(out, padded, seen=-1)


def test_pixel_anchors_are_divided_by_stride():
    out, padded, _ = case(5)
    for stride in (32, 16):
        px = [(w * stride, h * stride) for w, h in CELLS]
        a = LightnetLoss(C, px, stride, anchor_units="pixels")
        b = LightnetLoss(C, CELLS)
        assert np.array_equal(a._plan(1, 1)._anchors, np.array(CELLS, dtype=np.float32))
        x, y = out.clone().requires_grad_(), out.clone().requires_grad_()
        la, lb = a(x, padded), b(y, padded)
        la.backward()
        lb.backward()
        assert torch.equal(la, lb) and torch.equal(x.grad, y.grad)
        for u, v in zip(a.decode(out), b.decode(out)):
            assert torch.equal(u, v)
        assert "stride=%d" % stride in repr(a)
    # the default is lightnet 2.0.0's grid cells: pixel anchors are not cells
    wrong = LightnetLoss(C, PIXELS)
    assert wrong(out, padded).item() != LightnetLoss(C, CELLS)(out, padded).item()


# ---- padded targets ------------------------------------------------------------------

def test_padded_targets_everywhere():
    """The (N, T, 5) tensor with class -1 rows is the same truths as the
    rows, for the native module, the shim, Plan (numpy) and YoloLoss;
    padding may stand anywhere, and an image may have none but padding."""
    out, padded, rows = case(6)
    _, padded_first, _ = case(6, pad_first=True)
    assert not torch.equal(padded, padded_first)
    ref = native(seen=100)
    want = ref(out, rows).item()
    for t in (padded, padded_first, padded.double(), padded.numpy()):
        assert ref(out, t).item() == want
    plan = regionloss.Plan(CELLS, C, (H, W), mode="darknet", norm="images",
                           lambda_coord=2.0, lambda_noobj=0.5, lambda_obj=4.0, lambda_class=1.5,
                           thresh=0.55, warmup_seen=10)
    res, _ = plan.compute(out.numpy(), padded.numpy(), seen=104)
    assert res == ref.last
    t = regionloss.Targets.from_padded(padded.numpy())
    assert list(t.offsets) == [0, 3, 3, 5, 9]
    from regionloss.torch import YoloLoss
    yl = YoloLoss([(32, 48), (80, 64), (128, 144)], C, [[0, 1, 2]], (224, 192))
    assert yl([out], padded).item() == yl([out], rows).item()
    # all padding: no truth at all
    empty = torch.full((N, 2, 5), -1.0)
    assert ref(out, empty).item() == ref(out, torch.zeros(0, 6)).item()


@pytest.mark.parametrize("bad,match", [
    (lambda p: p.index_put_((torch.tensor(2), torch.tensor(1), torch.tensor(0)),
                            torch.tensor(-2.0)), r"targets\[2, 1\]: class = -2.0 is neither"),
    (lambda p: p.index_put_((torch.tensor(0), torch.tensor(0), torch.tensor(0)),
                            torch.tensor(1.5)), r"targets\[0, 0\]: class = 1.5"),
    (lambda p: p[:, :, :4], r"shape \(4, 6, 4\); \(N, T, 5\) rows"),
    (lambda p: p[:3], r"targets describe 3 images, the output holds 4"),
])
def test_bad_padded_targets(bad, match):
    out, padded, _ = case(7)
    crit = native(seen=100)
    x = out.clone().requires_grad_()
    with pytest.raises(ValueError, match=match):
        crit(x, bad(padded.clone()))
    assert crit.last is None and crit.seen == 100 and x.grad is None


def test_bad_padded_box_is_the_library_error():
    out, padded, _ = case(7)
    padded[3, 2, 3] = 1.5   # w > 1
    with pytest.raises(regionloss.Error, match=r"truth 2 of image 3: w = 1.5"):
        native(seen=100)(out, padded)


# ---- arguments -----------------------------------------------------------------------

@pytest.mark.parametrize("args,kw,exc,match", [
    ((CELLS, 4), {}, TypeError, r"num_classes = \[.*\] is a sequence and anchors = 4 a "
     r"number: the arguments are reversed \(lightnet's order"),
    ((4, 5), {}, TypeError, r"anchors = 5; a list of \[w, h\] pairs"),
    ((4, "abc"), {}, TypeError, r"anchors = 'abc'"),
    ((4, [1.0, 2.0]), {}, TypeError, r"anchors\[0\] = 1.0; a \[w, h\] pair"),
    ((4, [(1, 2), (1, 2, 3)]), {}, TypeError, r"anchors\[1\] = \(1, 2, 3\)"),
    ((4, [(0, 0, 1, 2)]), {}, TypeError, r"4-value anchors, with a centre prior"),
    ((4, [(1, "a")]), {}, TypeError, r"anchors\[0\]"),
    ((4, []), {}, ValueError, r"anchors: an empty list"),
    ((4.5, CELLS), {}, TypeError, r"num_classes = 4.5; an integer"),
    ((4, CELLS, "32"), {}, TypeError, r"stride = '32'"),
    ((4, CELLS, 0), {}, ValueError, r"stride = 0"),
    ((4, CELLS, 32, 1.5), {}, TypeError, r"seen = 1.5"),
    ((4, CELLS), dict(coord_scale="1"), TypeError, r"coord_scale = '1'; a number"),
    ((4, CELLS), dict(thresh=None), TypeError, r"thresh = None"),
    ((4, CELLS), dict(coord_prefill=1.5), TypeError, r"coord_prefill = 1.5"),
    ((4, CELLS), dict(anchor_units="px"), ValueError, r"anchor_units = 'px'"),
    ((4, CELLS), dict(lambda_coord=1.0), TypeError,
     r"unknown option\(s\) lambda_coord \(lambda_coord is this class's coord_scale\)"),
    ((4, CELLS), dict(mode="spec"), TypeError, r"the mode is always darknet's"),
    ((4, CELLS), dict(warmup_seen=5), TypeError, r"warmup_seen is this class's coord_prefill"),
    ((4, [(1.0, -2.0)]), {}, regionloss.Error, r"anchor"),
    ((4, CELLS), dict(thresh=1.5), regionloss.Error, r"thresh"),
])
def test_argument_errors_name_the_argument(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        LightnetLoss(*args, **kw)


def test_native_module_says_its_arguments_are_reversed():
    with pytest.raises(TypeError, match=r"anchors = 4 is a number and num_classes a sequence: "
                       r"the arguments are reversed \(regionloss.lightnet.RegionLoss"):
        RegionLoss(4, CELLS)
    with pytest.raises(TypeError, match=r"anchors = 5; a sequence of \(w, h\) pairs"):
        RegionLoss(5, 4)


def test_seen_is_refused_in_spec_mode():
    """seen only drives darknet mode's warm-up; in spec mode a nonzero one
    would be kept and ignored, so the native module refuses it."""
    with pytest.raises(ValueError, match=r"seen = 5: only darknet mode counts the images seen"):
        RegionLoss(CELLS, C, seen=5)
    with pytest.raises(ValueError, match=r"seen = 5: only darknet mode"):
        RegionLoss(CELLS, C, mode="spec", seen=torch.tensor(5))
    assert RegionLoss(CELLS, C, seen=0).seen == 0
    assert RegionLoss(CELLS, C, mode="darknet", seen=5).seen == 5
    with pytest.raises(ValueError, match=r"seen = -1"):
        RegionLoss(CELLS, C, mode="darknet", seen=-1)
    assert LightnetLoss(C, CELLS, seen=7).seen == 7   # lightnet is darknet mode


def test_lightnet_names_and_native_options():
    crit = LightnetLoss(C, CELLS, 32, 0, 2.0, 0.5, 4.0, 1.5, 0.55, 100, layout="nhwc",
                        norm="sum", threads=2)
    assert (crit.coord_scale, crit.noobject_scale, crit.object_scale, crit.class_scale,
            crit.thresh, crit.coord_prefill) == (2.0, 0.5, 4.0, 1.5, 0.55, 100)
    assert crit.mode == "darknet" and crit.layout == "nhwc" and crit.config["norm"] == "sum"
    with pytest.raises(AttributeError):
        crit.coord_scale = 3.0      # read-only: the plans are built from the configuration
    with pytest.raises(RuntimeError, match="no call yet"):
        crit.values
