"""Truth boxes in the forms trainers hold, converted to the library's
rl_box array and per-image offsets (rl_batch.truths, .truth_offsets).

The conversion copies the truths (a few hundred boxes: cheap) and never
touches the caller's arrays.  Values are rounded to float32, which is what
rl_box holds; the library then validates every box and says which is bad.
"""

import numpy as np

from . import _lib

# rl_box: four floats and an int32, 20 bytes, no padding (tests/python/test_abi.py).
BOX_DTYPE = np.dtype([("cx", "<f4"), ("cy", "<f4"), ("w", "<f4"), ("h", "<f4"),
                      ("cls", "<i4")])


class Targets:
    """The truths of a batch: ``boxes`` (structured array, rl_box layout),
    image after image, and ``offsets`` (int64, n_images + 1 entries: image k
    owns boxes[offsets[k]:offsets[k+1]]).  Build one with from_rows,
    from_list, from_padded or from_darknet, or let Plan.compute convert on
    each call."""

    __slots__ = ("boxes", "offsets")

    def __init__(self, boxes, offsets):
        self.boxes = boxes
        self.offsets = offsets

    @property
    def n_images(self):
        return len(self.offsets) - 1

    @classmethod
    def from_rows(cls, rows, n_images):
        """Flat (M, 6) rows ``image, class, cx, cy, w, h`` (the CLI's label
        format, and what ultralytics-style loaders give).  Rows may come in
        any image order; within an image their order is kept, which matters
        (a later truth on the same slot replaces an earlier one)."""
        rows = _numeric_2d(rows, 6, "targets")
        m = len(rows)
        if (rows.dtype == np.float32 and rows.flags.c_contiguous and rows.flags.aligned
                and 0 < n_images < 2 ** 31):
            # The common case (a float32 tensor's memory, the CLI's labels):
            # one library call (rl_truths_from_rows) checks, sorts by image
            # and converts; it runs on every training step, where a dozen
            # numpy calls cost 5-10 times their warm time (the loss call has
            # just streamed the batch through the caches).
            boxes = np.empty(m, dtype=BOX_DTYPE)
            offsets = np.empty(n_images + 1, dtype=np.int64)
            st = _lib.truths_from_rows(rows.ctypes.data if m else None, m, n_images,
                                       boxes.ctypes.data if m else None, offsets.ctypes.data)
            if st != _lib.RL_OK:
                cls._bad_row(rows, n_images)  # the same message as the other path
                _lib.check(st)
            return cls(boxes, offsets)
        # Other dtypes and layouts: a fixed handful of numpy calls (no
        # per-row Python), about 10 passes over the M rows.
        with np.errstate(invalid="ignore", over="ignore"):
            # A float or integer column value v is an int32 exactly when
            # int32(v) == v: NaN, inf, fractions and out-of-range values
            # (whatever the cast makes of them) all compare unequal.
            ii = rows[:, :2].astype(np.int32)
            if not bool((ii == rows[:, :2]).all()):
                cls._bad_row(rows, n_images)
            img = ii[:, 0]
            given = rows
            if m > 1 and bool((img[1:] < img[:-1]).any()):
                order = np.argsort(img, kind="stable")
                rows, ii, img = rows[order], ii[order], img[order]
            # sorted: the range check is the first and the last index
            if m and (int(img[0]) < 0 or int(img[-1]) >= n_images):
                cls._bad_row(given, n_images)
            # rl_box: four float32 and the class as int32, written as one
            # (M, 5) float32 block whose last column is reinterpreted;
            # float64 beyond float32's range becomes inf: the library
            # rejects it with a message naming image and truth.
            out = np.empty((m, 5), dtype=np.float32)
            out[:, :4] = rows[:, 2:6]
        out.view(np.int32)[:, 4] = ii[:, 1]
        # image k's rows start where k would be inserted in the sorted indices
        offsets = np.searchsorted(img, np.arange(n_images + 1)).astype(np.int64, copy=False)
        return cls(out.view(BOX_DTYPE).reshape(m), offsets)

    @staticmethod
    def _bad_row(rows, n_images):
        """Raises ValueError naming the first row whose image index or
        class is not an integer in range (the slow path, for the message)."""
        ic = rows[:, :2]
        with np.errstate(invalid="ignore"):
            ii = ic.astype(np.int64)
            ok = (ii == ic) & (ii >= -2 ** 31) & (ii < 2 ** 31)
            ok[:, 0] &= (ii[:, 0] >= 0) & (ii[:, 0] < n_images)
        r, c = divmod(int(np.argmin(ok.reshape(-1))), 2)
        name, rng = (("image index", f" in [0, {n_images})") if c == 0
                     else ("class", " (int32)"))
        raise ValueError(f"targets row {r}: {name} = {ic[r, c].item()!r} is not an integer{rng}")

    @classmethod
    def from_list(cls, per_image):
        """A list with one (T, 5) array ``class, cx, cy, w, h`` per image
        (T may be 0)."""
        if isinstance(per_image, np.ndarray) or not hasattr(per_image, "__len__"):
            raise TypeError("targets: a list of per-image (T, 5) arrays was expected, got "
                            f"{type(per_image).__name__}")
        parts = []
        offsets = np.zeros(len(per_image) + 1, dtype=np.int64)
        for k, t in enumerate(per_image):
            a = _numeric_2d(t, 5, f"targets[{k}]", allow_flat_empty=True)
            _integer_column(a[:, 0], f"targets[{k}]", "class", None, None)
            parts.append(a)
            offsets[k + 1] = offsets[k] + len(a)
        boxes = np.empty(int(offsets[-1]), dtype=BOX_DTYPE)
        for k, a in enumerate(parts):
            boxes[offsets[k]:offsets[k + 1]] = _boxes(a[:, 1:5], a[:, 0])
        return cls(boxes, offsets)

    @classmethod
    def from_padded(cls, padded):
        """A padded (N, T, 5) array ``class, cx, cy, w, h``: T truth slots
        per image (lightnet's target tensor), box values normalised to the
        image as everywhere here.  A row whose class is -1 is padding and is
        skipped wherever it stands (its box values are not read); the other
        rows are the image's truths, in order.  N is the number of images,
        so an image whose T rows are all padding has no truth."""
        if not isinstance(padded, np.ndarray):
            if hasattr(padded, "detach"):
                raise TypeError("targets: a torch tensor; pass tensor.numpy() (CPU), or use "
                                "regionloss.torch.RegionLoss")
            padded = np.asarray(padded)
        if padded.dtype.kind not in "fiu":
            raise TypeError(f"targets: dtype {padded.dtype}; numbers (float or int) expected")
        if padded.ndim != 3 or padded.shape[2] != 5:
            raise ValueError(f"targets: shape {padded.shape}; (N, T, 5) rows ``class, cx, cy, "
                             "w, h`` padded with class -1 expected")
        n, t = padded.shape[:2]
        flat = padded.reshape(n * t, 5)
        c = flat[:, 0]
        keep = c != -1
        with np.errstate(invalid="ignore"):
            ok = ~keep | ((c >= 0) & (c < 2 ** 31) & (np.floor(c) == c))
        if not ok.all():
            r = int(np.argmin(ok))
            raise ValueError(f"targets[{r // t}, {r % t}]: class = {c[r].item()!r} is neither an "
                             "integer >= 0 nor -1 (padding)")
        rows = np.empty((int(keep.sum()), 6), dtype=np.float32 if flat.dtype.itemsize <= 4
                        and flat.dtype.kind == "f" else np.float64)
        rows[:, 0] = np.repeat(np.arange(n), t)[keep]
        rows[:, 1:] = flat[keep]
        return cls.from_rows(rows, n)

    @classmethod
    def from_darknet(cls, buffer, num_classes):
        """Darknet's truth buffer (net.truth): (N, boxes_per_image * 5) or
        (N, boxes_per_image, 5) float32, each box ``x, y, w, h, class``;
        an image's list ends at the first box with x == 0
        (rl_truths_from_darknet)."""
        if not isinstance(buffer, np.ndarray):
            raise TypeError("darknet truth buffer: a numpy.ndarray of float32 was expected, "
                            f"got {type(buffer).__name__}")
        if buffer.dtype != np.float32:
            raise TypeError(f"darknet truth buffer: dtype {buffer.dtype}, float32 expected")
        if buffer.ndim == 3 and buffer.shape[2] == 5:
            per_image = buffer.shape[1]
        elif buffer.ndim == 2 and buffer.shape[1] % 5 == 0:
            per_image = buffer.shape[1] // 5
        else:
            raise ValueError(f"darknet truth buffer: shape {buffer.shape}; (N, boxes * 5) or "
                             "(N, boxes, 5) expected")
        n = buffer.shape[0]
        if n < 1 or per_image < 1:
            raise ValueError(f"darknet truth buffer: shape {buffer.shape} holds no box slot")
        buf = np.ascontiguousarray(buffer)  # a copy only if the caller's is strided
        boxes = np.empty(n * per_image, dtype=BOX_DTYPE)
        offsets = np.empty(n + 1, dtype=np.int64)
        _lib.check(_lib.truths_from_darknet(buf.ctypes.data, n, per_image, int(num_classes),
                                            boxes.ctypes.data, offsets.ctypes.data))
        # Images own consecutive runs from 0, so the used boxes are a prefix.
        return cls(boxes[:int(offsets[-1])].copy(), offsets)


