"""The region loss as a PyTorch user writes it: vectorised tensor code,
float32, autograd for the gradient.  It is the baseline that
bench/torch_vs_regionloss.py times against regionloss.torch.RegionLoss,
and it follows docs/loss.md's spec mode (batch normalisation) so that
both compute the same loss: the benchmark prints how closely they agree.

Written the way the common yolov2-pytorch ports structure it (decode every
slot, IoU of every prediction against every padded truth by broadcasting,
masks and targets built by indexed assignment, the terms summed over masks),
but from docs/loss.md, not copied from any of them."""
import torch


class TorchRegionLoss(torch.nn.Module):
    def __init__(self, anchors, num_classes, lambda_coord=1.0, lambda_class=1.0,
                 lambda_obj=5.0, lambda_noobj=1.0, thresh=0.6):
        super().__init__()
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).view(-1, 2))
        self.C = num_classes
        self.lc, self.lp, self.lo, self.ln = lambda_coord, lambda_class, lambda_obj, lambda_noobj
        self.thresh = thresh

    def forward(self, output, targets):
        """output (N, B*(5+C), H, W); targets (M, 6) image, class, cx, cy, w, h."""
        N, _, H, W = output.shape
        B, C = self.anchors.shape[0], self.C
        t = output.view(N, B, 5 + C, H, W).permute(0, 1, 3, 4, 2)      # N, B, H, W, 5+C
        sx, sy = torch.sigmoid(t[..., 0]), torch.sigmoid(t[..., 1])
        aw = self.anchors[:, 0].view(1, B, 1, 1)
        ah = self.anchors[:, 1].view(1, B, 1, 1)
        gx = torch.arange(W, dtype=output.dtype).view(1, 1, 1, W)
        gy = torch.arange(H, dtype=output.dtype).view(1, 1, H, 1)
        px, py = gx + sx, gy + sy
        pw, ph = aw * torch.exp(t[..., 2]), ah * torch.exp(t[..., 3])
        conf = torch.sigmoid(t[..., 4])
        logits = t[..., 5:]

        with torch.no_grad():
            img = targets[:, 0].long()
            cls = targets[:, 1].long()
            X, Y = targets[:, 2] * W, targets[:, 3] * H
            Wg, Hg = targets[:, 4] * W, targets[:, 5] * H
            # truths padded per image, for the best IoU of every slot
            counts = torch.bincount(img, minlength=N)
            T = int(counts.max()) if len(img) else 0
            order = torch.argsort(img, stable=True)
            first = torch.cumsum(counts, 0) - counts
            pos = torch.arange(len(img)) - first[img[order]]
            boxes = torch.zeros(N, max(T, 1), 4)
            valid = torch.zeros(N, max(T, 1), dtype=torch.bool)
            boxes[img[order], pos] = torch.stack([X, Y, Wg, Hg], 1)[order]
            valid[img[order], pos] = True
            pb = torch.stack([px, py, pw, ph], -1).view(N, -1, 1, 4)    # N, BHW, 1, 4
            iou = box_iou(pb, boxes.view(N, 1, -1, 4))                  # N, BHW, T
            iou = torch.where(valid.view(N, 1, -1), iou, torch.zeros(()))
            best = iou.max(-1).values.view(N, B, H, W)

            # responsible anchors: cell of the centre, anchor of best shape IoU
            j = torch.clamp(X.floor().long(), max=W - 1)
            i = torch.clamp(Y.floor().long(), max=H - 1)
            inter = torch.min(Wg[:, None], self.anchors[None, :, 0]) * \
                torch.min(Hg[:, None], self.anchors[None, :, 1])
            shape_iou = inter / (Wg[:, None] * Hg[:, None] + (self.anchors[:, 0] *
                                 self.anchors[:, 1])[None] - inter)
            b = shape_iou.argmax(1)
            obj = torch.zeros(N, B, H, W, dtype=torch.bool)
            obj[img, b, i, j] = True          # a later truth on the same slot wins
            tX = torch.zeros(N, B, H, W)
            tY, tW, tH = torch.zeros_like(tX), torch.zeros_like(tX), torch.zeros_like(tX)
            tcls = torch.zeros(N, B, H, W, dtype=torch.long)
            tX[img, b, i, j], tY[img, b, i, j] = X, Y
            tW[img, b, i, j], tH[img, b, i, j] = Wg, Hg
            tcls[img, b, i, j] = cls
            noobj = ~obj & (best < self.thresh)
            n_obj, n_conf = int(obj.sum()), int(obj.sum() + noobj.sum())
            tiou = box_iou(torch.stack([px[obj], py[obj], pw[obj], ph[obj]], -1),
                           torch.stack([tX[obj], tY[obj], tW[obj], tH[obj]], -1))

        coord = ((px[obj] - tX[obj]) ** 2 + (py[obj] - tY[obj]) ** 2 +
                 (pw[obj] - tW[obj]) ** 2 + (ph[obj] - tH[obj]) ** 2).sum()
        cls_loss = torch.nn.functional.cross_entropy(logits[obj], tcls[obj], reduction="sum")
        obj_loss = ((tiou - conf[obj]) ** 2).sum()
        noobj_loss = (conf[noobj] ** 2).sum()
        zero = output.sum() * 0
        loss = zero
        if n_obj:
            loss = loss + self.lc * coord / n_obj + self.lp * cls_loss / n_obj
        if n_conf:
            loss = loss + (self.lo * obj_loss + self.ln * noobj_loss) / n_conf
        return loss


def box_iou(a, b):
    """IoU of centre/size boxes (..., 4), broadcasting; 0 for empty boxes."""
    ox = torch.min(a[..., 0] + a[..., 2] / 2, b[..., 0] + b[..., 2] / 2) - \
        torch.max(a[..., 0] - a[..., 2] / 2, b[..., 0] - b[..., 2] / 2)
    oy = torch.min(a[..., 1] + a[..., 3] / 2, b[..., 1] + b[..., 3] / 2) - \
        torch.max(a[..., 1] - a[..., 3] / 2, b[..., 1] - b[..., 3] / 2)
    inter = ox.clamp(min=0) * oy.clamp(min=0)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return torch.where(union > 0, inter / union, torch.zeros(()))
