"""Flavour alexeyab of the [yolo] heads from Python (docs/darknet.md,
"AlexeyAB's [yolo] layer"): every option reaches the library and changes
the result, the counts per class stay alive with the plan, YoloLoss takes
the options, and bad ones raise before anything is computed."""
import gc

import numpy as np
import pytest

import regionloss
from conftest import need_torch

A = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198),
     (373, 326)]
HEADS = [(4, 5, [6, 7, 8]), (8, 10, [3, 4, 5]), (16, 20, [0, 1, 2])]
NET = (160, 128)
C = 4
K = 5 + C


def inputs(seed=0, n=2, probabilities=False):
    rng = np.random.default_rng(seed)
    preds = [rng.standard_normal((n, len(m) * K, H, W)).astype(np.float32)
             for H, W, m in HEADS]
    if probabilities:  # new_coords reads the outputs as they are: keep them in (0, 1)
        preds = [(1 / (1 + np.exp(-p))).astype(np.float32) for p in preds]
    rows = np.array([[0, 3, 0.5, 0.5, 0.2, 0.3], [1, 2, 0.1, 0.2, 0.3, 0.4],
                     [1, 0, 0.12, 0.22, 0.25, 0.35], [1, 1, 0.9, 0.6, 0.05, 0.1]])
    return preds, rows


def run(**kw):
    plan = regionloss.YoloPlan(A, C, HEADS, NET, norm="sum", flavour="alexeyab", **kw)
    preds, rows = inputs(probabilities=bool(kw.get("new_coords")))
    res, grads = plan.compute(preds, rows)
    return plan, res, grads


def differs(a, b):
    ra, ga = a
    rb, gb = b
    return ra.darknet.cost != rb.darknet.cost or any(
        not np.array_equal(x, y) for x, y in zip(ga, gb))


# each option away from its default (kw), against the same without it (base)
@pytest.mark.parametrize("kw,base", [
    (dict(iou_loss="giou"), {}), (dict(iou_loss="diou"), {}), (dict(iou_loss="ciou"), {}),
    (dict(iou_loss="iou"), {}), (dict(iou_thresh=0.3), {}),
    # anchors and truths are centred together: DIoU is IoU there, CIoU and
    # GIoU are smaller (thresholds where an anchor crosses)
    (dict(iou_thresh=0.35, iou_thresh_kind="ciou"), dict(iou_thresh=0.35)),
    (dict(iou_thresh=0.5, iou_thresh_kind="giou"), dict(iou_thresh=0.5)),
    (dict(iou_normalizer=0.5), {}), (dict(obj_normalizer=2.0), {}), (dict(scale_x_y=1.2), {}),
    (dict(label_smooth_eps=0.1), {}), (dict(focal_loss=1), {}),
    (dict(objectness_smooth=1), {}), (dict(new_coords=1), None), (dict(max_boxes=1), {}),
    (dict(iou_loss="ciou", max_delta=1e-3), dict(iou_loss="ciou")),
    (dict(iou_loss="giou", show_details=0), dict(iou_loss="giou")),
    (dict(counters_per_class=[5, 1, 2, 9]), {}),
    (dict(counters_per_class=[5, 1, 2, 9], cls_normalizer=0.5),
     dict(counters_per_class=[5, 1, 2, 9])),
])
def test_every_option_reaches_the_library(kw, base):
    plan, res, grads = run(**kw)
    assert plan.variant in regionloss.variants()
    if base is None:  # new_coords reads other inputs: its own sanity, no pair
        assert res.darknet.count > 0 and np.isfinite(res.darknet.cost)
        return
    _, base_res, base_grads = run(**base)
    assert differs((res, grads), (base_res, base_grads)), f"{kw} changed nothing"


def test_iou_normalizer_scales_the_mse_box_deltas():
    """iou_normalizer multiplies every mse box delta (darknet's 0.75 default
    included): halving it halves exactly those entries, nothing else."""
    _, r1, g1 = run(iou_normalizer=0.75)
    _, r2, g2 = run(iou_normalizer=0.375)
    for h, (a, b) in enumerate(zip(g1, g2)):
        B = len(HEADS[h][2])
        a = a.reshape(a.shape[0], B, K, *a.shape[2:])
        b = b.reshape(b.shape[0], B, K, *b.shape[2:])
        np.testing.assert_array_equal(a[:, :, :4] / 2, b[:, :, :4])
        np.testing.assert_array_equal(a[:, :, 4:], b[:, :, 4:])
    assert r1.darknet.count == r2.darknet.count > 0


