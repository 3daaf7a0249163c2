"""A tiny three-scale conv net trained through YoloLoss on synthetic images:
the loss must fall over 100 steps (norm images and darknet's sum), and under
torch.autocast("cpu", dtype=torch.bfloat16) with no cast in the loop.  Each
64x64 image holds one to three filled rectangles of two sizes ranges whose
colour (red or green) is the class; the targets are the rectangles.  What
is tested is that the module's loss and every head's gradient drive a real
optimiser the right way, end to end, through autograd."""
import numpy as np
import pytest

from conftest import assert_float32_finite_grads, need_torch, synthetic_rectangles

torch = need_torch()
from regionloss.torch import YoloLoss  # noqa: E402

SIZE = 64
# anchors in pixels, smallest first; the stride-32 head takes the largest
ANCHORS = [(8, 8), (12, 16), (18, 14), (26, 28), (40, 30), (44, 48)]
MASKS = [[4, 5], [2, 3], [0, 1]]
C = 2
STEPS_PER_KIND = 100   # the IoU-family test, per box loss


def synthetic(n, rng):
    images, targets = synthetic_rectangles(n, rng, SIZE, C, (1, 4), (0.1, 0.75))
    return torch.from_numpy(images), torch.tensor(targets, dtype=torch.float32)


class ThreeScales(torch.nn.Module):
    """Strides 8, 16 and 32: outputs on 8x8, 4x4 and 2x2 grids, as
    YOLOv3's three [yolo] layers on 52, 26 and 13 (returned largest stride
    first, the order of MASKS)."""

    def __init__(self):
        super().__init__()
        act = torch.nn.LeakyReLU(0.1)
        self.s8 = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), act,
            torch.nn.Conv2d(16, 24, 3, stride=2, padding=1), act,
            torch.nn.Conv2d(24, 32, 3, stride=2, padding=1), act)
        self.s16 = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 3, stride=2, padding=1), act)
        self.s32 = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 3, stride=2, padding=1), act)
        K = 5 + C
        self.h8 = torch.nn.Conv2d(32, len(MASKS[2]) * K, 1)
        self.h16 = torch.nn.Conv2d(32, len(MASKS[1]) * K, 1)
        self.h32 = torch.nn.Conv2d(32, len(MASKS[0]) * K, 1)

    def forward(self, x):
        a = self.s8(x)
        b = self.s16(a)
        c = self.s32(b)
        return [self.h32(c), self.h16(b), self.h8(a)]


@pytest.mark.parametrize("norm", ["images", "sum"])
def test_loss_falls_over_100_steps(norm):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = [synthetic(8, rng) for _ in range(4)]
    net = ThreeScales()
    crit = YoloLoss(ANCHORS, C, MASKS, SIZE, norm=norm)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)  # Adam: the scale of D does not matter
    losses, per_head = [], []
    for step in range(100):
        images, targets = data[step % len(data)]
        outs = net(images)
        assert [tuple(o.shape[2:]) for o in outs] == [(2, 2), (4, 4), (8, 8)]
        loss = crit(outs, targets)
        opt.zero_grad()
        loss.backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        opt.step()
        losses.append(float(loss))
        per_head.append([h.loss for h in crit.last.heads])
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    heads_first, heads_last = np.mean(per_head[:8], axis=0), np.mean(per_head[-8:], axis=0)
    print(f"{norm} ({crit.last.variant}): mean loss of the first 8 steps {first:.4g}, of the "
          f"last 8 {last:.4g}; per head {np.round(heads_first, 3)} -> {np.round(heads_last, 3)}")
    assert np.all(np.isfinite(losses))
    assert last < 0.5 * first, f"{norm}: the loss went from {first:.4g} to {last:.4g}"
    assert np.all(heads_last < heads_first), "every head's loss falls"
    crit.eval()
    with torch.no_grad():
        crit(net(data[0][0]), data[0][1])
    r = crit.last
    print(f"after training: avg IoU {r.avg_iou:.3f}, recall50 {r.recall50:.3f}, "
          f"avg obj {r.avg_obj:.3f}, avg noobj {r.avg_noobj:.3f}, avg cls {r.avg_cls:.3f}")
    assert r.avg_obj > r.avg_noobj and r.avg_iou > 0.3


