"""torch.compile of a model whose forward computes the loss (issue 24).

Where torch has torch.library.custom_op (2.4 and later), RegionLoss and
YoloLoss are one operator each under compilation (regionloss::region_loss,
regionloss::yolo_loss): fullgraph=True, which raises on any graph break,
proves that nothing falls back to eager.  The compiled loss, gradient,
crit.last and darknet's seen are checked against eager calls, bit for bit
where the compiled graph is the loss alone; torch.library.opcheck checks
the operators' schema, fake implementation and autograd formula.  The one
documented fallback (targets as numpy arrays are converted outside the
graph) is checked to be exactly that.  On torch 1.13 (no torch.compile,
no custom_op) the module skips: the modules are eager there.

Each compilation costs seconds on two cores: the tests are few and small.
"""
import numpy as np
import pytest

from conftest import VOC_ANCHORS, need_torch, rows

torch = need_torch()
import regionloss  # noqa: E402
import regionloss.torch as rt  # noqa: E402
from regionloss.torch import RegionLoss, YoloLoss  # noqa: E402

# Each test skips, rather than the module (pytest exits 5, "no tests ran",
# for a module skipped whole, and meson counts that as a failure).
pytestmark = pytest.mark.skipif(
    not hasattr(torch, "compile") or rt._REGION_OP is None,
    reason=f"torch {torch.__version__} has no torch.library.custom_op: RegionLoss and "
    "YoloLoss run eagerly there, and are not compiled (docs/python.md, torch.compile)")

C = 20
YOLO_ANCHORS = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119)]
YOLO_MASKS = [[3, 4, 5], [0, 1, 2]]


@pytest.fixture(autouse=True)
def fresh_dynamo():
    import torch._dynamo  # only here: importing it has a cost (docs/python.md)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def pred(seed, n=2, grid=(5, 7), dtype=torch.float32):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, (n, 5 * (5 + C)) + grid).astype(np.float32)
    return torch.tensor(a, dtype=dtype, requires_grad=True)


def row_tensor(seed, n=2):
    return torch.tensor(rows(np.random.default_rng(seed + 50), n, 3, C), dtype=torch.float32)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.detach().reshape(-1).view(torch.int8), b.detach().reshape(-1).view(torch.int8))


def no_recompiles():
    """A context in which a recompilation raises (where torch can say so)."""
    set_stance = getattr(torch.compiler, "set_stance", None)
    if set_stance is None:
        import contextlib
        return contextlib.nullcontext()
    return set_stance("fail_on_recompile")


def test_operators_pass_opcheck():
    crit = RegionLoss(VOC_ANCHORS, C)
    torch.library.opcheck(torch.ops.regionloss.region_loss.default,
                          (pred(1), row_tensor(1), crit._op_key, True, True))
    torch.library.opcheck(torch.ops.regionloss.region_loss.default,
                          (pred(2).detach(), row_tensor(2), crit._op_key, False, False))
    ycrit = YoloLoss(YOLO_ANCHORS, C, YOLO_MASKS, 64)
    outs = [torch.randn(2, 3 * (5 + C), 2, 2, requires_grad=True),
            torch.randn(2, 3 * (5 + C), 4, 4, requires_grad=False)]
    torch.library.opcheck(torch.ops.regionloss.yolo_loss.default,
                          (outs, row_tensor(3), ycrit._op_key, 64, 64, [True, False]))


def test_region_loss_compiled_is_eager_bit_for_bit():
    # darknet mode: seen moves at run time, inside the operator, with no
    # recompilation; grad_output 2.5 goes through the autograd formula
    kw = dict(mode="darknet", warmup_seen=5, warmup_scale=0.01)
    crit, ref = RegionLoss(VOC_ANCHORS, C, **kw), RegionLoss(VOC_ANCHORS, C, **kw)
    step = torch.compile(lambda out, t: crit(out, t) * 2.5, fullgraph=True)
    for k in range(3):
        out, out_ref, t = pred(10 + k), pred(10 + k), row_tensor(10 + k)
        with (no_recompiles() if k else _null()):
            loss = step(out, t)
        loss.backward()
        loss_ref = ref(out_ref, t) * 2.5
        loss_ref.backward()
        assert same_bits(loss, loss_ref), (loss, loss_ref)
        assert same_bits(out.grad, out_ref.grad)
        assert crit.last == ref.last
        assert crit.seen == ref.seen == 2 * (k + 1)