def test_counts_per_class_are_copied():
    counts = [5, 1, 2, 9]
    plan = regionloss.YoloPlan(A, C, HEADS, NET, flavour="alexeyab",
                               counters_per_class=np.array(counts))
    preds, rows = inputs()
    first, g1 = plan.compute(preds, rows)
    del counts
    gc.collect()
    again, g2 = plan.compute(preds, rows)
    assert first.darknet.cost == again.darknet.cost
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(flavour="ultralytics"), ValueError, r"flavour = 'ultralytics'; one of 'pjreddie'"),
    (dict(flavour="alexeyab", iou_loss="eiou"), ValueError, r"iou_loss = 'eiou'"),
    (dict(flavour="alexeyab", iou_thresh_kind="mse"), ValueError, r"iou_thresh_kind = 'mse'"),
    (dict(flavour="alexeyab", counters_per_class=[1, 2]), ValueError,
     r"counters_per_class: 2 counts for 4 classes"),
    (dict(flavour="alexeyab", counters_per_class=5), TypeError, r"counters_per_class = 5"),
    (dict(flavour="alexeyab", focal_loss=1.5), TypeError, r"focal_loss = 1.5"),
    (dict(iou_normalizer=1.0), regionloss.Error,
     r"iou_normalizer = 1 is an option of flavour alexeyab"),
    (dict(flavour="alexeyab", lambda_obj=5.0), regionloss.Error, r"lambda_obj = 5"),
    (dict(flavour="alexeyab", scale_x_y=-1.0), regionloss.Error, r"scale_x_y = -1"),
    (dict(flavour="alexeyab", counters_per_class=[1, -2, 3, 4]), regionloss.Error,
     r"counters_per_class\[1\] = -2"),
])
def test_bad_options(kw, exc, match):
    with pytest.raises(exc, match=match):
        regionloss.YoloPlan(A, C, HEADS, NET, **kw)


@pytest.mark.parametrize("kw", [
    {}, dict(iou_loss="ciou", iou_normalizer=0.07, max_delta=5.0, iou_thresh=0.213,
             scale_x_y=1.05),
    dict(new_coords=1, objectness_smooth=1, scale_x_y=2.0, iou_loss="ciou", iou_thresh=0.2),
    dict(iou_loss="giou", focal_loss=1, label_smooth_eps=0.1, counters_per_class=[5, 1, 2, 9]),
])
def test_every_variant_computes_it(kw):
    """Every variant of the machine runs the flavour and agrees with the
    reference (docs/numerics.md; the differential tests hold them to it on
    random networks)."""
    _, ref, ref_grads = run(variant="reference", **kw)
    for v in regionloss.variants():
        plan, res, grads = run(variant=v, **kw)
        assert plan.variant == v
        assert res.darknet.cost == pytest.approx(ref.darknet.cost, rel=1e-5, abs=1e-5)
        assert res.n_obj == ref.n_obj and res.n_noobj == ref.n_noobj
        for g, r in zip(grads, ref_grads):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_yolo_loss_takes_the_options():
    torch = need_torch()
    import regionloss.torch as rlt
    kw = dict(flavour="alexeyab", iou_loss="ciou", iou_normalizer=0.07, max_delta=5.0,
              iou_thresh=0.213, scale_x_y=1.05, counters_per_class=[5, 1, 2, 9])
    crit = rlt.YoloLoss(A, C, [m for _, _, m in HEADS], NET, norm="sum", **kw)
    preds, rows = inputs()
    tensors = [torch.tensor(p, requires_grad=True) for p in preds]
    loss = crit(tensors, torch.tensor(rows, dtype=torch.float32))
    loss.backward()
    plan = regionloss.YoloPlan(A, C, HEADS, NET, norm="sum", **kw)
    res, grads = plan.compute(preds, rows.astype(np.float32))
    assert float(loss) == pytest.approx(res.loss, rel=1e-6)
    for t, g in zip(tensors, grads):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-6, atol=1e-7)
