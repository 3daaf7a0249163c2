"""Bad inputs raise regionloss.Error (the library's status and message) or
TypeError/ValueError with a message, and leave every array and tensor the
caller passed bit for bit as it was, the gradient buffer included."""
import gc
import inspect

import numpy as np
import pytest

import regionloss
from conftest import (HALF_VARIANTS, VOC_ANCHORS, bits, expect_untouched, need_torch,
                      reported, unraisable)

C = 20
K = 5 + C


def plan(**kw):
    return regionloss.Plan(VOC_ANCHORS, C, (13, 13), **kw)


def inputs(seed=0, n=2):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((n, 5 * K, 13, 13)).astype(np.float32)
    rows = np.array([[0, 3, 0.5, 0.5, 0.2, 0.3], [1, 7, 0.1, 0.2, 0.3, 0.4],
                     [1, 19, 0.9, 0.6, 0.5, 0.1]])
    return pred, rows


@pytest.mark.parametrize("make,exc,match", [
    (lambda p: p[:, :-1], ValueError, r"shape \(2, 124, 13, 13\).*\(N, 125, 13, 13\)"),
    (lambda p: p[:, :, :12], ValueError, r"shape \(2, 125, 12, 13\)"),
    (lambda p: p[0], ValueError, r"shape \(125, 13, 13\)"),
    (lambda p: p.astype(np.float64), TypeError, r"dtype float64.*float32"),
    (lambda p: p.astype(np.int16), TypeError, r"dtype int16.*float32, float16 or bfloat16"),
    (lambda p: p.view(np.uint16), TypeError, r"dtype uint16.*dtype='bfloat16'"),
    (lambda p: np.asfortranarray(p), ValueError, r"not C-contiguous"),
    (lambda p: p.tolist(), TypeError, r"numpy.ndarray"),
])
def test_bad_predictions(make, exc, match):
    pred, rows = inputs()
    bad = make(pred)
    out = np.full_like(pred, 7.0)
    expect_untouched(lambda: plan().compute(bad, rows, out=out), exc, match,
                     *([pred, rows, out] + ([bad] if isinstance(bad, np.ndarray) else [])))


def test_nan_prediction_is_the_librarys_error():
    pred, rows = inputs()
    pred[1, 4, 2, 5] = np.nan  # image 1, anchor 0, tc at cell (2, 5): the loss reads it
    out = np.full_like(pred, 7.0)
    err = expect_untouched(lambda: plan().compute(pred, rows, out=out), regionloss.Error,
                           "not finite", pred, rows, out)
    assert err.status == "RL_ERR_NONFINITE_PRED"
    assert "image 1" in str(err)


@pytest.mark.parametrize("edit,exc,status,match", [
    (lambda r: r.__setitem__((2, 1), 20), regionloss.Error, "RL_ERR_BAD_TRUTH",
     r"truth 1 of image 1: class 20 is not in \[0, 20\)"),
    (lambda r: r.__setitem__((0, 4), 0), regionloss.Error, "RL_ERR_BAD_TRUTH",
     r"truth 0 of image 0: w = 0"),
    (lambda r: r.__setitem__((1, 2), np.nan), regionloss.Error, "RL_ERR_BAD_TRUTH",
     r"image 1.*nan"),
    (lambda r: r.__setitem__((1, 3), 1.5), regionloss.Error, "RL_ERR_BAD_TRUTH", r"cy = 1.5"),
    (lambda r: r.__setitem__((2, 1), 2.5), ValueError, None, r"row 2: class = 2.5"),
    (lambda r: r.__setitem__((0, 1), np.nan), ValueError, None, r"row 0: class = nan"),
    (lambda r: r.__setitem__((1, 0), 2), ValueError, None,
     r"row 1: image index = 2.0 is not an integer in \[0, 2\)"),
    (lambda r: r.__setitem__((1, 0), -1), ValueError, None, r"row 1: image index"),
])
def test_bad_targets(edit, exc, status, match):
    pred, rows = inputs()
    edit(rows)
    out = np.full_like(pred, 7.0)
    err = expect_untouched(lambda: plan().compute(pred, rows, out=out), exc, match,
                           pred, rows, out)
    if status:
        assert err.status == status


@pytest.mark.parametrize("targets,exc,match", [
    (np.zeros((3, 5)), ValueError, r"shape \(3, 5\); \(rows, 6\)"),
    (np.array([["a"] * 6]), TypeError, r"dtype <U1"),
    ([np.zeros((1, 5))], ValueError, r"targets describe 1 images, the predictions hold 2"),
    ([np.zeros((1, 6)), np.zeros((0, 5))], ValueError, r"targets\[0\]: shape \(1, 6\)"),
])
def test_bad_target_shapes(targets, exc, match):
    pred, _ = inputs()
    expect_untouched(lambda: plan().compute(pred, targets), exc, match, pred)


