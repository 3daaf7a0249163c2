"""A second implementation of the [yolo] head, for the Python tests:
docs/loss.md ("The [yolo] head") and the result fields of the [yolo] contract
(docs/api.md), written from the text in float64 torch, vectorised over the
slots, with autograd for the gradient.  It shares no code with the library
(nor with regionloss): the decisions (which slots are positives, negatives,
ignored) are constants of the loss, as docs/loss.md says, and the loss is
differentiated by torch.

Also random cases for it (random_case): a network of one to three heads
with masks into one anchor list in pixels, truths planted so that every
kind of slot occurs (matched positives, several truths on one slot, the
positives of truth_thresh, ignored slots), the predictions conditioned so
that no decision lies within 1e-4 of a threshold (docs/loss.md lets
variants decide either way there; 1e-12 is to test formulas, not
rounding) and no truth's two best anchors nearly tie."""
import math
from dataclasses import dataclass, field

import numpy as np
import torch

MARGIN = 1e-4          # decisions kept this far from every threshold


@dataclass
class YoloCase:
    name: str
    anchors: np.ndarray            # (A, 2) float32, pixels
    heads: list                    # [(H, W, mask), ...]
    net: tuple                     # (net_w, net_h)
    C: int
    layout: str = "nchw"
    norm: str = "images"
    lambdas: tuple = (1.0, 1.0, 1.0, 1.0)   # coord, class, obj, noobj
    ignore_thresh: float = 0.7
    truth_thresh: float = 1.0
    truths: list = field(default_factory=list)   # per image: (T, 5) cls, cx, cy, w, h (float32 values)
    preds_nhwbk: list = field(default_factory=list)  # per head (N, H, W, B, K) float32 values
    box_loss: str = "mse"          # or an IoU-family kind: iou, giou, diou, ciou

    @property
    def N(self):
        return len(self.truths)

    @property
    def K(self):
        return 5 + self.C

    def to_layout(self, h, t):
        """Head h's (N, H, W, B, K) array in the case's layout, 4-D."""
        N, H, W, B, K = t.shape
        if self.layout == "nchw":
            return np.ascontiguousarray(t.transpose(0, 3, 4, 1, 2)).reshape(N, B * K, H, W)
        return np.ascontiguousarray(t).reshape(N, H, W, B * K)

    def from_layout(self, h, a):
        """The inverse of to_layout (any float dtype, as float64)."""
        H, W, mask = self.heads[h]
        B, K, N = len(mask), self.K, a.shape[0]
        a = np.asarray(a, dtype=np.float64)
        if self.layout == "nchw":
            return a.reshape(N, B, K, H, W).transpose(0, 3, 4, 1, 2)
        return a.reshape(N, H, W, B, K)

    def preds(self, dtype=np.float32):
        return [self.to_layout(h, t).astype(dtype) for h, t in enumerate(self.preds_nhwbk)]

    def plan_args(self):
        """(args, kwargs) of regionloss.YoloPlan."""
        lc, lp, lo, ln = self.lambdas
        return ((self.anchors.astype(np.float64), self.C, self.heads, self.net),
                dict(layout=self.layout, norm=self.norm, lambda_coord=lc, lambda_class=lp,
                     lambda_obj=lo, lambda_noobj=ln, ignore_thresh=self.ignore_thresh,
                     truth_thresh=self.truth_thresh, box_loss=self.box_loss))

    def target_list(self):
        return [t.astype(np.float64).reshape(-1, 5) for t in self.truths]

    def target_rows(self):
        rows = [np.hstack([np.full((len(t), 1), n), t]) for n, t in
                enumerate(self.target_list())]
        return np.vstack(rows) if rows else np.zeros((0, 6))


# ---- the math of docs/loss.md's [yolo] head -------------------------------------------

def softplus(z):
    """log(1 + e^z) in float64, accurate for every z (no threshold), with
    the exact derivative s(z) wherever z != 0."""
    pos, neg = z.clamp(min=0), z.clamp(max=0)
    return pos + torch.log1p(torch.exp(neg - pos))


