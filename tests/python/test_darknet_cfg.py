"""regionloss.darknet_options: a darknet cfg's [yolo] and [region] sections
as keyword arguments, read by the library's parser, in pjreddie's flavour
or AlexeyAB's (by the section's options, or flavour=).  The fixtures of
tests/data/darknet_cfg carry darknet's option sets with numbers of their
own; the modules and plans made from the options compute what the same
options given by hand compute, bit for bit, and a bad cfg raises
ValueError with the library's message."""
import os

import numpy as np
import pytest

import regionloss
from conftest import SOURCE_ROOT, need_torch, rows

CFG_DIR = os.path.join(SOURCE_ROOT, "tests", "data", "darknet_cfg")

THREE_HEADS_ANCHORS = [8, 10, 14, 26, 30, 20, 28, 58, 60, 42, 56, 110, 110, 86, 150, 190,
                       300, 280]


def fixture(name):
    with open(os.path.join(CFG_DIR, name)) as f:
        return f.read()


def test_yolo_one_section():
    opts = regionloss.darknet_options(fixture("three_heads.cfg"), 6)
    assert opts.layer == "yolo"
    assert opts.sections == (6,)
    assert opts.lines == (58,)
    assert opts == {"anchors": THREE_HEADS_ANCHORS, "num_classes": 3, "masks": [[3, 4, 5]],
                    "net_size": (320, 256), "ignore_thresh": 0.65, "truth_thresh": 1.0,
                    "flavour": "pjreddie"}


def test_yolo_sections_of_a_network():
    opts = regionloss.darknet_options(fixture("three_heads.cfg").encode(), [2, 6])
    assert opts["masks"] == [[6, 7, 8], [3, 4, 5]]
    assert opts.lines == (31, 58)
    assert opts.heads([(8, 10), (16, 20)]) == [(8, 10, [6, 7, 8]), (16, 20, [3, 4, 5])]


def test_region_section():
    opts = regionloss.darknet_options(fixture("region.cfg"), 3)
    assert opts.layer == "region"
    assert opts.lines == (31,)
    assert opts == {"anchors": [1.25, 1.5, 3.0, 4.25, 5.5, 7.75, 9.0, 4.5], "num_classes": 5,
                    "mode": "darknet", "lambda_coord": 1.5, "lambda_class": 2.0,
                    "lambda_obj": 4.0, "lambda_noobj": 0.5, "thresh": 0.55, "rescore": True,
                    "logistic_classes": False, "flavour": "pjreddie"}


def _yolo_case(rng):
    preds = [rng.normal(size=(2, 3 * 8, H, W)).astype(np.float32) for H, W in ((8, 10), (16, 20))]
    return preds, rows(rng, 2, 3, 3)


def test_yolo_plan_same_as_explicit():
    opts = regionloss.darknet_options(fixture("three_heads.cfg"), [2, 6])
    rng = np.random.default_rng(7)
    preds, targets = _yolo_case(rng)
    grids = [p.shape[2:] for p in preds]
    a = regionloss.YoloPlan(**opts.plan_options(grids))
    b = regionloss.YoloPlan(THREE_HEADS_ANCHORS, 3, [(8, 10, [6, 7, 8]), (16, 20, [3, 4, 5])],
                            (320, 256), ignore_thresh=0.65, truth_thresh=1.0)
    ra, ga = a.compute(preds, targets)
    rb, gb = b.compute(preds, targets)
    assert ra.loss == rb.loss
    for x, y in zip(ga, gb):
        assert np.array_equal(x, y)


def test_region_plan_same_as_explicit():
    opts = regionloss.darknet_options(fixture("region.cfg"), 3)
    rng = np.random.default_rng(3)
    pred = rng.normal(size=(2, 4 * 10, 11, 11)).astype(np.float32)
    targets = rows(rng, 2, 3, 5)
    a = regionloss.Plan(**opts.plan_options((11, 11)))
    b = regionloss.Plan([(1.25, 1.5), (3.0, 4.25), (5.5, 7.75), (9.0, 4.5)], 5, (11, 11),
                        mode="darknet", lambda_coord=1.5, lambda_class=2.0, lambda_obj=4.0,
                        lambda_noobj=0.5, thresh=0.55, rescore=True, logistic_classes=False)
    ra, ga = a.compute(pred, targets, seen=100)
    rb, gb = b.compute(pred, targets, seen=100)
    assert ra.loss == rb.loss
    assert np.array_equal(ga, gb)
    # and the cfg's scales matter: the darknet defaults give another loss
    rc, _ = regionloss.Plan(opts["anchors"], 5, (11, 11), mode="darknet").compute(
        pred, targets, seen=100)
    assert rc.loss != ra.loss


