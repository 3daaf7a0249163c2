"""Bad configurations and inputs of the [yolo] heads (YoloPlan, YoloLoss)
raise regionloss.Error (the library's status and message) or
TypeError/ValueError naming the argument, and leave everything as it was:
every array and tensor the caller passed bit for bit, the gradient buffers,
and the module's crit.last."""
import gc
import inspect

import numpy as np
import pytest

import regionloss
from conftest import bits, expect_untouched, need_torch, reported, unraisable

A = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198),
     (373, 326)]
HEADS = [(4, 5, [6, 7, 8]), (8, 10, [3, 4, 5]), (16, 20, [0, 1, 2])]
NET = (160, 128)
C = 4
K = 5 + C


def plan(**kw):
    return regionloss.YoloPlan(A, C, HEADS, NET, **kw)


def inputs(seed=0, n=2):
    rng = np.random.default_rng(seed)
    preds = [rng.standard_normal((n, len(m) * K, H, W)).astype(np.float32)
             for H, W, m in HEADS]
    rows = np.array([[0, 3, 0.5, 0.5, 0.2, 0.3], [1, 2, 0.1, 0.2, 0.3, 0.4],
                     [1, 0, 0.9, 0.6, 0.05, 0.1]])
    return preds, rows


# ---- configuration ------------------------------------------------------------------------

@pytest.mark.parametrize("kw,exc,status,match", [
    (dict(heads=HEADS[0]), ValueError, None, r"heads\[0\] = 4; \(H, W, mask\) expected"),
    (dict(heads="abc"), TypeError, None, r"heads = 'abc'; a list of \(H, W, mask\)"),
    (dict(heads=[]), ValueError, None, r"0 heads; 1 to 16"),
    (dict(heads=[(4, 5, [6])] * 17), ValueError, None, r"17 heads; 1 to 16"),
    (dict(heads=[(4, 5, [])]), ValueError, None, r"heads\[0\]: an empty mask"),
    (dict(heads=[(4, 5, [0.5])]), TypeError, None, r"heads\[0\] mask = 0.5; an integer"),
    (dict(heads=[(4, 5, [0, 2 ** 40])]), ValueError, None, r"mask\[1\] = 1099511627776 does "
     r"not fit int32"),
    (dict(heads=[(4, 5, [0, 9])]), regionloss.Error, "RL_ERR_BAD_ARGUMENT",
     r"mask\[1\] = 9 is not an index of the 9 anchors"),
    (dict(heads=[(4, 5, [1]), (8, 10, [2, 2])]), regionloss.Error, "RL_ERR_BAD_ARGUMENT",
     r"head 1: mask\[1\] = 2 repeats mask\[0\]"),
    (dict(heads=[(0, 5, [1])]), regionloss.Error, "RL_ERR_BAD_SIZE", r"grid 0 x 5"),
    (dict(net_size=(0, 128)), regionloss.Error, "RL_ERR_BAD_SIZE", r"net size 0 x 128"),
    (dict(net_size=(160, 128, 3)), ValueError, None, r"net_size = \(160, 128, 3\)"),
    (dict(net_size=416.0), ValueError, None, r"net_size = 416.0"),
    (dict(anchors=[(10, 13), (16, -30)]), regionloss.Error, "RL_ERR_BAD_ANCHOR",
     r"anchor 1: h = -30 pixels"),
    (dict(anchors=[1, 2, 3]), ValueError, None, r"anchors: shape \(3,\)"),
    (dict(num_classes=0), regionloss.Error, "RL_ERR_BAD_SIZE", None),
    (dict(norm="batch"), ValueError, None, r"norm = 'batch'; one of 'sum', 'images'"),
    (dict(ignore_thresh=1.5), regionloss.Error, "RL_ERR_BAD_THRESH",
     r"ignore_thresh = 1.5 is not in \[0, 1\]"),
    (dict(truth_thresh=float("nan")), regionloss.Error, "RL_ERR_BAD_THRESH", r"truth_thresh"),
    (dict(lambda_obj=-1), regionloss.Error, "RL_ERR_BAD_LAMBDA", None),
    (dict(lambda_obj="1"), TypeError, None, r"lambda_obj = '1'; a number"),
    (dict(layout="nwhc"), ValueError, None, r"layout = 'nwhc'"),
    (dict(variant="nope"), regionloss.Error, "RL_ERR_UNKNOWN_VARIANT", None),
    (dict(grad_dtype="float16"), ValueError, None, r"grad_dtype = 'float16'"),
    (dict(threads=0), regionloss.Error, "RL_ERR_THREADS", None),
    (dict(box_loss="focal"), ValueError, None,
     r"^box_loss = 'focal'; one of 'mse', 'iou', 'giou', 'diou', 'ciou' expected$"),
    (dict(box_loss="CIoU"), ValueError, None, r"box_loss = 'CIoU'; one of 'mse', 'iou'"),
    (dict(box_loss=4), ValueError, None, r"box_loss = 4; one of 'mse', 'iou'"),
    (dict(box_loss=b"ciou"), ValueError, None, r"box_loss = b'ciou'; one of 'mse', 'iou'"),
])
def test_bad_configuration(kw, exc, status, match):
    args = dict(anchors=A, num_classes=C, heads=HEADS, net_size=NET)
    args.update(kw)
    anchors, num_classes = args.pop("anchors"), args.pop("num_classes")
    heads, net = args.pop("heads"), args.pop("net_size")
    with pytest.raises(exc, match=match) as info:
        regionloss.YoloPlan(anchors, num_classes, heads, net, **args)
    if status:
        assert info.value.status == status