def iou(p, t):
    """IoU of centre/size boxes p (..., 4) and t (..., 4) broadcast, float64,
    0 where the predicted box's area is zero, infinite or undefined
    (docs/loss.md, "Decoding, in grid cells")."""
    ox = torch.minimum(p[..., 0] + p[..., 2] / 2, t[..., 0] + t[..., 2] / 2) - \
        torch.maximum(p[..., 0] - p[..., 2] / 2, t[..., 0] - t[..., 2] / 2)
    oy = torch.minimum(p[..., 1] + p[..., 3] / 2, t[..., 1] + t[..., 3] / 2) - \
        torch.maximum(p[..., 1] - p[..., 3] / 2, t[..., 1] - t[..., 3] / 2)
    inter = ox.clamp(min=0) * oy.clamp(min=0)
    ap = p[..., 2] * p[..., 3]
    u = ap + t[..., 2] * t[..., 3] - inter
    ok = (ap > 0) & torch.isfinite(ap) & (u > 0)
    return torch.where(ok, inter / torch.where(ok, u, torch.ones_like(u)),
                       torch.zeros_like(u))


def corners(b):
    """(x0, y0), (x1, y1) of centre/size boxes b (..., 4): (..., 2) each."""
    return b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2


def one_minus_xiou(p, g, kind):
    """1 - XIoU of decoded boxes p (..., 4) and truths g (..., 4), image
    units, float64, differentiable in p: IoU, GIoU (minus the enclosing
    box's share not in the union), DIoU (minus the squared centre distance
    over the enclosing box's squared diagonal), CIoU (DIoU minus alpha v,
    v the aspect-ratio term; alpha computed without autograd, a constant
    of the gradient).  Written from the definitions with torch's min/max;
    g's boxes must have a positive area."""
    p0, p1 = corners(p)
    g0, g1 = corners(g)
    overlap = (torch.minimum(p1, g1) - torch.maximum(p0, g0)).clamp(min=0)
    inter = overlap[..., 0] * overlap[..., 1]
    union = p[..., 2] * p[..., 3] + g[..., 2] * g[..., 3] - inter
    score = inter / union
    if kind == "iou":
        return 1 - score
    enclosing = torch.maximum(p1, g1) - torch.minimum(p0, g0)
    if kind == "giou":
        e = enclosing[..., 0] * enclosing[..., 1]
        return 1 - (score - (e - union) / e)
    rho2 = ((p[..., :2] - g[..., :2]) ** 2).sum(dim=-1)
    diag2 = (enclosing ** 2).sum(dim=-1)
    score = score - rho2 / diag2
    if kind == "diou":
        return 1 - score
    assert kind == "ciou", kind
    v = 4 / math.pi ** 2 * (torch.atan(g[..., 2] / g[..., 3])
                            - torch.atan(p[..., 2] / p[..., 3])) ** 2
    with torch.no_grad():
        plain_iou = inter / union
        alpha = torch.where(v > 0, v / ((1 - plain_iou) + v), torch.zeros_like(v))
    return 1 - (score - alpha * v)


def best_anchor(w, h, anchors, net):
    """Positives: the anchor of the whole list whose shape fits
    (w*net_w, h*net_h) best, ties to the smaller index; also the runner-up's IoU (for the
    cases' tie check)."""
    tw, th = float(w) * net[0], float(h) * net[1]
    ious = []
    for aw, ah in anchors.astype(np.float64):
        inter = min(tw, aw) * min(th, ah)
        ious.append(inter / (tw * th + aw * ah - inter))
    order = sorted(range(len(ious)), key=lambda a: (-ious[a], a))
    second = ious[order[1]] if len(order) > 1 else -1.0
    return order[0], ious[order[0]], second