def as_targets(targets, n_images):
    """Whatever Plan.compute was given, as Targets for n_images images."""
    if isinstance(targets, Targets):
        t = targets
    elif isinstance(targets, (list, tuple)):
        t = Targets.from_list(targets)
    elif np.ndim(targets) == 3:
        t = Targets.from_padded(targets)
    else:
        t = Targets.from_rows(targets, n_images)
    if t.n_images != n_images:
        raise ValueError(f"targets describe {t.n_images} images, the predictions hold "
                         f"{n_images}")
    return t


def _numeric_2d(a, cols, what, allow_flat_empty=False):
    if not isinstance(a, np.ndarray):
        if hasattr(a, "detach"):  # a torch tensor: regionloss.torch converts those
            raise TypeError(f"{what}: a torch tensor; pass tensor.numpy() (CPU), or use "
                            "regionloss.torch.RegionLoss")
        a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{what}: dtype {a.dtype}; numbers (float or int) expected")
    if allow_flat_empty and a.size == 0:
        return np.zeros((0, cols))
    if a.ndim != 2 or a.shape[1] != cols:
        raise ValueError(f"{what}: shape {a.shape}; (rows, {cols}) expected")
    return a


def _integer_column(col, what, name, lo, hi):
    """Checks that a column holds integers that fit int32 (and lie in
    [lo, hi) when given) and returns it as int64; names the first bad row."""
    with np.errstate(invalid="ignore"):
        if col.dtype.kind == "f":
            ok = np.isfinite(col) & (np.floor(col) == col)
        else:
            ok = np.ones(len(col), dtype=bool)
        ok &= (col >= -2 ** 31) & (col < 2 ** 31)
        if lo is not None:
            ok &= (col >= lo) & (col < hi)
    if not ok.all():
        r = int(np.argmin(ok))
        rng = f" in [{lo}, {hi})" if lo is not None else " (int32)"
        raise ValueError(f"{what} row {r}: {name} = {col[r].item()!r} is not an integer{rng}")
    return col.astype(np.int64)


def _boxes(xywh, cls):
    """(T, 4) cx, cy, w, h and T classes (already checked integral and in
    int32) -> rl_box array, written as one (T, 5) float32 block whose last
    column is reinterpreted as int32.  The range [0, C) is the library's
    check, with a message naming image and truth."""
    out = np.empty((len(xywh), 5), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        # float64 beyond float32's range becomes inf: rejected by the library
        out[:, :4] = xywh
    out.view(np.int32)[:, 4] = cls
    return out.view(BOX_DTYPE).reshape(len(xywh))
