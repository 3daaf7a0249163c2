"""regionloss.decode and regionloss.torch.decode (issue 24) against the
library's own decisions.

The library does not hand out its per-slot decisions, but its gradient
shows them: without warm-up, a slot has coordinate gradient exactly when
it is responsible (a positive), an objectness gradient without one exactly
when it is a noobj slot (a negative), and no gradient at all when it is
ignored.  So the decoded boxes, their best IoU with the image's truths and
the threshold must sort every slot as the library did, and the IoU of a
responsible slot's decoded box with its truth must be the one the library
reports (avg_iou and sum_iou, and in the region loss each slot's
objectness gradient, which carries that IoU as its target)."""
import math

import numpy as np
import pytest

import regionloss
from conftest import need_torch

TOL_THRESH = 1e-5   # docs/loss.md: a slot this close to a threshold may go either way


def iou(boxes, truths):
    """IoU of every box (..., 4) with every truth (T, 4), all cx, cy, w, h
    in one unit: (..., T)."""
    b = boxes[..., None, :]
    t = np.asarray(truths, dtype=np.float64).reshape(-1, 4)
    ix = np.minimum(b[..., 0] + b[..., 2] / 2, t[:, 0] + t[:, 2] / 2) - \
        np.maximum(b[..., 0] - b[..., 2] / 2, t[:, 0] - t[:, 2] / 2)
    iy = np.minimum(b[..., 1] + b[..., 3] / 2, t[:, 1] + t[:, 3] / 2) - \
        np.maximum(b[..., 1] - b[..., 3] / 2, t[:, 1] - t[:, 3] / 2)
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    return inter / (b[..., 2] * b[..., 3] + t[:, 2] * t[:, 3] - inter)


def best_iou(boxes, truths_per_image):
    """(N, H, W, B) largest IoU of each decoded box with its image's truths
    (0 without truths)."""
    out = np.zeros(boxes.shape[:-1])
    for n, t in enumerate(truths_per_image):
        if len(t):
            out[n] = iou(boxes[n], np.asarray(t)[:, 1:5]).max(axis=-1)
    return out


def slots(a, layout, B, K):
    """An output-shaped array (or gradient) as (N, H, W, B, K)."""
    if layout == "nchw":
        N, _, H, W = a.shape
        return a.reshape(N, B, K, H, W).transpose(0, 3, 4, 1, 2)
    N, H, W, _ = a.shape
    return a.reshape(N, H, W, B, K)


def logit(p):
    return math.log(p / (1 - p))


def shape_best(w, h, anchors):
    """The anchor whose shape (centred at the origin) overlaps (w, h) best,
    ties to the smaller index."""
    a = np.asarray(anchors, dtype=np.float64)
    inter = np.minimum(w, a[:, 0]) * np.minimum(h, a[:, 1])
    return int(np.argmax(inter / (w * h + a[:, 0] * a[:, 1] - inter)))


def plant(t, n, i, j, b, box, H, W, aw, ah):
    """Sets slot (n, i, j, b) of t (N, H, W, B, K) so that it decodes to
    box (cx, cy, w, h), whose centre lies in cell (i, j); aw, ah the
    anchor's size in the unit the decoding divides by W, H."""
    t[n, i, j, b, 0] = logit(box[0] * W - j)
    t[n, i, j, b, 1] = logit(box[1] * H - i)
    t[n, i, j, b, 2] = math.log(box[2] * W / aw)
    t[n, i, j, b, 3] = math.log(box[3] * H / ah)


# ---- the region loss ---------------------------------------------------------------

R_ANCHORS = [(1.0, 1.5), (2.5, 2.0), (4.0, 4.5)]
R_C, R_H, R_W = 4, 6, 7