def decode(case, h, t):
    """Decoding: head h's decoded boxes (N, H, W, B, 4) in image units from raw
    outputs t (N, H, W, B, K) float64."""
    H, W, mask = case.heads[h]
    a = torch.tensor(case.anchors.astype(np.float64)[list(mask)])
    j = torch.arange(W, dtype=torch.float64).view(1, 1, W, 1)
    i = torch.arange(H, dtype=torch.float64).view(1, H, 1, 1)
    x = (j + torch.sigmoid(t[..., 0])) / W
    y = (i + torch.sigmoid(t[..., 1])) / H
    w = torch.exp(t[..., 2]) * a[:, 0] / case.net[0]
    hh = torch.exp(t[..., 3]) * a[:, 1] / case.net[1]
    return torch.stack([x, y, w, hh], dim=-1)


def truth_boxes(case, n):
    t = torch.tensor(case.truths[n].astype(np.float64).reshape(-1, 5))
    return t[:, 1:5], t[:, 0].long()


def best_iou(case, h, boxes):
    """Negatives: the best IoU of every slot and the first truth reaching it
    (-1 for an image without truths): (N, H, W, B) each."""
    best = torch.zeros(boxes.shape[:-1], dtype=torch.float64)
    which = torch.full(boxes.shape[:-1], -1, dtype=torch.long)
    for n in range(case.N):
        tb, _ = truth_boxes(case, n)
        if len(tb) == 0:
            continue
        ious = iou(boxes[n].unsqueeze(-2), tb)             # (H, W, B, T)
        m = ious.max(dim=-1).values
        T = ious.shape[-1]
        # the first of equal ones: smallest index whose IoU is the maximum
        idx = torch.where(ious == m.unsqueeze(-1), torch.arange(T), T).min(dim=-1).values
        best[n] = m
        which[n] = torch.where(m > 0, idx, torch.full_like(idx, -1))
    return best, which


def matches(case, h):
    """Positives for head h: per image, the list of (truth index, i, j, b) of
    the truths whose best anchor is in the mask, in input order."""
    H, W, mask = case.heads[h]
    out = []
    for n in range(case.N):
        lst = []
        for k, (cls, cx, cy, w, hh) in enumerate(case.truths[n].astype(np.float64)):
            a, _, _ = best_anchor(w, hh, case.anchors, case.net)
            if a in mask:
                j = min(math.floor(cx * W), W - 1)
                i = min(math.floor(cy * H), H - 1)
                lst.append((k, i, j, list(mask).index(a)))
        out.append(lst)
    return out


def assign(case, h, t):
    """The decisions and targets of head h (constants of the loss):
    positive / negative masks, the box target of each positive (cx, cy, w,
    h, its class), the class targets y (N, H, W, B, C), the anchor matches."""
    H, W, mask = case.heads[h]
    B = len(mask)
    shape = (case.N, H, W, B)
    with torch.no_grad():
        boxes = decode(case, h, t)
        best, which = best_iou(case, h, boxes)
    pos = torch.zeros(shape, dtype=torch.bool)
    box = torch.zeros(shape + (5,), dtype=torch.float64)
    y = torch.zeros(shape + (case.C,), dtype=torch.float64)
    if case.truth_thresh < 1.0:      # truth_thresh first: the best truth, as a positive
        tt = best > case.truth_thresh
        for n, i, j, b in tt.nonzero().tolist():
            k = int(which[n, i, j, b])
            cls, cx, cy, w, hh = case.truths[n][k].astype(np.float64)
            pos[n, i, j, b] = True
            box[n, i, j, b] = torch.tensor([cx, cy, w, hh, cls])
            y[n, i, j, b, int(cls)] = 1.0
    m = matches(case, h)
    for n, lst in enumerate(m):      # then the matches: the last truth's box, every class
        for k, i, j, b in lst:
            cls, cx, cy, w, hh = case.truths[n][k].astype(np.float64)
            pos[n, i, j, b] = True
            box[n, i, j, b] = torch.tensor([cx, cy, w, hh, cls])
            y[n, i, j, b, int(cls)] = 1.0
    neg = ~pos & (best <= case.ignore_thresh)
    return pos, neg, box, y, m, best, boxes


