"""regionloss.Plan's behaviour beyond the numbers: the result fields, the
forms of targets, the darknet truth buffer, gradient modes, threads, counts
for sharding, and the GIL released while the library computes."""
import os
import sys
import threading
import time

import numpy as np
import pytest

import regionloss
from conftest import VOC_ANCHORS, rows

C = 20


def batch(seed=0, n=4, per_image=5):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((n, 5 * (5 + C), 13, 13)).astype(np.float32)
    return pred, rows(rng, n, per_image, C)


def test_variants_and_version():
    v = regionloss.variants()
    assert v[-1] == "reference" or "reference" in v
    assert "generic" in v
    # the header's version string, read from the tree the tests sit in
    header = os.path.join(os.path.dirname(__file__), "..", "..", "include", "regionloss.h")
    with open(header) as f:
        want = next(line.split('"')[1] for line in f if "RL_VERSION_STRING" in line)
    assert regionloss.version() == want
    # auto takes the best, or REGIONLOSS_VARIANT when set
    want = os.environ.get("REGIONLOSS_VARIANT") or v[0]
    assert regionloss.Plan(VOC_ANCHORS, C, 13).variant == want


def test_result_fields_add_up():
    pred, t = batch()
    res, grad = regionloss.Plan(VOC_ANCHORS, C, (13, 13)).compute(pred, t)
    assert res.loss == pytest.approx(res.coord + res.cls + res.obj + res.noobj + res.warmup,
                                     rel=1e-15)
    assert res.n_conf == res.n_obj + res.n_noobj and res.n_truths == len(t)
    assert 0 < res.n_obj <= len(t) and res.warmup == 0
    assert res.darknet.count == 0 and res.darknet.cost == 0  # spec mode
    assert grad.shape == pred.shape and grad.dtype == np.float32 and np.abs(grad).sum() > 0
    assert set(res.as_dict()) >= {"loss", "avg_iou", "darknet", "variant"}


def test_no_gradient_and_out_buffer():
    pred, t = batch()
    p = regionloss.Plan(VOC_ANCHORS, C, (13, 13))
    res, grad = p.compute(pred, t, grad=False)
    assert grad is None
    out = np.full_like(pred, 3.0)
    res2, g2 = p.compute(pred, t, out=out)
    assert g2 is out and res2 == res
    _, g3 = p.compute(pred, t)
    assert np.array_equal(out, g3)


def test_accumulate_adds_into_out():
    pred, t = batch()
    _, g = regionloss.Plan(VOC_ANCHORS, C, 13).compute(pred, t)
    acc = regionloss.Plan(VOC_ANCHORS, C, 13, grad_mode="accumulate")
    prior = np.full_like(pred, 0.5)
    _, got = acc.compute(pred, t, out=prior)
    assert np.array_equal(got, (np.float32(0.5) + g).astype(np.float32))
    _, fresh = acc.compute(pred, t)  # no out: accumulates into zeros
    assert np.array_equal(fresh, g)


def test_threads_give_the_same_bits():
    pred, t = batch(n=6)
    r1, g1 = regionloss.Plan(VOC_ANCHORS, C, 13, threads=1).compute(pred, t)
    r2, g2 = regionloss.Plan(VOC_ANCHORS, C, 13, threads=3).compute(pred, t)
    assert r1 == r2 and np.array_equal(g1, g2)


def test_nhwc_five_dimensional_and_target_forms():
    pred, t = batch()
    p = regionloss.Plan(VOC_ANCHORS, C, 13, layout="nhwc")
    nhwc = np.ascontiguousarray(pred.reshape(4, 5, 5 + C, 13, 13).transpose(0, 3, 4, 1, 2))
    r5, g5 = p.compute(nhwc, t)
    r4, g4 = p.compute(nhwc.reshape(4, 13, 13, -1), t)
    assert r5 == r4 and np.array_equal(g5, g4.reshape(g5.shape))
    # the same batch in NCHW: the same loss, the gradient transposed
    rc, gc = regionloss.Plan(VOC_ANCHORS, C, 13).compute(pred, t)
    assert rc.loss == pytest.approx(r4.loss, rel=1e-12)
    back = gc.reshape(4, 5, 5 + C, 13, 13).transpose(0, 3, 4, 1, 2)
    assert np.allclose(back, g5, rtol=1e-5, atol=1e-7)
    # per-image lists and prepared Targets
    lists = [t[t[:, 0] == n][:, 1:] for n in range(4)]
    assert p.compute(nhwc, lists)[0] == r5
    assert p.compute(nhwc, regionloss.Targets.from_rows(t, 4))[0] == r5