# ---- predictions ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,exc,match", [
    (lambda p: p[0], TypeError, r"preds: a list of 3 per-head predictions"),
    (lambda p: p[:2], ValueError, r"preds: 2 predictions; this plan has 3 heads"),
    (lambda p: p + [p[0]], ValueError, r"preds: 4 predictions; this plan has 3 heads"),
    (lambda p: [p[1], p[0], p[2]], ValueError,
     r"preds\[0\]: shape \(2, 27, 8, 10\); head 0 .*grid 4x5, B=3, C=4.*\(N, 27, 4, 5\)"),
    (lambda p: [p[0], p[1][:, :18], p[2]], ValueError, r"preds\[1\]: shape \(2, 18, 8, 10\)"),
    (lambda p: [p[0], p[1], p[2][:1]], ValueError,
     r"preds\[2\]: 1 images, preds\[0\] holds 2"),
    (lambda p: [p[0], p[1].astype(np.float16), p[2]], TypeError,
     r"preds\[1\]: a float16 array, preds\[0\] is a float32 array"),
    (lambda p: [p[0], p[1], p[2].astype(np.float64)], TypeError,
     r"preds\[2\]: dtype float64.*float32"),
    (lambda p: [p[0], np.asfortranarray(p[1]), p[2]], ValueError,
     r"preds\[1\]: not C-contiguous"),
    (lambda p: [p[0].tolist(), p[1], p[2]], TypeError, r"preds\[0\]: a numpy.ndarray"),
])
def test_bad_predictions(make, exc, match):
    preds, rows = inputs()
    bad = make(list(preds))
    outs = [np.full_like(p, 7.0) for p in preds]
    extra = [b for b in (bad if isinstance(bad, list) else [bad]) if isinstance(b, np.ndarray)]
    expect_untouched(lambda: plan().compute(bad, rows, out=outs), exc, match,
                     *(preds + [rows] + outs + extra))


def test_nonfinite_prediction_names_its_head():
    preds, rows = inputs()
    preds[2][1, 4, 3, 7] = np.inf  # head 2, image 1, anchor 0's tc
    outs = [np.full_like(p, 7.0) for p in preds]
    err = expect_untouched(lambda: plan().compute(preds, rows, out=outs), regionloss.Error,
                           "not finite", *(preds + [rows] + outs))
    assert err.status == "RL_ERR_NONFINITE_PRED"
    assert "head 2" in str(err) and "image 1" in str(err)


@pytest.mark.parametrize("edit,exc,status,match", [
    (lambda r: r.__setitem__((2, 1), C), regionloss.Error, "RL_ERR_BAD_TRUTH",
     r"truth 1 of image 1: class 4 is not in \[0, 4\)"),
    (lambda r: r.__setitem__((0, 4), 0), regionloss.Error, "RL_ERR_BAD_TRUTH",
     r"truth 0 of image 0: w = 0"),
    (lambda r: r.__setitem__((1, 3), 1.5), regionloss.Error, "RL_ERR_BAD_TRUTH", r"cy = 1.5"),
    (lambda r: r.__setitem__((2, 1), 2.5), ValueError, None, r"row 2: class = 2.5"),
    (lambda r: r.__setitem__((1, 0), 2), ValueError, None,
     r"row 1: image index = 2.0 is not an integer in \[0, 2\)"),
])
def test_bad_targets(edit, exc, status, match):
    preds, rows = inputs()
    edit(rows)
    for r in (rows, rows.astype(np.float32)):
        outs = [np.full_like(p, 7.0) for p in preds]
        err = expect_untouched(lambda: plan().compute(preds, r, out=outs), exc, match,
                               *(preds + [r] + outs))
        if status:
            assert err.status == status