def test_modules_from_options():
    torch = need_torch()
    from regionloss.torch import RegionLoss, YoloLoss
    opts = regionloss.darknet_options(fixture("three_heads.cfg"), [2, 6])
    rng = np.random.default_rng(11)
    preds, targets = _yolo_case(rng)
    crit = YoloLoss(**opts)
    same = YoloLoss(THREE_HEADS_ANCHORS, 3, [[6, 7, 8], [3, 4, 5]], (320, 256),
                    ignore_thresh=0.65, truth_thresh=1.0)
    outs = [torch.tensor(p, requires_grad=True) for p in preds]
    outs2 = [torch.tensor(p, requires_grad=True) for p in preds]
    la = crit(outs, torch.tensor(targets))
    lb = same(outs2, torch.tensor(targets))
    la.backward()
    lb.backward()
    assert la.item() == lb.item()
    for x, y in zip(outs, outs2):
        assert torch.equal(x.grad, y.grad)
    # the box loss is not a cfg option: the caller's choice still
    assert YoloLoss(**opts, box_loss="ciou") is not None
    # AlexeyAB's sections make modules too: YOLOv7's option set, and the one
    # with counters_per_class, focal loss and max
    for section in (5, 7):
        ab = regionloss.darknet_options(fixture("ab_heads.cfg"), section)
        explicit = {k: v for k, v in ab.items()
                    if k not in ("anchors", "num_classes", "masks", "net_size")}
        out = torch.tensor(rng.normal(size=(2, 24, 8, 10)).astype(np.float32),
                           requires_grad=True)
        out2 = out.detach().clone().requires_grad_(True)
        t = torch.tensor(rows(rng, 2, 3, 3))
        la = YoloLoss(**ab)([out], t)
        lb = YoloLoss(THREE_HEADS_ANCHORS, 3, ab["masks"], (320, 256), **explicit)([out2], t)
        la.backward()
        lb.backward()
        assert la.item() == lb.item()
        assert torch.equal(out.grad, out2.grad)
    r = RegionLoss(**regionloss.darknet_options(fixture("ab_region.cfg"), 1))
    out = torch.tensor(rng.normal(size=(2, 40, 11, 11)).astype(np.float32), requires_grad=True)
    r(out, torch.tensor(rows(rng, 2, 2, 5))).backward()
    assert out.grad is not None
    r = RegionLoss(**regionloss.darknet_options(fixture("region.cfg"), 3))
    out = torch.tensor(rng.normal(size=(2, 40, 11, 11)).astype(np.float32), requires_grad=True)
    r(out, torch.tensor(rows(rng, 2, 2, 5))).backward()
    assert out.grad is not None


NET = "[net]\nwidth=416\nheight=416\n"


@pytest.mark.parametrize("text, section, message", [
    (NET + "[yolo]\nmask=0,1,9\nnum=9\nanchors=" + ",".join(["1"] * 18) + "\n", 0,
     "line 5: mask = 0,1,9: 9 is not an anchor index: num = 9, so 0 to 8"),
    (NET + "[yolo]\nnum=3\nanchors=10,13, 16,30\n", 0,
     "line 6: anchors = 10,13, 16,30: 4 values; num = 3 anchors take 6"),
    (NET + "[yolo]\nanchors=1,2\nignore_thresh=.7x\n", 0,
     "line 6: ignore_thresh = .7x: not a number"),
    (NET + "[yolo]\nanchors=1,2\niou_loss=CIoU\n", 0,
     "line 6: iou_loss = CIoU: not mse, iou, giou, diou or ciou (darknet would read it as iou)"),
    (NET + "[yolo]\nanchors=1,2\nclasses=2\ncounters_per_class=5\n", 0,
     "line 7: counters_per_class = 5: 1 counts; classes = 2: one count per class"),
    (NET + "[yolo]\nanchors=1,2\nscale_x_y=0\n", 0, "line 6: scale_x_y = 0: not in (0, 1e+06]"),
    ("[net]\n[region]\nanchors=1,2\nbias_match=1\nfocal_loss=1\n", 0,
     "line 5: focal_loss = 1: AlexeyAB's focal loss needs softmax=1"),
    (NET + "[yolo]\nanchors=1,2\nignore_tresh=.5\n", 0,
     "line 6: ignore_tresh = .5: not an option of [yolo] that this library knows"),
    (NET + "[convolutional]\n[yolo]\nanchors=1,2\n", 0,
     "line 4: section 0 is a [convolutional] layer, not a [yolo] or [region] one; the loss "
     "layers of this cfg: 1 [yolo]"),
    (NET + "[Gaussian_yolo]\nanchors=1,2\n", 0, "section 0 is a [Gaussian_yolo] layer"),
    (NET + "[yolo]\nanchors=1,2\n", 1, "section 1: the cfg has 1 layers (0 to 0)"),
    ("[net]\n[region]\nanchors=1,2\nbias_match=1\ntree=9k.tree\n", 0,
     "line 5: tree = 9k.tree: not supported: a softmax tree"),
    ("[net]\n[region]\nanchors=1,2\n", 0, "has no bias_match=1"),
    (NET + "[region]\nanchors=1,2\nbias_match=1\n[yolo]\nanchors=1,2\n", [0, 1],
     "section 0 (line 4) is a [region] layer: a list of sections is the [yolo] heads"),
])
def test_errors(text, section, message):
    with pytest.raises(ValueError) as e:
        regionloss.darknet_options(text, section)
    assert message in str(e.value)


