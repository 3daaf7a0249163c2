"""A tiny conv head trained for 100 steps on synthetic images through
RegionLoss: the loss must fall, in both modes.  Each image holds one or two
filled rectangles whose colour (red or green) is the class; the targets
are the rectangles.  What is tested is that the module's loss and gradient
drive a real optimiser the right way, end to end, through autograd."""
import numpy as np
import pytest

from conftest import assert_float32_finite_grads, need_torch, synthetic_rectangles

torch = need_torch()
from regionloss.torch import RegionLoss  # noqa: E402

SIZE, GRID = 32, 8          # 32x32 images, stride 4
ANCHORS = [(1.0, 1.0), (2.5, 2.0)]
C = 2


def synthetic(n, rng):
    images, targets = synthetic_rectangles(n, rng, SIZE, C, (1, 3), (0.15, 0.5))
    return torch.from_numpy(images), torch.tensor(targets)


def head():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, len(ANCHORS) * (5 + C), 1))


@pytest.mark.parametrize("mode", ["spec", "darknet"])
def test_loss_falls_over_100_steps(mode):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = [synthetic(8, rng) for _ in range(4)]
    net = head()
    crit = RegionLoss(ANCHORS, C, mode=mode)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(100):
        images, targets = data[step % len(data)]
        out = net(images)
        assert out.shape[2:] == (GRID, GRID)
        loss = crit(out, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    print(f"{mode}: mean loss of the first 8 steps {first:.4g}, of the last 8 {last:.4g}")
    assert np.all(np.isfinite(losses))
    assert last < 0.5 * first, f"{mode}: the loss went from {first:.4g} to {last:.4g}"
    if mode == "darknet":
        assert crit.seen == 800  # 100 batches of 8
    crit.eval()
    with torch.no_grad():
        crit(net(data[0][0]), data[0][1])
    assert crit.last.avg_iou > 0.3, f"{mode}: average IoU {crit.last.avg_iou:.3f} after training"


def test_autocast_bfloat16_training_steps():
    """Mixed precision on the CPU (issue 17): under torch.autocast("cpu",
    dtype=torch.bfloat16) the conv head's output is bfloat16 and goes to
    RegionLoss as it is, with no cast in this code; the loss is finite, the
    bfloat16 gradient flows back through autocast's casts to the float32
    weights, and the optimiser makes the loss fall."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    data = [synthetic(8, rng) for _ in range(4)]
    net = head()
    crit = RegionLoss(ANCHORS, C)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        images, targets = data[step % len(data)]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(images)
            assert out.dtype == torch.bfloat16 and out.shape[2:] == (GRID, GRID)
            loss = crit(out, targets)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        assert_float32_finite_grads(net)
        first_w = net[0].weight.grad
        assert first_w.abs().sum() > 0, "no gradient reached the first conv"
        opt.step()
        losses.append(float(loss))
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    print(f"autocast bf16 (variant {crit.last.variant}): mean loss of the first 4 steps "
          f"{first:.4g}, of the last 4 {last:.4g}")
    assert last < 0.7 * first, f"the loss went from {first:.4g} to {last:.4g}"