@pytest.mark.parametrize("kw,exc,status,match", [
    (dict(anchors=[(1.0, -2.0)]), regionloss.Error, "RL_ERR_BAD_ANCHOR", r"anchor"),
    (dict(lambda_obj=-1.0), regionloss.Error, "RL_ERR_BAD_LAMBDA", r"lambda_obj = -1"),
    (dict(thresh=1.5), regionloss.Error, "RL_ERR_BAD_THRESH", r"thresh"),
    (dict(variant="sse9"), regionloss.Error, "RL_ERR_UNKNOWN_VARIANT", r"sse9"),
    (dict(mode="darknet", norm="batch"), regionloss.Error, "RL_ERR_BAD_ENUM", r"darknet"),
    (dict(threads=0), regionloss.Error, "RL_ERR_THREADS", r"threads"),
    (dict(num_classes=0), regionloss.Error, "RL_ERR_BAD_SIZE", r"C"),
    (dict(layout="nwch"), ValueError, None, r"layout = 'nwch'"),
    (dict(norm="counts"), ValueError, None, r"norm = 'counts'; one of 'batch'"),
    (dict(grid=(13, 13, 1)), ValueError, None, r"grid"),
    (dict(threads=1.5), TypeError, None, r"threads = 1.5"),
    (dict(anchors=[1.0, 2.0, 3.0]), ValueError, None, r"anchors: shape \(3,\)"),
    (dict(mode="darknet", flavour="ab"), ValueError, None, r"flavour = 'ab'; one of"),
    (dict(flavour="alexeyab"), regionloss.Error, "RL_ERR_BAD_ARGUMENT", r"needs darknet mode"),
    (dict(mode="darknet", classfix=1), regionloss.Error, "RL_ERR_BAD_ARGUMENT",
     r"classfix = 1 is AlexeyAB's option"),
    (dict(mode="darknet", focal_loss=True), regionloss.Error, "RL_ERR_BAD_ARGUMENT",
     r"focal_loss = 1 is AlexeyAB's option"),
    (dict(mode="darknet", flavour="alexeyab", classfix=2**32 + 1), ValueError, None,
     r"classfix = 4294967297; -1, 0, 1 or 2"),
    (dict(mode="darknet", flavour="alexeyab", classfix=True), TypeError, None, r"classfix"),
    (dict(mode="darknet", flavour="alexeyab", focal_loss=True, logistic_classes=True),
     regionloss.Error, "RL_ERR_BAD_ARGUMENT", r"focal_loss = 1 needs softmax classes"),
])
def test_bad_configuration(kw, exc, status, match):
    args = dict(anchors=VOC_ANCHORS, num_classes=C, grid=(13, 13))
    args.update(kw)
    with pytest.raises(exc, match=match) as info:
        regionloss.Plan(**args)
    if status:
        assert info.value.status == status
        assert str(info.value)  # the library's message, never empty


def test_failed_plan_is_collected_quietly(monkeypatch):
    """A Plan whose __init__ failed is still collected: Python refuses an
    unknown keyword before the body runs, and its __del__ (close) must not
    raise AttributeError for the _handle never set (issue 24); nor after
    a body that stopped part-way."""
    got = unraisable(monkeypatch)
    with pytest.raises(TypeError, match="coord_scale"):
        regionloss.Plan(VOC_ANCHORS, C, (13, 13), coord_scale=1.0)
    with pytest.raises(ValueError, match="grad_dtype"):
        regionloss.Plan(VOC_ANCHORS, C, (13, 13), grad_dtype="float16")
    with pytest.raises(regionloss.Error):
        regionloss.Plan(VOC_ANCHORS, C, (13, 13), threads=0)
    gc.collect()
    assert reported(got) == []


def test_module_unknown_option_names_the_module(monkeypatch):
    """RegionLoss(..., coord_scale=1.0): a TypeError naming RegionLoss
    (not Plan.__init__), the keyword, darknet's name for it and what the
    module takes; no stray traceback from a half-made Plan."""
    need_torch()
    from regionloss.torch import RegionLoss
    got = unraisable(monkeypatch)
    with pytest.raises(TypeError, match=r"^RegionLoss: unknown option\(s\) coord_scale "
                       r"\(darknet's coord_scale is lambda_coord\); it takes layout, mode, "
                       r"lambda_coord, .*, seen, distributed, process_group \(docs/python.md\)"):
        RegionLoss(VOC_ANCHORS, C, coord_scale=1.0)
    with pytest.raises(TypeError, match=r"^RegionLoss: unknown option\(s\) bogus, "
                       r"object_scale \(darknet's object_scale is lambda_obj\); it takes"):
        RegionLoss(VOC_ANCHORS, C, object_scale=5.0, bogus=1)
    gc.collect()
    assert reported(got) == []