def test_autocast_bfloat16_training_steps():
    """Under torch.autocast("cpu", dtype=torch.bfloat16) the heads' outputs
    are bfloat16 and go to YoloLoss as they are, with no cast in this code;
    the loss is a finite float32, bfloat16 gradients flow back through
    autocast's casts to float32 weights, and the loss falls."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    data = [synthetic(8, rng) for _ in range(4)]
    net = ThreeScales()
    crit = YoloLoss(ANCHORS, C, MASKS, SIZE)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        images, targets = data[step % len(data)]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outs = net(images)
            assert all(o.dtype == torch.bfloat16 for o in outs)
            loss = crit(outs, targets)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        assert_float32_finite_grads(net)
        for head in (net.h8, net.h16, net.h32):
            assert head.weight.grad.abs().sum() > 0, "a head got no gradient"
        opt.step()
        losses.append(float(loss))
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    print(f"autocast bf16 ({crit.last.variant}): mean loss of the first 4 steps {first:.4g}, "
          f"of the last 4 {last:.4g}")
    assert last < 0.7 * first, f"the loss went from {first:.4g} to {last:.4g}"


def test_float16_outputs_train():
    """torch 1.13's CPU autocast has no float16 (it warns and disables
    itself); a float16 output (here the heads' outputs converted, an
    autograd operation) trains the same way: a float16 gradient per head."""
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    data = [synthetic(8, rng) for _ in range(2)]
    net = ThreeScales()
    crit = YoloLoss(ANCHORS, C, MASKS, SIZE)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(20):
        images, targets = data[step % len(data)]
        outs = [o.half() for o in net(images)]
        seen = []
        for o in outs:
            o.register_hook(lambda g: seen.append(g.dtype))
        loss = crit(outs, targets)
        opt.zero_grad()
        loss.backward()
        assert seen == [torch.float16] * 3
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])


@pytest.mark.parametrize("box_loss", ["iou", "giou", "diou", "ciou"])
def test_iou_family_box_losses_train(box_loss):
    """box_loss= each IoU-family kind drives the same net: the loss and
    its box part fall, and the positives' boxes come to fit their truths
    (the mean IoU of the positives, the result's avg_iou, rises).  Means
    over one pass of the four batches, first and last.  lambda_coord 5:
    at 1 the few positives' 1 - XIoU (at most 2 each) is lost against
    the objectness of every slot in the first 100 steps; at 5 each kind
    takes the IoU from 0.42 to 0.55-0.6 (seed 0), as mse does."""
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    data = [synthetic(8, rng) for _ in range(4)]
    net = ThreeScales()
    crit = YoloLoss(ANCHORS, C, MASKS, SIZE, box_loss=box_loss, lambda_coord=5)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses, coords, ious = [], [], []
    for step in range(STEPS_PER_KIND):
        images, targets = data[step % len(data)]
        loss = crit(net(images), targets)
        opt.zero_grad()
        loss.backward()
        assert_float32_finite_grads(net)
        opt.step()
        losses.append(float(loss.detach()))
        coords.append(crit.last.coord)
        ious.append(crit.last.avg_iou)
    w = len(data)
    first, last = np.mean(losses[:w]), np.mean(losses[-w:])
    c0, c1 = np.mean(coords[:w]), np.mean(coords[-w:])
    i0, i1 = np.mean(ious[:w]), np.mean(ious[-w:])
    print(f"{box_loss}: loss {first:.4g} -> {last:.4g}, box part {c0:.4g} -> {c1:.4g}, "
          f"avg IoU of the positives {i0:.3f} -> {i1:.3f}")
    assert np.all(np.isfinite(losses))
    assert last < 0.5 * first, f"{box_loss}: the loss went from {first:.4g} to {last:.4g}"
    assert c1 < 0.85 * c0, f"{box_loss}: the box part went from {c0:.4g} to {c1:.4g}"
    assert i1 > i0 + 0.08, f"{box_loss}: the positives' IoU went from {i0:.3f} to {i1:.3f}"