def test_region_loss_in_a_compiled_model_trains():
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 5 * (5 + C), 3, padding=1)
            self.crit = RegionLoss(VOC_ANCHORS, C)

        def forward(self, x, t):
            return self.crit(self.conv(x), t)

    net = Net()
    x, t = torch.randn(2, 3, 6, 6), row_tensor(20)
    loss_ref = net(x, t)
    loss_ref.backward()
    grads_ref = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    model = torch.compile(net, fullgraph=True)
    loss = model(x, t)
    loss.backward()
    assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-5)
    assert net.crit.last.loss == pytest.approx(loss.item(), rel=1e-6)
    for p, g in zip(net.parameters(), grads_ref):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5)
    opt = torch.optim.SGD(net.parameters(), lr=0.02)
    first = loss.item()
    with no_recompiles():
        for _ in range(10):
            opt.zero_grad()
            loss = model(x, t)
            loss.backward()
            opt.step()
    assert loss.item() < first


def test_yolo_loss_in_a_compiled_model_train_and_eval():
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.big = torch.nn.Conv2d(3, 3 * (5 + C), 3, stride=4, padding=1)
            self.small = torch.nn.Conv2d(3, 3 * (5 + C), 3, stride=2, padding=1)
            self.crit = YoloLoss(YOLO_ANCHORS, C, YOLO_MASKS, 32)

        def forward(self, x, t):
            return self.crit([self.big(x), self.small(x)], t)

    net = Net()
    x = torch.randn(2, 3, 32, 32)
    rt_ = row_tensor(30)
    # a list of per-image (T, 5) tensors: converted inside the graph
    t = [rt_[rt_[:, 0] == k][:, 1:] for k in range(2)]
    loss_ref = net(x, t)
    loss_ref.backward()
    grads_ref = [p.grad.clone() for p in net.parameters()]
    heads_ref = [h.loss for h in net.crit.last.heads]
    net.zero_grad()
    model = torch.compile(net, fullgraph=True)
    loss = model(x, t)
    loss.backward()
    assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-5)
    assert [h.loss for h in net.crit.last.heads] == pytest.approx(heads_ref, rel=1e-5)
    for p, g in zip(net.parameters(), grads_ref):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5)
    # eval mode and no_grad: no gradient, a loss without grad_fn
    net.eval()
    with torch.no_grad():
        loss_eval = model(x, t)
    assert loss_eval.grad_fn is None
    assert loss_eval.item() == pytest.approx(loss_ref.item(), rel=1e-5)


def test_numpy_targets_compile_and_targets_objects_do_not():
    # an (M, 6) numpy array and a list of per-image arrays are converted in
    # the graph; regionloss.Targets cannot be traced
    crit, ref = RegionLoss(VOC_ANCHORS, C), RegionLoss(VOC_ANCHORS, C)
    r = row_tensor(40).numpy()
    per_image = [r[r[:, 0] == k][:, 1:] for k in range(2)]
    step = torch.compile(lambda o, tt: crit(o, tt), fullgraph=True)
    for t in (r, per_image):
        assert same_bits(step(pred(40), t), ref(pred(40), t))
    # the documented fallback: fullgraph=True raises with the message;
    # without it, dynamo runs the loss's frame eagerly
    t = regionloss.Targets.from_rows(r, 2)
    torch._dynamo.reset()
    with pytest.raises(Exception, match=r"(?s)under torch\.compile the loss takes an \(M, 6\)"):
        step(pred(40), t)
    torch._dynamo.reset()
    loss = torch.compile(lambda o, tt: crit(o, tt))(pred(40), t)
    assert same_bits(loss, ref(pred(40), t))


def _null():
    import contextlib
    return contextlib.nullcontext()


def test_yolo_box_loss_compiled_is_eager_bit_for_bit():
    """box_loss="ciou" under compilation: the operator computes with the
    module's plan, so the loss and each head's gradient are the eager
    module's bit for bit, and not the default box loss's."""
    kw = dict(box_loss="ciou")
    crit, ref = YoloLoss(YOLO_ANCHORS, C, YOLO_MASKS, 64, **kw), \
        YoloLoss(YOLO_ANCHORS, C, YOLO_MASKS, 64, **kw)
    mse = YoloLoss(YOLO_ANCHORS, C, YOLO_MASKS, 64)
    step = torch.compile(lambda outs, t: crit(outs, t) * 2.5, fullgraph=True)
    rng = np.random.default_rng(40)
    outs = [torch.tensor(rng.uniform(-2, 2, (2, 3 * (5 + C), g, g)).astype(np.float32),
                         requires_grad=True) for g in (2, 4)]
    outs_ref = [o.detach().clone().requires_grad_() for o in outs]
    t = row_tensor(40)
    loss = step(outs, t)
    loss.backward()
    loss_ref = ref(outs_ref, t) * 2.5
    loss_ref.backward()
    assert same_bits(loss, loss_ref), (loss, loss_ref)
    for o, r in zip(outs, outs_ref):
        assert same_bits(o.grad, r.grad)
    assert crit.last == ref.last
    mse([o.detach() for o in outs], t)
    assert crit.last.coord != mse.last.coord and crit.last.n_obj == mse.last.n_obj > 0