def test_an_image_without_truths_and_a_batch_without_any():
    pred, t = batch(n=3)
    p = regionloss.Plan(VOC_ANCHORS, C, 13)
    r, _ = p.compute(pred, [t[t[:, 0] == 0][:, 1:], np.zeros((0, 5)), []])
    assert r.n_truths == np.count_nonzero(t[:, 0] == 0)
    r0, g0 = p.compute(pred, np.zeros((0, 6)))
    assert r0.n_obj == 0 and r0.coord == 0 and r0.noobj > 0


def test_darknet_truth_buffer():
    pred, t = batch(n=2, per_image=3)
    buf = np.zeros((2, 30, 5), dtype=np.float32)  # darknet's 30 boxes per image
    for n in range(2):
        mine = t[t[:, 0] == n]
        buf[n, :len(mine)] = mine[:, [2, 3, 4, 5, 1]]
    targets = regionloss.truths_from_darknet(buf, C)
    assert list(targets.offsets) == [0, 3, 6]
    p = regionloss.Plan(VOC_ANCHORS, C, 13, mode="darknet")
    a = p.compute(pred, targets, seen=64)
    b = p.compute(pred, t, seen=64)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0].darknet.count == 6 and a[0].warmup > 0
    assert p.compute(pred, t, seen=12800)[0].warmup == 0  # warm-up over at warmup_seen
    buf[1, 0, 4] = 20
    with pytest.raises(regionloss.Error) as e:
        regionloss.truths_from_darknet(buf, C)
    assert e.value.status == "RL_ERR_BAD_TRUTH"


def test_count_and_global_counts_reproduce_the_whole_batch():
    pred, t = batch(n=5)
    p = regionloss.Plan(VOC_ANCHORS, C, 13)
    whole, gw = p.compute(pred, t)
    lo = [0, 2, 5]
    shards = []
    for a, b in zip(lo, lo[1:]):
        sel = (t[:, 0] >= a) & (t[:, 0] < b)
        st = t[sel].copy()
        st[:, 0] -= a
        shards.append((pred[a:b], st))
    counts = [p.count(sp, st) for sp, st in shards]
    total = regionloss.Counts(*np.sum(counts, axis=0))
    assert (total.n_obj, total.n_conf, total.n_images) == (whole.n_obj, whole.n_conf, 5)
    parts = [p.compute(sp, st, global_counts=total) for sp, st in shards]
    assert np.array_equal(np.concatenate([g for _, g in parts]), gw)
    assert sum(r.loss for r, _ in parts) == pytest.approx(whole.loss, rel=1e-12)
    # per-shard normalisation differs: the equality above is not vacuous
    assert sum(p.compute(sp, st)[0].loss for sp, st in shards) != pytest.approx(whole.loss)


def test_the_gil_is_released_while_the_library_computes():
    """Another Python thread runs during a long call.  It sleeps between
    ticks (releasing the GIL, so the caller is never kept waiting), and
    needs the GIL back for each tick: a call that held the GIL would see
    no tick at all."""
    rng = np.random.default_rng(1)
    pred = rng.standard_normal((48, 5 * (5 + C), 13, 13)).astype(np.float32)
    t = rows(rng, 48, 30, C)
    p = regionloss.Plan(VOC_ANCHORS, C, 13, variant="reference")
    ticks = [0]
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.0002)

    th = threading.Thread(target=tick)
    th.start()
    try:
        time.sleep(0.01)
        start = time.perf_counter()
        before = ticks[0]
        p.compute(pred, t)
        during = ticks[0] - before
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        th.join()
    assert elapsed > 0.02, f"the call took {elapsed:.4f} s: too short to tell"
    assert during >= 10, f"the other thread ticked {during} times during a {elapsed:.3f} s call"
    print(f"{during} ticks during a {elapsed:.3f} s call")