def test_module_takes_every_plan_option():
    """RegionLoss checks keywords against its own list; an option Plan
    gains must be added there (grad_mode and grad_dtype are the module's)."""
    need_torch()
    from regionloss.torch import _REGION_OPTIONS
    kw = {p.name for p in inspect.signature(regionloss.Plan).parameters.values()
          if p.kind is p.KEYWORD_ONLY}
    assert sorted(_REGION_OPTIONS) == sorted(kw - {"grad_mode", "grad_dtype"})


def test_darknet_needs_seen_and_out_needs_its_own_memory():
    pred, rows = inputs()
    with pytest.raises(ValueError, match="seen="):
        plan(mode="darknet").compute(pred, rows)
    with pytest.raises(ValueError, match="shares memory"):
        plan().compute(pred, rows, out=pred)
    with pytest.raises(ValueError, match="out: float64"):
        plan().compute(pred, rows, out=pred.astype(np.float64))


# ---- element types (issue 17) -------------------------------------------------------

def bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


@pytest.mark.parametrize("half,kw,out_dtype,exc,match", [
    # the dtype named does not match the array's
    ("f16", dict(dtype="bfloat16"), np.float16, TypeError,
     r"dtype float16 is float16, not the dtype='bfloat16'"),
    ("bf16", dict(dtype="float16"), np.uint16, TypeError, r"dtype uint16.*dtype='bfloat16'"),
    ("f16", dict(dtype="float64"), np.float16, ValueError, r"dtype = 'float64'; one of"),
    # the gradient buffer is of the predictions' type (grad_dtype=None)
    ("f16", {}, np.float32, ValueError, r"out: float32 .*; float16 .* \(like pred\)"),
    ("bf16", dict(dtype="bfloat16"), np.float16, ValueError, r"out: float16 .*; uint16"),
])
def test_bad_half_arrays(half, kw, out_dtype, exc, match):
    pred, rows = inputs()
    p = pred.astype(np.float16) if half == "f16" else bf16_bits(pred)
    out = np.full(p.shape, 7, dtype=out_dtype)
    expect_untouched(lambda: plan().compute(p, rows, out=out, **kw), exc, match, p, rows, out)


@pytest.mark.parametrize("variant", HALF_VARIANTS)
@pytest.mark.parametrize("half,bits", [("f16", 0x7C00), ("f16", 0xFE01), ("bf16", 0xFF80),
                                       ("bf16", 0x7F81)])
def test_nonfinite_half_predictions(half, bits, variant):
    """binary16 inf and NaN, bfloat16 -inf and a NaN whose payload is only in
    the low bits: the library's status, nothing written."""
    pred, rows = inputs()
    p = pred.astype(np.float16) if half == "f16" else bf16_bits(pred)
    p.view(np.uint16)[1, 4, 2, 5] = bits
    out = np.full(p.shape, 7, dtype=p.dtype)
    kw = dict(dtype="bfloat16") if half == "bf16" else {}
    err = expect_untouched(lambda: plan(variant=variant).compute(p, rows, out=out, **kw),
                           regionloss.Error, "not finite", p, rows, out)
    assert err.status == "RL_ERR_NONFINITE_PRED" and "image 1" in str(err)


def test_grad_dtype_options():
    with pytest.raises(ValueError, match=r"grad_dtype = 'float16'; None .* or 'float32'"):
        plan(grad_dtype="float16")
    torch = need_torch()
    from regionloss.torch import RegionLoss
    with pytest.raises(ValueError, match=r"grad_dtype: the module's gradient is in the "
                                         r"output's type"):
        RegionLoss(VOC_ANCHORS, C, grad_dtype="float32")
    # a tensor pred takes a tensor out, of the gradient's type
    pred, rows = inputs()
    t = torch.from_numpy(pred).to(torch.bfloat16)
    with pytest.raises(TypeError, match=r"out: a torch.Tensor \(torch.bfloat16\)"):
        plan().compute(t, rows, out=np.zeros(pred.shape, np.uint16))
    with pytest.raises(ValueError, match=r"out: torch.float32 .*; torch.bfloat16"):
        plan().compute(t, rows, out=torch.zeros(pred.shape))
    with pytest.raises(ValueError, match="shares memory"):
        plan().compute(t, rows, out=t)
    with pytest.raises(ValueError, match=r"out: torch.bfloat16 .*; torch.float32"):
        plan(grad_dtype="float32").compute(t, rows, out=torch.zeros_like(t))


# ---- the torch module -------------------------------------------------------------

def torch_int32():
    return need_torch().int32


def module_inputs(torch, dtype=None):
    pred, rows = inputs()
    out = torch.tensor(pred, requires_grad=True)
    return out, torch.tensor(rows)


