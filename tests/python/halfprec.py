"""Half-precision values in numpy, for the tests of issue 17: rounding from
float64 to float16 or bfloat16 once, to nearest even (numpy has float16 but
no bfloat16, and rounding through float32 would round twice), bit patterns,
exact widening, and random cases whose predictions are half values."""
import numpy as np

from goldens import mg

# significand bits (with the implicit one), smallest normal exponent, largest finite value
FORMATS = {"float16": (11, -14, 65504.0),
           "bfloat16": (8, -126, float(np.float32(2.0 ** 127 * (2 - 2.0 ** -7))))}


def rnd(x, fmt):
    """float64 values rounded once, to nearest even, to the format (as
    float64: every such value is one).  Past the largest finite value,
    rounding to nearest gives infinity, as the library's narrowing does."""
    p, emin, top = FORMATS[fmt]
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        _, e = np.frexp(a)                  # a in [2^(e-1), 2^e)
        exp = np.maximum(e - 1, emin)       # subnormals share the smallest exponent
        scale = np.ldexp(1.0, exp - (p - 1))
        q = np.rint(a / scale) * scale      # rint: ties to even
    q = np.where(a == 0, 0.0, q)
    q = np.where(q > top, np.inf, q)
    q = np.where(np.isnan(a), np.nan, q)
    return np.copysign(q, x)


def bits(x, fmt):
    """Half values (exact, as float64 or float32) to their uint16 patterns."""
    x = np.asarray(x)
    if fmt == "float16":
        return x.astype(np.float16).view(np.uint16)   # exact: x is a float16 value
    return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


def widen(a, fmt):
    """A half array (float16, or uint16 bfloat16 bits) to float64, exactly."""
    a = np.asarray(a)
    if fmt == "float16":
        return a.astype(np.float64)
    return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def as_half(x, fmt):
    """float values to the array the library reads: float16, or uint16
    bfloat16 bit patterns (rounded once to nearest even)."""
    r = rnd(x, fmt)
    return r.astype(np.float16) if fmt == "float16" else bits(r, fmt)


def half_case(case, fmt):
    """The case with its predictions rounded to the format, conditioned
    again until rounding leaves them alone (mg.condition redraws any entry
    whose decision rounding brought near a threshold)."""
    t = case.pred_nijbk.astype(np.float32)
    for _ in range(20):
        t = rnd(t, fmt).astype(np.float32)
        before = t.copy()
        mg.condition(case, t)
        if np.array_equal(t, before):
            case.pred_nijbk = t
            case.pred = case.to_layout(t)
            return case
    raise RuntimeError(f"{case.name}: no {fmt} conditioning in 20 rounds")


def between(v, lo, hi, fmt):
    """Each v (half values as float64) lies in [rnd(lo), rnd(hi)]: the rule of
    docs/numerics.md for a half gradient entry whose float value is within
    [lo, hi] of the exact one (rounding is monotonic)."""
    return (v >= rnd(lo, fmt)) & (v <= rnd(hi, fmt))