def region_case(seed, layout):
    """An output whose slots include, near every truth, one decoding close
    to it (IoU well above 0.6: ignored unless responsible) and one decoding
    loosely (below it: noobj); truths in distinct cells, one image
    without any."""
    rng = np.random.default_rng(seed)
    B, K, N = len(R_ANCHORS), 5 + R_C, 3
    t = rng.normal(0, 0.8, (N, R_H, R_W, B, K))
    truths = [[], [], []]
    for n, count in ((0, 3), (2, 2)):
        cells = rng.choice(R_H * R_W, count, replace=False)
        for c in cells:
            i, j = divmod(int(c), R_W)
            cx, cy = (j + rng.uniform(0.3, 0.7)) / R_W, (i + rng.uniform(0.3, 0.7)) / R_H
            w, h = rng.uniform(0.15, 0.5), rng.uniform(0.15, 0.5)
            truths[n].append([int(rng.integers(R_C)), cx, cy, w, h])
            resp = shape_best(w * R_W, h * R_H, R_ANCHORS)
            close, loose = (resp + 1) % B, (resp + 2) % B
            plant(t, n, i, j, close, (cx + 0.01 / R_W, cy, w * 1.06, h * 0.97), R_H, R_W,
                  *R_ANCHORS[close])
            plant(t, n, i, j, loose, (cx, cy, w * 1.7, h * 1.5), R_H, R_W, *R_ANCHORS[loose])
    pred = t.transpose(0, 3, 4, 1, 2) if layout == "nchw" else t
    pred = np.ascontiguousarray(pred.reshape(N, B * K, R_H, R_W) if layout == "nchw"
                                else pred.reshape(N, R_H, R_W, B * K), dtype=np.float32)
    return pred, [np.array(x, dtype=np.float64).reshape(-1, 5) for x in truths]