@pytest.mark.parametrize("make,exc,match", [
    (lambda o: o.double(), TypeError, r"dtype torch.float64.*output.float\(\)"),
    (lambda o: o.to(torch_int32()), TypeError, r"dtype torch.int32.*bfloat16 or float16"),
    (lambda o: o.transpose(2, 3), ValueError, r"not contiguous.*contiguous\(\)"),
    (lambda o: o[:, :100].contiguous(), ValueError, r"shape \(2, 100, 13, 13\)"),
    (lambda o: o.to("meta"), ValueError, r"on meta.*output.cpu\(\)"),
])
@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "shape-seen"])
def test_module_bad_outputs(make, exc, match, warm):
    """Also after a good call on a tensor of the same shape: the module
    validates a shape once, but type, device, dtype and layout every call."""
    torch = need_torch()
    from regionloss.torch import RegionLoss
    out, t = module_inputs(torch)
    crit = RegionLoss(VOC_ANCHORS, C, mode="darknet")
    if warm:
        crit(out.detach().clone(), t)  # a good tensor of the same shape (but for the
        # [:, :100] case: there the shape itself is what is bad)
    last, seen = crit.last, crit.seen
    before, tb = out.detach().clone(), t.clone()
    with pytest.raises(exc, match=match):
        crit(make(out), t)
    assert torch.equal(out.detach(), before) and torch.equal(t, tb)
    assert out.grad is None and crit.seen == seen and crit.last is last
    assert warm or last is None


@pytest.mark.parametrize("edit,exc,match", [
    (lambda o, t: t.__setitem__((2, 1), 25), regionloss.Error, r"class 25 is not in \[0, 20\)"),
    (lambda o, t: o.data.view(-1).__setitem__(4 * 169, float("nan")), regionloss.Error,
     r"not finite"),
    (lambda o, t: t.__setitem__((0, 0), 5), ValueError, r"row 0: image index"),
])
def test_module_bad_values(edit, exc, match):
    torch = need_torch()
    from regionloss.torch import RegionLoss
    out, t = module_inputs(torch)
    crit = RegionLoss(VOC_ANCHORS, C, mode="darknet", seen=100)
    crit(out, module_inputs(torch)[1]).backward()  # a good call first: last and seen are set
    last, seen = crit.last, crit.seen
    # out.grad holds the gradient buffer: the next call takes a new one,
    # which it keeps only if it succeeds
    buf, grad = crit._grad_buf, out.grad.clone()
    edit(out, t)
    before, tb = out.detach().clone(), t.clone()
    with pytest.raises(exc, match=match):
        crit(out, t)
    assert torch.equal(out.detach().view(torch.int32), before.view(torch.int32))
    assert torch.equal(t, tb)
    assert crit.last is last and crit.seen == seen  # a failed call moves nothing on
    assert crit._grad_buf is buf and torch.equal(out.grad, grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bad_target_rows_named_in_the_callers_order(dtype):
    """Rows out of image order are sorted before conversion; a bad row is
    still named by its index in the array the caller passed (float32 rows
    go through rl_truths_from_rows, others through numpy)."""
    pred, rows = inputs()
    rows = rows[::-1].astype(dtype)  # images 1, 1, 0
    for r, c, v, match in [(2, 0, 2, r"row 2: image index = 2.0"),
                           (1, 1, 0.5, r"row 1: class = 0.5"),
                           (0, 0, -1, r"row 0: image index = -1.0"),
                           (1, 1, 2.0 ** 31, r"row 1: class = 21474836\d+\.0 .*\(int32\)"),
                           (2, 0, np.inf, r"row 2: image index = inf")]:
        bad = rows.copy()
        bad[r, c] = v
        out = np.full_like(pred, 7.0)
        expect_untouched(lambda: plan().compute(pred, bad, out=out), ValueError, match,
                         pred, bad, out)


def test_module_misaligned_output():
    """A float32 tensor whose data is not 4-byte aligned (a view into a byte
    buffer at an odd offset) is refused, not read."""
    torch = need_torch()
    from regionloss.torch import RegionLoss
    out, t = module_inputs(torch)
    raw = np.zeros(out.numel() * 4 + 1, dtype=np.uint8)
    try:
        mis = torch.from_numpy(np.frombuffer(raw.data, dtype=np.float32, offset=1,
                                             count=out.numel()).reshape(out.shape))
    except (ValueError, RuntimeError, TypeError):
        pytest.skip("torch refuses to make a misaligned float32 tensor here")
    assert mis.data_ptr() % 4 != 0
    crit = RegionLoss(VOC_ANCHORS, C)
    with pytest.raises(ValueError, match="not aligned"):
        crit(mis, t)
    assert crit.last is None