AB_DEFAULTS = {"flavour": "alexeyab", "iou_loss": "mse", "iou_thresh_kind": "iou",
               "iou_normalizer": 0.75, "cls_normalizer": 1.0, "obj_normalizer": 1.0,
               "scale_x_y": 1.0, "iou_thresh": 1.0, "label_smooth_eps": 0.0,
               "max_delta": float(np.finfo(np.float32).max), "focal_loss": 0, "new_coords": 0,
               "objectness_smooth": 0, "max_boxes": 200, "show_details": 1,
               "counters_per_class": None}


def test_alexeyab_yolo_section():
    # YOLOv4's option set: AlexeyAB's layer without being asked
    opts = regionloss.darknet_options(fixture("ab_options.cfg"), 1)
    assert opts == dict(AB_DEFAULTS, anchors=[10, 12, 18, 30, 36, 26, 34, 70, 70, 50, 66, 140,
                                              130, 100, 180, 230, 400, 360],
                        num_classes=3, masks=[[0, 1, 2]], net_size=(320, 320),
                        ignore_thresh=0.7, truth_thresh=1.0, scale_x_y=1.1, iou_thresh=0.2,
                        cls_normalizer=1.0, iou_normalizer=0.07, iou_loss="ciou",
                        max_delta=5.0)
    assert regionloss.darknet_options(fixture("ab_options.cfg"), 1, flavour="alexeyab") == opts
    with pytest.raises(ValueError, match=r"line 23: scale_x_y = 1\.1: an option of AlexeyAB's "
                                         r"\[yolo\] layer, and the section is read as "
                                         r"pjreddie's"):
        regionloss.darknet_options(fixture("ab_options.cfg"), 1, flavour="pjreddie")


def test_alexeyab_heads_and_counters():
    text = fixture("ab_heads.cfg")
    v7 = regionloss.darknet_options(text, 5)
    assert (v7["new_coords"], v7["objectness_smooth"], v7["scale_x_y"], v7["obj_normalizer"],
            v7["cls_normalizer"], v7["iou_normalizer"]) == (1, 1, 2.0, 0.8, 0.6, 0.04)
    rest = regionloss.darknet_options(text, 7)
    assert rest["counters_per_class"] == [120, 0, 45]
    assert (rest["iou_loss"], rest["iou_thresh_kind"], rest["max_boxes"], rest["focal_loss"],
            rest["show_details"], rest["label_smooth_eps"]) == ("diou", "giou", 50, 1, 0, 0.1)


def _ab_case(rng, grids):
    preds = [rng.normal(size=(2, 3 * 8, H, W)).astype(np.float32) for H, W in grids]
    return preds, rows(rng, 2, 4, 3)


@pytest.mark.parametrize("section", [1, 5, 7])
def test_alexeyab_plan_same_as_explicit(section):
    opts = regionloss.darknet_options(fixture("ab_heads.cfg"), section)
    rng = np.random.default_rng(section)
    preds, targets = _ab_case(rng, [(8, 10)])
    a = regionloss.YoloPlan(**opts.plan_options([(8, 10)]), norm="sum")
    explicit = {k: v for k, v in opts.items()
                if k not in ("anchors", "num_classes", "masks", "net_size")}
    b = regionloss.YoloPlan(THREE_HEADS_ANCHORS, 3, [(8, 10, opts["masks"][0])], (320, 256),
                            norm="sum", **explicit)
    ra, ga = a.compute(preds, targets)
    rb, gb = b.compute(preds, targets)
    assert ra.loss == rb.loss
    assert np.array_equal(ga[0], gb[0])
    # and the flavour matters: pjreddie's layer with the section's thresholds
    # gives another loss
    pj = regionloss.YoloPlan(THREE_HEADS_ANCHORS, 3, [(8, 10, opts["masks"][0])], (320, 256),
                             norm="sum", ignore_thresh=opts["ignore_thresh"])
    assert pj.compute(preds, targets)[0].loss != ra.loss