def test_bad_out_buffers_and_counts():
    preds, rows = inputs()
    p = plan()
    good = [np.full_like(x, 7.0) for x in preds]
    for out, exc, match in [
        (good[:2], ValueError, r"out: a list of 3 gradient buffers"),
        ([good[0], good[2], good[1]], ValueError, r"out\[1\]: float32 \(2, 27, 16, 20\)"),
        ([good[0], preds[1], good[2]], ValueError, r"out\[1\]: shares memory with pred"),
        ([good[0], good[1], good[2].astype(np.float16)], ValueError, r"out\[2\]: float16"),
    ]:
        expect_untouched(lambda: p.compute(preds, rows, out=out), exc, match,
                         *(preds + [rows] + good))
    err = expect_untouched(lambda: p.compute(preds, rows, out=good, global_counts=0),
                           regionloss.Error, r"global_counts->n_images = 0",
                           *(preds + [rows] + good))
    assert err.status == "RL_ERR_BAD_ARGUMENT"
    with pytest.raises(ValueError, match="closed"):
        p.close()
        p.compute(preds, rows)


def test_half_arrays_need_their_dtype():
    preds, rows = inputs()
    bf = [(x.view(np.uint32) >> 16).astype(np.uint16) for x in preds]
    with pytest.raises(TypeError, match=r"preds\[0\]: dtype uint16.*dtype='bfloat16'"):
        plan().compute(bf, rows)
    res, grads = plan(variant="generic").compute(bf, rows, dtype="bfloat16")
    assert all(g.dtype == np.uint16 for g in grads) and res.loss > 0
    with pytest.raises(TypeError, match=r"preds\[0\]: dtype float32 is float32, not the "
                                        r"dtype='bfloat16'"):
        plan().compute(preds, rows, dtype="bfloat16")


# ---- the module ---------------------------------------------------------------------------

def module_inputs(torch, dtype=None):
    preds, rows = inputs()
    outs = [torch.tensor(p, requires_grad=True) for p in preds]
    return outs, torch.tensor(rows)


def module():
    from regionloss.torch import YoloLoss
    return YoloLoss(A, C, [m for _, _, m in HEADS], NET)


def torch_int32():
    return need_torch().int32


@pytest.mark.parametrize("make,exc,match", [
    (lambda o: o[0], TypeError, r"outputs: a list of 3 head outputs"),
    (lambda o: o[:2], ValueError, r"outputs: 2 tensors; this loss has 3 heads"),
    (lambda o: [o[0], o[1], o[2], o[2]], ValueError, r"outputs: 4 tensors"),
    (lambda o: [o[0], o[1][:, :18].contiguous(), o[2]], ValueError,
     r"outputs\[1\]: shape \(2, 18, 8, 10\); head 1"),
    (lambda o: [o[0], o[1], o[2][:1]], ValueError, r"outputs\[2\]: 1 images, outputs\[0\] "
                                                   r"holds 2"),
    (lambda o: [o[0], o[1].to("meta"), o[2]], ValueError,
     r"outputs\[1\]: on meta.*output.cpu\(\)"),
    (lambda o: [o[0].double(), o[1], o[2]], TypeError,
     r"outputs\[0\]: dtype torch.float64.*output.float\(\)"),
    (lambda o: [o[0], o[1].to(torch_int32()), o[2]], TypeError,
     r"outputs\[1\]: dtype torch.int32"),
    (lambda o: [o[0], o[1].bfloat16(), o[2]], TypeError,
     r"outputs\[1\]: dtype torch.bfloat16, outputs\[0\] is torch.float32"),
    (lambda o: [o[0], o[1], o[2].transpose(2, 3)], ValueError,
     r"outputs\[2\]: not contiguous.*contiguous\(\)"),
    (lambda o: [o[0], o[1], o[2][..., 0].contiguous()], ValueError,
     r"outputs\[2\]: shape \(2, 27, 16\); a nchw tensor of 4"),
    (lambda o: [o[0], o[1], o[2].detach().numpy()], TypeError,
     r"outputs\[2\]: a torch.Tensor expected"),
])
@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "shapes-seen"])
def test_module_bad_outputs(make, exc, match, warm):
    """Also after a good call on outputs of the same shapes: a shape is
    validated once, type, device, dtype and layout every call."""
    torch = need_torch()
    outs, t = module_inputs(torch)
    crit = module()
    if warm:
        crit([o.detach().clone() for o in outs], t)
    last = crit.last
    before, tb = [o.detach().clone() for o in outs], t.clone()
    with pytest.raises(exc, match=match):
        crit(make(outs), t)
    for o, b in zip(outs, before):
        assert torch.equal(o.detach(), b) and o.grad is None
    assert torch.equal(t, tb)
    assert crit.last is last and (warm or last is None)