def test_rows_to_truths_match_a_row_by_row_conversion():
    """Targets.from_rows (vectorised: no per-row Python) against the plain
    row-by-row reading of the (M, 6) format, for rows in any image order,
    images without rows, and float32, float64 and integer arrays."""
    rng = np.random.default_rng(11)
    n = 6
    for trial in range(20):
        m = int(rng.integers(0, 25))
        img = rng.integers(0, n, m) if trial % 3 else np.sort(rng.integers(1, n - 1, m))
        rows = np.column_stack([img, rng.integers(0, 20, m), rng.uniform(0, 1, (m, 4))])
        for dtype in (np.float32, np.float64):
            a = rows.astype(dtype)
            t = regionloss.Targets.from_rows(a, n)
            want, offs = [], [0]
            for k in range(n):  # stable: a later row of an image stays later
                mine = [r for r in a if int(r[0]) == k]
                want += [(np.float32(r[2]), np.float32(r[3]), np.float32(r[4]),
                          np.float32(r[5]), int(r[1])) for r in mine]
                offs.append(offs[-1] + len(mine))
            assert t.boxes.dtype == regionloss.BOX_DTYPE and t.offsets.dtype == np.int64
            assert t.boxes.tolist() == want and t.offsets.tolist() == offs
    ints = np.array([[1, 2, 0, 0, 1, 1], [0, 3, 0, 0, 1, 1]], dtype=np.int32)
    t = regionloss.Targets.from_rows(ints, 2)
    assert t.boxes["cls"].tolist() == [3, 2] and t.offsets.tolist() == [0, 1, 2]


# ---- element types (issue 17) ---------------------------------------------------------

def bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def half_batch(fmt, seed=0, n=4):
    pred, t = batch(seed, n)
    if fmt == "float16":
        return pred.astype(np.float16), t, {}
    return bf16_bits(pred), t, dict(dtype="bfloat16")


def widened(p, fmt):
    if fmt == "float16":
        return p.astype(np.float32)
    return (p.astype(np.uint32) << 16).view(np.float32)


@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
def test_half_arrays_read_in_place_gradient_in_their_type(fmt):
    p, t, kw = half_batch(fmt)
    plan = regionloss.Plan(VOC_ANCHORS, C, 13, variant="reference")
    # zero copy: the library is given the array's own memory
    assert plan._pred(p, "pred", kw.get("dtype")).ptr == p.ctypes.data
    ro = p.copy()
    ro.flags.writeable = False            # read only: nothing needs to write it
    res, g = plan.compute(ro, t, **kw)
    assert g.dtype == p.dtype and g.shape == p.shape   # float16, or uint16 bfloat16 bits
    # the reference on the same values as float32: the same loss and counts
    r32, g32 = plan.compute(widened(p, fmt), t)
    assert res == r32
    # and the gradient is that float32 gradient's double rounded once: within
    # one unit of the float32 gradient rounded to the type
    again = g32.astype(np.float16) if fmt == "float16" else bf16_bits(g32)
    d = np.abs(g.view(np.int16).astype(np.int32) - again.view(np.int16).astype(np.int32))
    assert d.max() <= 1 and np.count_nonzero(d) <= g.size // 1000
    assert np.count_nonzero(g) > p.shape[0] * 5 * 169 // 2
    # grad_dtype="float32": the float32 run's gradient, bit for bit
    r, gf = regionloss.Plan(VOC_ANCHORS, C, 13, variant="reference",
                            grad_dtype="float32").compute(p, t, **kw)
    assert gf.dtype == np.float32 and np.array_equal(gf, g32) and r == r32


@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
def test_half_out_accumulate_threads_and_count(fmt):
    p, t, kw = half_batch(fmt, n=6)
    plan = regionloss.Plan(VOC_ANCHORS, C, 13, variant="generic")
    res, g = plan.compute(p, t, **kw)
    out = np.full_like(p, 7)
    res2, g2 = plan.compute(p, t, out=out, **kw)
    assert g2 is out and res2 == res and np.array_equal(out, g)
    # accumulate into zeros: the overwrite gradient (entries the loss does not
    # change stay 0, which overwrite writes)
    acc = regionloss.Plan(VOC_ANCHORS, C, 13, variant="generic", grad_mode="accumulate")
    _, ga = acc.compute(p, t, **kw)
    assert np.array_equal(ga.view(np.uint16) & 0x7FFF, g.view(np.uint16) & 0x7FFF)
    r3, g3 = regionloss.Plan(VOC_ANCHORS, C, 13, variant="generic", threads=3).compute(p, t, **kw)
    assert r3 == res and np.array_equal(g3, g)
    assert plan.count(p, t, **kw) == plan.count(widened(p, fmt), t)