def test_yolo_flavour_chosen():
    text = fixture("three_heads.cfg")
    opts = regionloss.darknet_options(text, [2, 6], flavour="alexeyab")
    assert opts == dict(AB_DEFAULTS, anchors=THREE_HEADS_ANCHORS, num_classes=3,
                        masks=[[6, 7, 8], [3, 4, 5]], net_size=(320, 256), ignore_thresh=0.65,
                        truth_thresh=1.0)
    assert regionloss.darknet_options(text, 2, flavour="pjreddie")["flavour"] == "pjreddie"
    rng = np.random.default_rng(5)
    preds, targets = _yolo_case(rng)
    grids = [p.shape[2:] for p in preds]
    ab = regionloss.YoloPlan(**opts.plan_options(grids)).compute(preds, targets)[0]
    pj = regionloss.YoloPlan(**regionloss.darknet_options(text, [2, 6]).plan_options(grids))
    assert ab.loss != pj.compute(preds, targets)[0].loss
    with pytest.raises(ValueError, match=r"flavour = 'AlexeyAB'; \"pjreddie\" or "
                                         r"\"alexeyab\" expected"):
        regionloss.darknet_options(text, 2, flavour="AlexeyAB")


def test_alexeyab_region_same_as_explicit():
    opts = regionloss.darknet_options(fixture("ab_region.cfg"), 1)
    assert opts == {"anchors": [1.25, 1.5, 3.0, 4.25, 5.5, 7.75, 9.0, 4.5], "num_classes": 5,
                    "mode": "darknet", "lambda_coord": 1.5, "lambda_class": 2.0,
                    "lambda_obj": 4.0, "lambda_noobj": 0.5, "thresh": 0.55, "rescore": True,
                    "logistic_classes": False, "flavour": "alexeyab", "classfix": 2,
                    "focal_loss": True}
    rng = np.random.default_rng(4)
    pred = rng.normal(size=(2, 4 * 10, 11, 11)).astype(np.float32)
    targets = rows(rng, 2, 3, 5)
    a = regionloss.Plan(**opts.plan_options((11, 11)))
    b = regionloss.Plan([(1.25, 1.5), (3.0, 4.25), (5.5, 7.75), (9.0, 4.5)], 5, (11, 11),
                        mode="darknet", lambda_coord=1.5, lambda_class=2.0, lambda_obj=4.0,
                        lambda_noobj=0.5, thresh=0.55, rescore=True, logistic_classes=False,
                        flavour="alexeyab", classfix=2, focal_loss=True)
    ra, ga = a.compute(pred, targets, seen=100)
    rb, gb = b.compute(pred, targets, seen=100)
    assert ra.loss == rb.loss
    assert np.array_equal(ga, gb)
    with pytest.raises(ValueError, match=r"line 22: resize = 1\.5: an option of AlexeyAB's "
                                         r"\[region\] layer"):
        regionloss.darknet_options(fixture("ab_region.cfg"), 1, flavour="pjreddie")


def test_alexeyab_heads_must_agree():
    # YOLOv4's scale_x_y differs by layer: a loss per head
    with pytest.raises(ValueError, match=r"section 3 \(line 38\) has scale_x_y = 1\.08, "
                                         r"section 1 1\.15: the heads of one loss share it"):
        regionloss.darknet_options(fixture("ab_heads.cfg"), [1, 3])
    text = NET + "[yolo]\nanchors=1,2\nnms_kind=greedynms\n[yolo]\nanchors=1,2\n"
    with pytest.raises(ValueError, match=r"section 1 \(line 7\) is read as pjreddie's layer, "
                                         r"section 0 as alexeyab's"):
        regionloss.darknet_options(text, [0, 1])
    assert regionloss.darknet_options(text, [0, 1], flavour="alexeyab")["flavour"] == "alexeyab"


def test_heads_must_agree():
    with pytest.raises(ValueError, match=r"section 8 \(line 75\) has truth_thresh = 0\.9, "
                                         r"section 2 1\.0: the heads of one loss share it"):
        regionloss.darknet_options(fixture("three_heads.cfg"), [2, 6, 8])


def test_argument_types():
    text = fixture("three_heads.cfg")
    with pytest.raises(TypeError, match="cfg_text"):
        regionloss.darknet_options(42, 2)
    with pytest.raises(TypeError, match="section"):
        regionloss.darknet_options(text, "2")
    with pytest.raises(TypeError, match="section"):
        regionloss.darknet_options(text, True)
    with pytest.raises(ValueError, match="numbered from 0"):
        regionloss.darknet_options(text, -1)
    with pytest.raises(ValueError, match="twice"):
        regionloss.darknet_options(text, [2, 2])
    with pytest.raises(ValueError, match="empty"):
        regionloss.darknet_options(text, [])