@pytest.mark.parametrize("edit,exc,match", [
    (lambda o, t: t.__setitem__((2, 1), 9), regionloss.Error, r"class 9 is not in \[0, 4\)"),
    (lambda o, t: o[1].data.view(-1).__setitem__(4 * 80, float("nan")), regionloss.Error,
     r"head 1: .*not finite"),
    (lambda o, t: t.__setitem__((0, 0), 5), ValueError, r"row 0: image index"),
    (lambda o, t: t.__setitem__((0, 5), 0.0), regionloss.Error, r"h = 0"),
])
@pytest.mark.parametrize("rows", ["float32", "float64"])
def test_module_bad_values(edit, exc, match, rows):
    """Bad values, found by the binding or by the library: nothing moves,
    crit.last stays the last good call's (float32 row tensors take the
    library's conversion, float64 ones numpy's: the same messages)."""
    torch = need_torch()
    outs, t = module_inputs(torch)
    t = t.float() if rows == "float32" else t
    crit = module()
    crit(outs, t).backward()
    grads = [o.grad.clone() for o in outs]
    last = crit.last
    # each .grad holds its head's buffer: the next call takes new ones,
    # which it keeps only if it succeeds
    bufs = list(crit._grad_bufs)
    edit(outs, t)
    before, tb = [o.detach().clone() for o in outs], t.clone()
    with pytest.raises(exc, match=match):
        crit(outs, t)
    for o, b, g in zip(outs, before, grads):
        assert torch.equal(o.detach().view(torch.int32), b.view(torch.int32))
        assert torch.equal(o.grad, g)
    assert torch.equal(t, tb)
    assert crit.last is last
    assert all(a is b for a, b in zip(crit._grad_bufs, bufs))


def test_library_refuses_an_unknown_box_loss():
    """A box_loss value the binding never passes (it maps names), set in
    the raw struct: rl_yolo_plan_create refuses it with RL_ERR_BAD_ENUM
    naming the field and the values it takes, and makes no plan."""
    import ctypes
    from regionloss import _lib
    anchors = np.array(A, dtype=np.float32)
    mask = np.array([0, 1], dtype=np.int32)
    head = _lib.rl_yolo_head(4, 5, 2, mask.ctypes.data)
    for value in (len(_lib.BOX_LOSSES), -1):
        cfg = _lib.rl_yolo_config()
        _lib.yolo_config_init(ctypes.byref(cfg))
        assert cfg.box_loss == _lib.BOX_LOSSES["mse"]
        cfg.n_heads, cfg.heads, cfg.C = 1, ctypes.addressof(head), C
        cfg.n_anchors, cfg.anchors = len(A), anchors.ctypes.data
        cfg.net_w, cfg.net_h = NET
        out = ctypes.c_void_p(None)
        cfg.box_loss = _lib.BOX_LOSSES["ciou"]
        code = _lib.yolo_plan_create(ctypes.byref(cfg), ctypes.byref(out))
        assert code == _lib.RL_OK and out.value   # the struct is otherwise good
        _lib.yolo_plan_destroy(out)
        out = ctypes.c_void_p(None)
        cfg.box_loss = value
        with pytest.raises(regionloss.Error, match=rf"box_loss = {value} is not a box loss "
                           r"\(0 mse, 1 iou, 2 giou, 3 diou, 4 ciou\)") as e:
            _lib.check(_lib.yolo_plan_create(ctypes.byref(cfg), ctypes.byref(out)))
        assert e.value.status == "RL_ERR_BAD_ENUM" and not out.value