def compute(case, preds=None, global_images=None):
    """Everything the library returns for the case: {'heads': [dict per head],
    'total': dict, 'grads': [flat float64 gradient per head, in the case's
    layout]}.  preds: per-head arrays in the case's layout (default: the
    case's own); read as float64 (half values widen exactly)."""
    if preds is None:
        preds = case.preds()
    lc, lp, lo, ln = case.lambdas
    D = 1.0 if case.norm == "sum" else float(global_images or case.N)
    heads, grads = [], []
    n_truths = sum(len(t) for t in case.truths)
    for h, (H, W, mask) in enumerate(case.heads):
        t = torch.tensor(case.from_layout(h, preds[h]).copy(), requires_grad=True)
        pos, neg, box, y, m, best, boxes = assign(case, h, t)
        a = torch.tensor(case.anchors.astype(np.float64)[list(mask)])
        jj = torch.arange(W, dtype=torch.float64).view(1, 1, W, 1)
        ii = torch.arange(H, dtype=torch.float64).view(1, H, 1, 1)
        X = box[..., 0] * W - jj
        Y = box[..., 1] * H - ii
        # log of the targets only where there is a box (elsewhere 1: log 1 = 0)
        bw = torch.where(pos, box[..., 2], torch.ones_like(X))
        bh = torch.where(pos, box[..., 3], torch.ones_like(X))
        TW = torch.log(bw * case.net[0] / a[:, 0])
        TH = torch.log(bh * case.net[1] / a[:, 1])
        k = 2.0 - box[..., 2] * box[..., 3]
        tx, ty, tw, th, tc = (t[..., e] for e in range(5))
        z = t[..., 5:]
        if case.box_loss == "mse":
            coord_t = k * (X * softplus(-tx) + (1 - X) * softplus(tx) + Y * softplus(-ty)
                           + (1 - Y) * softplus(ty) + 0.5 * (TW - tw) ** 2
                           + 0.5 * (TH - th) ** 2)
        else:
            # a stand-in truth where there is none keeps every term finite
            gt = torch.where(pos.unsqueeze(-1), box[..., :4], torch.full_like(box[..., :4], 0.5))
            coord_t = k * one_minus_xiou(decode(case, h, t), gt, case.box_loss)
        cls_t = (y * softplus(-z) + (1 - y) * softplus(z)).sum(dim=-1)
        posf, negf = pos.double(), neg.double()
        coord = lc / D * (coord_t * posf).sum()
        obj = lo / D * (softplus(-tc) * posf).sum()
        noobj = ln / D * (softplus(tc) * negf).sum()
        cls = lp / D * (cls_t * posf).sum()
        loss = coord + cls + obj + noobj
        loss.backward()
        g = t.grad.detach()
        with torch.no_grad():
            c = torch.sigmoid(tc)
            p = torch.sigmoid(z)
            pious = iou(boxes, box[..., :4])
            tcls = box[..., 4].long().clamp(0, case.C - 1)
            p_true = p.gather(-1, tcls.unsqueeze(-1)).squeeze(-1)
            n_obj, n_noobj = int(pos.sum()), int(neg.sum())
            r = dict(coord=float(coord), cls=float(cls), obj=float(obj), noobj=float(noobj),
                     warmup=0.0, loss=float(loss), n_obj=n_obj, n_noobj=n_noobj,
                     n_conf=n_obj + n_noobj, n_truths=n_truths,
                     sum_iou=float(pious[pos].sum()),
                     n_recall50=int((pious[pos] > 0.5).sum()),
                     n_recall75=int((pious[pos] > 0.75).sum()),
                     sum_obj=float(c[pos].sum()), sum_noobj=float(c[neg].sum()),
                     sum_cls=float(p_true[pos].sum()))
            finish(r)
            # darknet's line: every matched truth of this head, at its slot
            dn = []
            for n, lst in enumerate(m):
                for kk, i, j, b in lst:
                    cl, cx, cy, w, hh = case.truths[n][kk].astype(np.float64)
                    v = float(iou(boxes[n, i, j, b], torch.tensor([cx, cy, w, hh])))
                    dn.append((v, float(c[n, i, j, b]), float(p[n, i, j, b, int(cl)])))
            cnt = len(dn)
            r["darknet"] = dict(
                count=cnt,
                avg_iou=sum(d[0] for d in dn) / cnt if cnt else 0.0,
                recall=sum(d[0] > 0.5 for d in dn) / cnt if cnt else 0.0,
                recall75=sum(d[0] > 0.75 for d in dn) / cnt if cnt else 0.0,
                avg_obj=sum(d[1] for d in dn) / cnt if cnt else 0.0,
                avg_cls=sum(d[2] for d in dn) / cnt if cnt else 0.0,
                avg_anyobj=float(c.mean()),
                # darknet's delta is minus the gradient with D = 1
                cost=float(((g * D) ** 2).sum()))
            r["slots"] = c.numel()
            r["c_all"] = float(c.sum())
            r["recall_ious"] = pious[pos].tolist() + [d[0] for d in dn]
            r["best"] = best
            r["pos"], r["neg"] = pos, neg
        heads.append(r)
        grads.append(case_layout_flat(case, h, g))
    return dict(heads=heads, total=total_of(heads, n_truths), grads=grads, D=D)