@pytest.mark.parametrize("variant", ["reference", "auto"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("mode", ["spec", "darknet"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_region_decode_sorts_slots_as_the_library(mode, layout, variant, seed):
    pred, truths = region_case(seed, layout)
    B, K = len(R_ANCHORS), 5 + R_C
    plan = regionloss.Plan(R_ANCHORS, R_C, (R_H, R_W), layout=layout, mode=mode,
                           variant=variant)
    res, g = plan.compute(pred, truths, seen=20000 if mode == "darknet" else None)
    d = regionloss.decode(pred, R_ANCHORS, layout=layout, num_classes=R_C)
    assert d.boxes.shape == (3, R_H, R_W, B, 4) and d.class_probs.shape == (3, R_H, R_W, B, R_C)
    assert np.allclose(d.class_probs.sum(-1), 1)          # softmax classes
    g5 = slots(g, layout, B, K)
    resp = (g5[..., :4] != 0).any(-1)
    noobj = ~resp & (g5[..., 4] != 0)
    ignored = ~resp & ~noobj
    assert resp.sum() == res.n_obj == 5 and noobj.sum() == res.n_noobj
    assert ignored.sum() >= 5, "the planted close boxes are ignored"
    assert not g5[ignored].any()

    best = best_iou(d.boxes, truths)
    thresh = 0.6
    want_noobj = best < thresh if mode == "spec" else best <= thresh   # docs/darknet.md
    decided = ~resp & (np.abs(best - thresh) > TOL_THRESH)
    assert np.array_equal(noobj[decided], want_noobj[decided])

    # Responsible slots: the truth's cell and best-shaped anchor; the IoU
    # of their decoded boxes is the library's.
    ious = []
    p5 = slots(pred, layout, B, K).astype(np.float64)
    for n, tr in enumerate(truths):
        for cls, cx, cy, w, h in tr:
            j, i = min(int(cx * R_W), R_W - 1), min(int(cy * R_H), R_H - 1)
            b = shape_best(w * R_W, h * R_H, R_ANCHORS)
            assert resp[n, i, j, b]
            v = float(iou(d.boxes[n, i, j, b], [[cx, cy, w, h]])[0])
            ious.append(v)
            # the objectness gradient's target is this IoU (rescore):
            # spec 2 lo / N_conf (c - IoU) s'(tc), darknet (sum) lo (c - IoU) s'(tc)
            c = d.objectness[n, i, j, b]
            slope = c * (1 - c)
            factor = 2 * 5.0 / res.n_conf if mode == "spec" else 5.0
            target = c - g5[n, i, j, b, 4] / (factor * slope)
            assert abs(target - v) < 1e-6, (n, i, j, b, target, v)
            assert math.isclose(1 / (1 + math.exp(-p5[n, i, j, b, 4])), c, rel_tol=1e-12)
    assert abs(np.mean(ious) - res.avg_iou) < 1e-6
    assert abs(np.sum(ious) - res.sum_iou) < 1e-5
    if mode == "darknet":
        assert abs(np.mean(ious) - res.darknet.avg_iou) < 1e-6


def test_region_decode_formulas_and_forms():
    """The formulas of docs/loss.md on a few hand-set slots; the 5-D forms
    and both layouts give the same numbers; logistic classes."""
    pred, truths = region_case(7, "nchw")
    B, K = len(R_ANCHORS), 5 + R_C
    d = regionloss.decode(pred, R_ANCHORS)
    t = slots(pred, "nchw", B, K).astype(np.float64)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    n, i, j, b = 2, 4, 5, 1
    assert np.allclose(d.boxes[n, i, j, b], [(j + s(t[n, i, j, b, 0])) / R_W,
                                             (i + s(t[n, i, j, b, 1])) / R_H,
                                             R_ANCHORS[b][0] * np.exp(t[n, i, j, b, 2]) / R_W,
                                             R_ANCHORS[b][1] * np.exp(t[n, i, j, b, 3]) / R_H],
                       rtol=1e-14)
    e = np.exp(t[n, i, j, b, 5:])
    assert np.allclose(d.class_probs[n, i, j, b], e / e.sum(), rtol=1e-14)
    five = pred.reshape(3, B, K, R_H, R_W)
    nhwc = np.ascontiguousarray(slots(pred, "nchw", B, K))
    for other in (regionloss.decode(five, R_ANCHORS),
                  regionloss.decode(nhwc, R_ANCHORS, layout="nhwc"),
                  regionloss.decode(nhwc.reshape(3, R_H, R_W, B * K), R_ANCHORS, layout="nhwc"),
                  regionloss.Plan(R_ANCHORS, R_C, (R_H, R_W)).decode(pred)):
        for x, y in zip(d, other):
            assert np.array_equal(x, y)
    lg = regionloss.decode(pred, R_ANCHORS, logistic_classes=True)
    assert np.allclose(lg.class_probs, s(t[..., 5:]), rtol=1e-14)
    # a darknet plan with logistic classes decodes them so; the spec plan never
    dk = regionloss.Plan(R_ANCHORS, R_C, (R_H, R_W), mode="darknet", logistic_classes=True)
    assert np.array_equal(dk.decode(pred).class_probs, lg.class_probs)
    assert regionloss.decode(pred, R_ANCHORS, dtype=np.float32).boxes.dtype == np.float32


# ---- the [yolo] heads ---------------------------------------------------------------

Y_ANCHORS = [(20, 25), (40, 30), (30, 60), (90, 80), (150, 120), (200, 250)]
Y_HEADS = [(5, 6, [3, 4, 5]), (10, 12, [0, 1, 2])]
Y_NET = (384, 320)      # width, height: a 64-pixel cell on head 0, 32 on head 1
Y_C = 3


def yolo_case(seed):
    """Outputs of two heads and truths of distinct positive slots, with a
    slot decoding close to each truth (ignored) and one loosely (negative)
    in the head that has its anchor."""
    rng = np.random.default_rng(seed)
    N, K = 3, 5 + Y_C
    ts = [rng.normal(0, 0.8, (N, H, W, len(m), K)) for H, W, m in Y_HEADS]
    truths = [[], [], []]
    used = set()
    for n, count in ((0, 3), (1, 0), (2, 4)):
        while len(truths[n]) < count:
            w, h = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6)
            a = shape_best(w * Y_NET[0], h * Y_NET[1], Y_ANCHORS)
            hd = next(k for k, (_, _, m) in enumerate(Y_HEADS) if a in m)
            H, W, mask = Y_HEADS[hd]
            i, j = int(rng.integers(H)), int(rng.integers(W))
            if (n, hd, i, j) in used:
                continue
            used.add((n, hd, i, j))
            cx, cy = (j + rng.uniform(0.3, 0.7)) / W, (i + rng.uniform(0.3, 0.7)) / H
            truths[n].append([int(rng.integers(Y_C)), cx, cy, w, h])
            b = mask.index(a)
            close, loose = (b + 1) % 3, (b + 2) % 3
            for slot, box in ((close, (cx, cy + 0.01 / H, w * 1.05, h * 1.02)),
                              (loose, (cx, cy, w * 1.8, h * 1.6))):
                aw, ah = Y_ANCHORS[mask[slot]]
                plant(ts[hd], n, i, j, slot, box, H, W, aw * W / Y_NET[0], ah * H / Y_NET[1])
    preds = [np.ascontiguousarray(t.transpose(0, 3, 4, 1, 2).reshape(N, len(m) * K, H, W),
                                  dtype=np.float32) for t, (H, W, m) in zip(ts, Y_HEADS)]
    return preds, [np.array(x, dtype=np.float64).reshape(-1, 5) for x in truths]


@pytest.mark.parametrize("variant", ["reference", "auto"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_yolo_decode_sorts_slots_as_the_library(variant, seed):
    preds, truths = yolo_case(seed)
    K = 5 + Y_C
    plan = regionloss.YoloPlan(Y_ANCHORS, Y_C, Y_HEADS, Y_NET, variant=variant)
    res, grads = plan.compute(preds, truths)
    ds = plan.decode(preds)
    assert res.n_obj == 7
    ignored_total = 0
    for h, ((H, W, mask), p, g, d) in enumerate(zip(Y_HEADS, preds, grads, ds)):
        anchors = [Y_ANCHORS[a] for a in mask]
        for x, y in zip(d, regionloss.decode(p, anchors, layer="yolo", net_size=Y_NET)):
            assert np.array_equal(x, y)
        assert ((d.class_probs > 0) & (d.class_probs < 1)).all()    # logistic classes
        g5 = slots(g, "nchw", len(mask), K)
        pos = (g5[..., :4] != 0).any(-1)
        neg = ~pos & (g5[..., 4] != 0)
        ignored = ~pos & ~neg
        ignored_total += ignored.sum()
        r = res.heads[h]
        assert pos.sum() == r.n_obj and neg.sum() == r.n_noobj
        best = best_iou(d.boxes, truths)
        decided = ~pos & (np.abs(best - 0.7) > TOL_THRESH)
        assert np.array_equal(neg[decided], (best <= 0.7)[decided])   # ignore_thresh 0.7
        ious = []
        for n, tr in enumerate(truths):
            for cls, cx, cy, w, hh in tr:
                a = shape_best(w * Y_NET[0], hh * Y_NET[1], Y_ANCHORS)
                if a not in mask:
                    continue
                j, i = min(int(cx * W), W - 1), min(int(cy * H), H - 1)
                assert pos[n, i, j, mask.index(a)]
                ious.append(float(iou(d.boxes[n, i, j, mask.index(a)], [[cx, cy, w, hh]])[0]))
        assert len(ious) == r.n_obj
        if ious:
            assert abs(np.mean(ious) - r.avg_iou) < 1e-6
            assert abs(np.mean(ious) - r.darknet.avg_iou) < 1e-6
    assert ignored_total >= 7, "the planted close boxes are ignored"


def test_yolo_decode_worked_example():
    """docs/loss.md's worked example: one 2x2 head, anchor (100, 100)
    pixels, net 200, every output 0: boxes of size 0.5 centred at the cell
    centres, IoU 9/23 with the truth, the diagnostics' avg_iou."""
    pred = np.zeros((1, 6, 2, 2), dtype=np.float32)
    d = regionloss.decode(pred, [(100, 100)], layer="yolo", net_size=200)
    assert np.array_equal(d.boxes[0, :, :, 0, :2], [[[0.25, 0.25], [0.75, 0.25]],
                                                    [[0.25, 0.75], [0.75, 0.75]]])
    assert (d.boxes[..., 2:] == 0.5).all() and (d.objectness == 0.5).all()
    assert (d.class_probs == 0.5).all()
    truth = [[0.375, 0.375, 0.5, 0.5]]
    assert math.isclose(iou(d.boxes[0, 0, 0, 0], truth)[0], 9 / 23, rel_tol=1e-15)
    plan = regionloss.YoloPlan([(100, 100)], 1, [(2, 2, [0])], 200, norm="sum")
    res, _ = plan.compute([pred], np.array([[0, 0, 0.375, 0.375, 0.5, 0.5]]))
    assert math.isclose(res.avg_iou, 9 / 23, rel_tol=1e-6)


# ---- torch ----------------------------------------------------------------------------

def test_torch_decode_is_the_numpy_decode():
    torch = need_torch()
    import regionloss.torch as rt
    from regionloss.torch import RegionLoss, YoloLoss
    pred, _ = region_case(4, "nchw")
    ref = regionloss.decode(pred, R_ANCHORS)
    x = torch.from_numpy(pred).requires_grad_()
    d = rt.decode(x, R_ANCHORS, num_classes=R_C)
    assert all(v.dtype == torch.float32 and not v.requires_grad for v in d)
    for a, b in zip(ref, d):
        assert np.allclose(b.numpy(), a, rtol=1e-5, atol=1e-6)
    d64 = rt.decode(x, R_ANCHORS, dtype=torch.float64)
    for a, b in zip(ref, d64):
        assert np.allclose(b.numpy(), a, rtol=1e-12, atol=0)
    # half outputs: the decoding of their (exactly widened) values
    for dt in (torch.bfloat16, torch.float16):
        h = x.detach().to(dt)
        want = regionloss.decode(h.float().numpy(), R_ANCHORS)
        for a, b in zip(want, rt.decode(h, R_ANCHORS)):
            assert b.dtype == torch.float32 and np.allclose(b.numpy(), a, rtol=1e-5, atol=1e-6)
    # the modules decode with their own anchors, layout and classes
    for a, b in zip(d, RegionLoss(R_ANCHORS, R_C).decode(x)):
        assert torch.equal(a, b)
    for a, b in zip(regionloss.Plan(R_ANCHORS, R_C, (R_H, R_W)).decode(x), d):
        assert torch.equal(a, b)
    lg = RegionLoss(R_ANCHORS, R_C, mode="darknet", logistic_classes=True).decode(x)
    assert torch.allclose(lg.class_probs, torch.sigmoid(
        x.detach().view(3, 3, 5 + R_C, R_H, R_W)[:, :, 5:].permute(0, 3, 4, 1, 2)))
    preds, _ = yolo_case(5)
    crit = YoloLoss(Y_ANCHORS, Y_C, [m for _, _, m in Y_HEADS], Y_NET)
    outs = [torch.from_numpy(p) for p in preds]
    for want, got in zip(regionloss.YoloPlan(Y_ANCHORS, Y_C, Y_HEADS, Y_NET).decode(preds),
                         crit.decode(outs)):
        for a, b in zip(want, got):
            assert np.allclose(b.numpy(), a, rtol=1e-5, atol=1e-6)
    # net_size per call, as forward takes it
    other = crit.decode(outs, net_size=(192, 160))
    base = crit.decode(outs)
    assert torch.allclose(other[0].boxes[..., 2:], base[0].boxes[..., 2:] * 2)
    assert torch.equal(other[0].boxes[..., :2], base[0].boxes[..., :2])


@pytest.mark.parametrize("call,exc,match", [
    (lambda p: regionloss.decode(p, R_ANCHORS, layer="v2"), ValueError, r"layer = 'v2'"),
    (lambda p: regionloss.decode(p, R_ANCHORS, layer="yolo"), ValueError,
     r"net_size: .* is required"),
    (lambda p: regionloss.decode(p, R_ANCHORS, net_size=416), ValueError,
     r"net_size: the region layer's anchors are in grid cells"),
    (lambda p: regionloss.decode(p, R_ANCHORS[:2]), ValueError,
     r"27 channels are not \(5 \+ C\) for each of the 2 anchors"),
    (lambda p: regionloss.decode(p, R_ANCHORS, num_classes=3), ValueError,
     r"9 entries per anchor, not 5 \+ num_classes = 8"),
    (lambda p: regionloss.decode(p, R_ANCHORS, layout="nwhc"), ValueError, r"layout"),
    (lambda p: regionloss.decode(p, 3), TypeError, r"anchors = 3"),
    (lambda p: regionloss.decode(p.astype(np.int32), R_ANCHORS), TypeError, r"dtype int32"),
    (lambda p: regionloss.decode(p[0], R_ANCHORS), ValueError, r"4 \(or 5\) dimensions"),
    (lambda p: regionloss.decode(list(p), R_ANCHORS), TypeError, r"numpy.ndarray"),
])
def test_decode_errors_name_the_argument(call, exc, match):
    pred, _ = region_case(1, "nchw")
    with pytest.raises(exc, match=match):
        call(pred)


def test_torch_decode_errors():
    torch = need_torch()
    import regionloss.torch as rt
    pred, _ = region_case(1, "nchw")
    with pytest.raises(TypeError, match="regionloss.torch.decode"):
        regionloss.decode(torch.from_numpy(pred), R_ANCHORS)
    with pytest.raises(TypeError, match=r"regionloss.decode decodes numpy"):
        rt.decode(pred, R_ANCHORS)
    with pytest.raises(TypeError, match="floating-point"):
        rt.decode(torch.zeros(1, 27, 2, 2, dtype=torch.int32), R_ANCHORS)
