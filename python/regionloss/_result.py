"""The result of a call (rl_result) as plain Python values."""

from collections import namedtuple
from dataclasses import dataclass, fields

# rl_counts: what a shard all-reduces before computing with global counts.
Counts = namedtuple("Counts", ["n_obj", "n_noobj", "n_conf", "n_images"])


@dataclass(frozen=True)
class DarknetStats:
    """Darknet's training line and cost (rl_darknet_stats); zeros in spec mode."""
    avg_iou: float
    recall: float
    recall75: float
    avg_cls: float
    avg_obj: float
    avg_anyobj: float
    count: int
    cost: float


@dataclass(frozen=True)
class Result:
    """Loss, parts, counts and diagnostics of one call (docs/api.md, "The
    result").  loss = coord + cls + obj + noobj + warmup, in double."""
    loss: float
    coord: float
    cls: float
    obj: float
    noobj: float
    warmup: float
    n_obj: int
    n_noobj: int
    n_conf: int
    n_truths: int
    avg_iou: float
    recall50: float
    recall75: float
    avg_obj: float
    avg_noobj: float
    avg_cls: float
    sum_iou: float
    sum_obj: float
    sum_noobj: float
    sum_cls: float
    n_recall50: int
    n_recall75: int
    darknet: DarknetStats
    variant: str

    @classmethod
    def _from_c(cls, r):
        # Runs on every call: the field lists are computed once, below.
        d = r.darknet
        return cls(*[getattr(r, n) for n in _PLAIN],
                   DarknetStats(*[getattr(d, n) for n in _DARKNET]),
                   r.variant.decode() if r.variant else "")

    def as_dict(self):
        """Every field, darknet's as a nested dict (for logging)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["darknet"] = {f.name: getattr(self.darknet, f.name) for f in fields(DarknetStats)}
        return out


@dataclass(frozen=True)
class YoloResult(Result):
    """The result of a [yolo] call (rl_yolo_compute): the fields of Result
    are the whole call's (the total: parts and counts summed over the heads,
    averages recomputed from the summed raw sums, darknet's statistics
    weighted by each head's truth count), and ``heads`` holds one Result per
    head, in the plan's head order.  n_truths is the batch's truths in every
    one; warmup is 0."""
    heads: tuple

    @classmethod
    def _from_c(cls, total, per_head, n_heads):
        t = Result._from_c(total)
        heads = tuple(Result._from_c(per_head[h]) for h in range(n_heads))
        return cls(*[getattr(t, f.name) for f in fields(Result)], heads)

    def as_dict(self):
        """Every field of the total, darknet's as a nested dict, and
        ``heads`` as a list of such dicts (for logging)."""
        out = Result.as_dict(Result(*[getattr(self, f.name) for f in fields(Result)]))
        out["heads"] = [h.as_dict() for h in self.heads]
        return out


# Result's fields in order: the plain numbers, then darknet, then variant.
_PLAIN = tuple(f.name for f in fields(Result))[:-2]
_DARKNET = tuple(f.name for f in fields(DarknetStats))
assert tuple(f.name for f in fields(Result))[-2:] == ("darknet", "variant")