def case_layout_flat(case, h, g):
    """A (N, H, W, B, K) gradient as the flat array of the case's layout."""
    return case.to_layout(h, g.numpy()).reshape(-1)


def finish(r):
    """rl_finish_diagnostics: the averages from the raw sums."""
    no, nn = r["n_obj"], r["n_noobj"]
    r["avg_iou"] = r["sum_iou"] / no if no else 0.0
    r["recall50"] = r["n_recall50"] / no if no else 0.0
    r["recall75"] = r["n_recall75"] / no if no else 0.0
    r["avg_obj"] = r["sum_obj"] / no if no else 0.0
    r["avg_cls"] = r["sum_cls"] / no if no else 0.0
    r["avg_noobj"] = r["sum_noobj"] / nn if nn else 0.0


SUMMED = ("coord", "cls", "obj", "noobj", "loss", "n_obj", "n_noobj", "n_conf", "sum_iou",
          "n_recall50", "n_recall75", "sum_obj", "sum_noobj", "sum_cls")


def total_of(heads, n_truths):
    """The whole call: sums over heads, averages again from the sums,
    darknet's averages weighted by each head's count."""
    t = {k: sum(r[k] for r in heads) for k in SUMMED}
    t.update(warmup=0.0, n_truths=n_truths)
    finish(t)
    cnt = sum(r["darknet"]["count"] for r in heads)
    dn = dict(count=cnt, cost=sum(r["darknet"]["cost"] for r in heads),
              avg_anyobj=sum(r["c_all"] for r in heads) / sum(r["slots"] for r in heads))
    for k in ("avg_iou", "recall", "recall75", "avg_obj", "avg_cls"):
        dn[k] = sum(r["darknet"]["count"] * r["darknet"][k] for r in heads) / cnt if cnt else 0.0
    t["darknet"] = dn
    t["slots"] = sum(r["slots"] for r in heads)
    return t


# ---- random cases -------------------------------------------------------------------------

def _logit(s):
    return math.log(s / (1 - s))


def _round(x, fmt):
    """float64 values rounded to the prediction type (float32, or a half
    type through torch, which rounds once to nearest even), as float64."""
    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[fmt]
    return torch.tensor(np.asarray(x, dtype=np.float64)).to(dt).double().numpy()