def test_module_configuration_errors():
    need_torch()
    from regionloss.torch import YoloLoss
    masks = [m for _, _, m in HEADS]
    with pytest.raises(ValueError, match="accumulat"):
        YoloLoss(A, C, masks, NET, grad_mode="accumulate")
    with pytest.raises(TypeError, match="masks="):
        YoloLoss(A, C, masks, NET, heads=HEADS)
    with pytest.raises(ValueError, match="grad_dtype"):
        YoloLoss(A, C, masks, NET, grad_dtype="float32")
    with pytest.raises(TypeError, match="unknown option.*thresh"):
        YoloLoss(A, C, masks, NET, thresh=0.5)
    with pytest.raises(TypeError, match="masks = 3"):
        YoloLoss(A, C, 3, NET)
    with pytest.raises(regionloss.Error) as e:
        YoloLoss(A, C, [[0, 1], [1]], NET, lambda_noobj=float("inf"))
    assert e.value.status == "RL_ERR_BAD_LAMBDA"
    with pytest.raises(regionloss.Error, match=r"head 1: mask\[0\] = 9"):
        YoloLoss(A, C, [[0], [9]], NET)
    with pytest.raises(ValueError, match="norm = 'batch'"):
        YoloLoss(A, C, masks, NET, norm="batch")
    with pytest.raises(ValueError, match=r"^box_loss = 'eiou'; one of 'mse', 'iou', 'giou', "
                       r"'diou', 'ciou' expected$"):
        YoloLoss(A, C, masks, NET, box_loss="eiou")
    # darknet's cfg key is flavour alexeyab's option; without that flavour the
    # library refuses it and names box_loss; the region loss has no hint to give
    with pytest.raises(regionloss.Error, match=r"iou_loss = 4 is an option of flavour "
                       r"alexeyab.*box loss is box_loss"):
        YoloLoss(A, C, masks, NET, iou_loss="ciou")
    from regionloss.torch import RegionLoss
    with pytest.raises(TypeError, match=r"unknown option\(s\) iou_loss; it takes") as e:
        RegionLoss([(1, 1)], 2, iou_loss="ciou")
    assert "darknet's" not in str(e.value)


def test_unknown_options_name_the_class_and_collect_quietly(monkeypatch):
    """YoloPlan(..., coord_scale=1): Python's TypeError, and the half-made
    plan is collected without a stray AttributeError from __del__ (issue
    24); YoloLoss names itself, the keyword, darknet's name for it and
    what it takes."""
    need_torch()
    from regionloss.torch import YoloLoss
    got = unraisable(monkeypatch)
    with pytest.raises(TypeError, match="coord_scale"):
        plan(coord_scale=1.0)
    with pytest.raises(regionloss.Error):
        plan(threads=0)
    with pytest.raises(TypeError, match=r"^YoloLoss: unknown option\(s\) coord_scale "
                       r"\(darknet's coord_scale is lambda_coord\); it takes layout, "
                       r"lambda_coord, .*, distributed, process_group \(docs/python.md\)"):
        YoloLoss(A, C, [m for _, _, m in HEADS], NET, coord_scale=1.0)
    gc.collect()
    assert reported(got) == []


def test_module_takes_every_plan_option():
    """YoloLoss checks keywords against its own list; an option YoloPlan
    gains must be added there (grad_mode and grad_dtype are the module's)."""
    need_torch()
    from regionloss.torch import _YOLO_OPTIONS
    kw = {p.name for p in inspect.signature(regionloss.YoloPlan).parameters.values()
          if p.kind is p.KEYWORD_ONLY}
    assert sorted(_YOLO_OPTIONS) == sorted(kw - {"grad_mode", "grad_dtype"})


def test_module_net_size_per_call_is_checked():
    torch = need_torch()
    outs, t = module_inputs(torch)
    crit = module()
    with pytest.raises(ValueError, match=r"net_size = \(1, 2, 3\)"):
        crit(outs, t, net_size=(1, 2, 3))
    with pytest.raises(regionloss.Error, match=r"net size -1 x 128"):
        crit(outs, t, net_size=(-1, 128))
    assert crit.last is None


def test_module_distributed_without_a_process_group():
    torch = need_torch()
    from regionloss.torch import YoloLoss
    outs, t = module_inputs(torch)
    crit = YoloLoss(A, C, [m for _, _, m in HEADS], NET, distributed=True)
    with pytest.raises(RuntimeError, match="not initialised"):
        crit(outs, t)
    assert crit.last is None and all(o.grad is None for o in outs)