def test_a_plan_per_element_type_made_once():
    pred, t = batch()
    plan = regionloss.Plan(VOC_ANCHORS, C, 13, variant="reference")
    assert list(plan._handles) == [(0, 0)]           # the float32 plan, made eagerly
    plan.compute(pred.astype(np.float16), t)
    plan.compute(bf16_bits(pred), t, dtype="bfloat16")
    plan.compute(pred.astype(np.float16), t)
    assert sorted(plan._handles) == [(0, 0), (1, 1), (2, 2)]
    plan.close()
    assert plan._handles == {}
    with pytest.raises(ValueError, match="closed"):
        plan.compute(pred.astype(np.float16), t)
    f32 = regionloss.Plan(VOC_ANCHORS, C, 13, grad_dtype="float32")
    f32.compute(pred.astype(np.float16), t)
    assert sorted(f32._handles) == [(0, 0), (2, 0)]


def test_torch_tensors_in_plan_compute():
    """Plan.compute takes CPU tensors too (float32, float16, bfloat16), read in
    place, with the gradient as a tensor of the same dtype: the same numbers
    as the numpy arrays of the same bits."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    pred, t = batch()
    plan = regionloss.Plan(VOC_ANCHORS, C, 13, variant="reference")
    for tdt, arr, kw in ((torch.float32, pred, {}),
                         (torch.float16, pred.astype(np.float16), {}),
                         (torch.bfloat16, bf16_bits(pred), dict(dtype="bfloat16"))):
        x = torch.from_numpy(arr.view(np.int16) if arr.dtype == np.uint16 else arr)
        x = x.view(tdt) if x.dtype != tdt else x
        assert plan._pred(x).ptr == x.data_ptr() == arr.ctypes.data
        res, g = plan.compute(x, t)
        rn, gn = plan.compute(arr, t, **kw)
        assert isinstance(g, torch.Tensor) and g.dtype == tdt and res == rn
        assert np.array_equal(g.view(torch.int16 if tdt != torch.float32 else torch.int32)
                              .numpy(), gn.view(np.int16 if gn.itemsize == 2 else np.int32))
        out = torch.full_like(x, 3.0)
        _, g2 = plan.compute(x, t, out=out)
        assert g2 is out and torch.equal(out, g)


def test_alexeyab_flavour_options():
    """AlexeyAB's [region] through Plan: its cost is the squares of its delta
    (the gradient negated, norm sum), a truth of a class >= C is skipped, and
    pjreddie's flavour refuses that truth."""
    pred, t = batch(7)
    kw = dict(mode="darknet", thresh=0.3)
    pj, g_pj = regionloss.Plan(VOC_ANCHORS, C, 13, **kw).compute(pred, t, seen=64)
    for classfix, focal in ((0, False), (-1, False), (1, True), (2, True)):
        p = regionloss.Plan(VOC_ANCHORS, C, 13, flavour="alexeyab", classfix=classfix,
                            focal_loss=focal, **kw)
        res, g = p.compute(pred, t, seen=64)
        sq = float(np.sum(g.astype(np.float64) ** 2))
        assert res.darknet.cost == pytest.approx(sq, rel=1e-5), (classfix, focal)
        assert not np.array_equal(g, g_pj)
        extra = np.vstack([t, [[0, C, 0.5, 0.5, 0.2, 0.2], [3, C + 4, 0.1, 0.1, 0.5, 0.5]]])
        res2, g2 = p.compute(pred, extra, seen=64)
        assert np.array_equal(g, g2) and res2.loss == res.loss
    with pytest.raises(regionloss.Error, match=r"class 20 is not in \[0, 20\)"):
        regionloss.Plan(VOC_ANCHORS, C, 13, **kw).compute(pred, extra, seen=64)