def random_case(seed, layout="nchw", norm=None, fmt="float32", heads=None, n_images=None,
                thresholds=None, lambdas=None, margin=MARGIN, net=None, box_loss="mse"):
    """A conditioned random network batch (see the module's docstring);
    layout, norm and fmt take part in the draw, so that each gives
    another network.  box_loss does not: each kind sees the same network,
    but for what its conditioning redraws."""
    rng = np.random.default_rng([seed, layout == "nhwc", ["images", "sum", None].index(norm),
                                 ["float32", "float16", "bfloat16"].index(fmt)])
    n_heads = heads if heads is not None else int(rng.integers(1, 4))
    drawn = (32 * int(rng.integers(2, 5)), 32 * int(rng.integers(2, 5)))
    net = drawn if net is None else net
    per = [int(rng.integers(1, 4)) for _ in range(n_heads)]
    A = sum(per)
    # anchors grow with the head index from last to first, as in yolov3.cfg
    anchors = np.sort(rng.uniform(0.08, 0.9, (A, 2)) * np.array(net), axis=0)
    anchors = anchors[np.argsort(anchors[:, 0] * anchors[:, 1])].astype(np.float32)
    strides = [32, 16, 8][:n_heads]
    head_list, at = [], A
    for h in range(n_heads):
        mask = list(range(at - per[h], at))
        at -= per[h]
        head_list.append((net[1] // strides[h], net[0] // strides[h], mask))
    C = int(rng.integers(1, 6))
    if thresholds is None:
        thresholds = [(0.7, 1.0), (0.5, 1.0), (0.3, 0.65), (0.45, 0.8)][int(rng.integers(4))]
    if norm is None:
        norm = ["images", "sum"][int(rng.integers(2))]
    if lambdas is None:
        lambdas = (1.0, 1.0, 1.0, 1.0) if rng.uniform() < 0.5 else \
            tuple(float(v) for v in np.round(rng.uniform(0.25, 4.0, 4), 2))
    case = YoloCase(f"yolo_{seed}_{layout}_{norm}_{fmt}", anchors, head_list, net, C, layout,
                    norm, lambdas, *thresholds, box_loss=box_loss)
    N = n_images if n_images is not None else int(rng.integers(1, 4))
    truths = []
    for n in range(N):
        T = int(rng.integers(0, 6)) if n else int(rng.integers(2, 6))
        if n == N - 1 and n > 0 and rng.uniform() < 0.5:
            T = 0                        # an image without truths
        rows = []
        for _ in range(T):
            w, hh = rng.uniform(0.05, 0.8, 2)
            rows.append([int(rng.integers(C)), rng.uniform(0, 1), rng.uniform(0, 1), w, hh])
        if T >= 2 and rng.uniform() < 0.7:   # a second truth on the first's slot, another class
            r = list(rows[0])
            r[0] = (r[0] + 1) % C
            rows.append(r)
        truths.append(np.array(rows, dtype=np.float32).reshape(-1, 5))
    case.truths = truths
    if N > 0 and len(truths[0]):
        truths[0][0, 1] = 1.0           # a truth on the right border: its cell clamps to W-1
    preds = []
    for H, W, mask in head_list:
        t = rng.uniform(-2.0, 2.0, (N, H, W, len(mask), 5 + C))
        t[..., 4] -= 1.5                 # objectness mostly low, as in training
        preds.append(t)
    # plant boxes on some truths: every anchor of its cell (and of a
    # neighbour) decodes near it, for high IoUs, ignored slots and the
    # positives of truth_thresh
    for n in range(N):
        for k, (cls, cx, cy, w, hh) in enumerate(truths[n].astype(np.float64)):
            if rng.uniform() < 0.35:
                continue
            for h, (H, W, mask) in enumerate(head_list):
                j0, i0 = min(int(cx * W), W - 1), min(int(cy * H), H - 1)
                for dj in (0, 1):
                    j = min(j0 + dj, W - 1)
                    fx = min(max(cx * W - j, 0.05), 0.95)
                    fy = min(max(cy * H - i0, 0.05), 0.95)
                    for b, a in enumerate(mask):
                        aw, ah = anchors[a].astype(np.float64)
                        # near the truth, not on it: s(tx) - X would cancel
                        preds[h][n, i0, j, b, 0] = _logit(fx) + rng.choice([-1, 1]) * \
                            rng.uniform(0.05, 0.3)
                        preds[h][n, i0, j, b, 1] = _logit(fy) + rng.choice([-1, 1]) * \
                            rng.uniform(0.05, 0.3)
                        preds[h][n, i0, j, b, 2] = math.log(w * net[0] / aw) + rng.uniform(-0.15, 0.15)
                        preds[h][n, i0, j, b, 3] = math.log(hh * net[1] / ah) + rng.uniform(-0.15, 0.15)
    case.preds_nhwbk = [_round(p, fmt) for p in preds]
    condition(case, rng, fmt, margin)
    return case


def condition(case, rng, fmt, margin=MARGIN, rounds=60):
    """Redraws what lies near a threshold until nothing does: anchor
    near-ties (the truth's size), slots whose best IoU is near
    ignore_thresh or truth_thresh, positives and darknet's truths whose IoU
    is near 0.5 or 0.75, positives whose box gradient is a cancellation
    (s(tx) - X, tw - TW, ... below 1e-3) (the box entries of the slot), and
    for an IoU-family box loss the positives one of whose box's edges lies
    near an edge of its truth (the kinks of min and max: where the overlap
    starts, or one box's edge takes over from the other's).  Near: within
    margin."""
    for _ in range(rounds):
        changed = False
        for n, ts in enumerate(case.truths):
            for k in range(len(ts)):
                _, b1, b2 = best_anchor(ts[k, 3], ts[k, 4], case.anchors, case.net)
                if b1 - b2 < 1e-6:
                    ts[k, 3] = np.float32(ts[k, 3] * rng.uniform(0.9, 1.1))
                    ts[k, 3] = np.float32(min(max(ts[k, 3], 0.02), 1.0))
                    changed = True
        for h in range(len(case.heads)):
            t = torch.tensor(case.preds_nhwbk[h])
            pos, neg, box, y, m, best, boxes = assign(case, h, t)
            bad = torch.zeros_like(pos)
            bad |= (best - case.ignore_thresh).abs() < margin
            if case.truth_thresh < 1.0:
                bad |= (best - case.truth_thresh).abs() < margin
            pi = iou(boxes, box[..., :4])
            bad |= pos & (((pi - 0.5).abs() < margin) | ((pi - 0.75).abs() < margin))
            # a positive's box gradient must not be a cancellation: two
            # double implementations would differ in its leading digits
            H, W, mask = case.heads[h]
            a = torch.tensor(case.anchors.astype(np.float64)[list(mask)])
            X = box[..., 0] * W - torch.arange(W, dtype=torch.float64).view(1, 1, W, 1)
            Y = box[..., 1] * H - torch.arange(H, dtype=torch.float64).view(1, H, 1, 1)
            TW = torch.log(box[..., 2].clamp(min=1e-9) * case.net[0] / a[:, 0])
            TH = torch.log(box[..., 3].clamp(min=1e-9) * case.net[1] / a[:, 1])
            gaps = torch.stack([torch.sigmoid(t[..., 0]) - X, torch.sigmoid(t[..., 1]) - Y,
                                t[..., 2] - TW, t[..., 3] - TH], dim=-1).abs()
            bad |= pos & (gaps < 1e-3).any(dim=-1)
            if case.box_loss != "mse":
                p0, p1 = corners(boxes)
                g0, g1 = corners(box[..., :4])
                near = torch.stack([(a - b).abs() for a in (p0, p1) for b in (g0, g1)], dim=-1)
                bad |= pos & (near < margin).flatten(-2).any(dim=-1)
            for n, lst in enumerate(m):
                for kk, i, j, b in lst:
                    cl, cx, cy, w, hh = case.truths[n][kk].astype(np.float64)
                    v = float(iou(boxes[n, i, j, b], torch.tensor([cx, cy, w, hh])))
                    if abs(v - 0.5) < margin or abs(v - 0.75) < margin:
                        bad[n, i, j, b] = True
            if bad.any():
                changed = True
                p = case.preds_nhwbk[h]
                for n, i, j, b in bad.nonzero().tolist():
                    p[n, i, j, b, :4] = _round(p[n, i, j, b, :4]
                                               + rng.uniform(-0.3, 0.3, 4), fmt)
        if not changed:
            return case
    raise RuntimeError(f"{case.name}: not conditioned in {rounds} rounds")
