// The kernel table of src/kernels.h written once with Google Highway and
// compiled for every target Highway can dispatch to on this architecture
// (foreach_target re-includes this file once per target).  Lane by lane it
// computes what src/generic/kernels_generic.c states; docs/hwy.md gives the
// numerics and the dispatch policy.  C reaches it only through hwy_shim.h.
//
// Highway 1.0.3 notes that shape the code:
//  * MaskedLoad and BlendedStore read (and BlendedStore rewrites) the whole
//    vector on SSE4 and NEON, so partial vectors at the end of a run go
//    through a stack buffer and never touch memory past the run.
//  * GatherIndex takes int32 indices: strided runs gather only when
//    (lanes - 1) * stride fits, and copy lane by lane otherwise.
//  * Exp is valid on [-FLT_MAX, 104]: box-size logits are clamped at 89,
//    where exp overflows to +inf exactly as expf does.
//  * SVE vectors are sizeless: no arrays or struct members of vector type.
//  * Its f16 DemoteTo/PromoteTo are exact hardware conversions only where
//    the target has them (F16C on AVX2/AVX3, FCVT on NEON/SVE); the software
//    versions (SSE4, SCALAR, EMU128) truncate, turn overflow into finite
//    values and infinities and NaNs into numbers, and its bf16 DemoteTo
//    truncates everywhere.  Those conversions are done here on the bits.

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels_hwy.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include "hwy_shim.h"
#include "regionloss.h"

HWY_BEFORE_NAMESPACE();
namespace rl_hwy {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<D>;
using DU = hn::RebindToUnsigned<D>;
using DU8 = hn::Rebind<uint8_t, D>;
using V = hn::Vec<D>;
using VI = hn::Vec<DI>;
using M = hn::Mask<D>;

// Upper bound of Lanes(D()) for this target, for stack buffers (64 on SVE).
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Double accumulators over float lanes.  Each float is widened before it is
// added, so a sum over many slots keeps double precision (kernels.h).
#if HWY_TARGET == HWY_SCALAR
using DD = hn::Rebind<double, D>;
using VD = hn::Vec<DD>;
HWY_INLINE void AddD(VD& lo, VD& /*hi*/, V v) { lo = hn::Add(lo, hn::PromoteTo(DD(), v)); }
HWY_INLINE void AddSqD(VD& lo, VD& /*hi*/, V v)
{
    const VD w = hn::PromoteTo(DD(), v);
    lo = hn::MulAdd(w, w, lo);
}
#else
using DH = hn::Half<D>;
using DD = hn::Rebind<double, DH>;
using VD = hn::Vec<DD>;
HWY_INLINE void AddD(VD& lo, VD& hi, V v)
{
    const DH dh;
    lo = hn::Add(lo, hn::PromoteTo(DD(), hn::LowerHalf(dh, v)));
    hi = hn::Add(hi, hn::PromoteTo(DD(), hn::UpperHalf(dh, v)));
}
// Adds (double)v^2: a float square overflows past 1.8e19.
HWY_INLINE void AddSqD(VD& lo, VD& hi, V v)
{
    const DH dh;
    const VD a = hn::PromoteTo(DD(), hn::LowerHalf(dh, v));
    const VD b = hn::PromoteTo(DD(), hn::UpperHalf(dh, v));
    lo = hn::MulAdd(a, a, lo);
    hi = hn::MulAdd(b, b, hi);
}
#endif
HWY_INLINE double SumD(VD lo, VD hi) { return hn::GetLane(hn::SumOfLanes(DD(), hn::Add(lo, hi))); }

// exp for the kernels: Highway's contrib Exp (1 ulp), with the argument kept
// inside its valid range.  Above 89 the float result is +inf anyway.
HWY_INLINE V ExpF(D d, V x) { return hn::Exp(d, hn::Min(x, hn::Set(d, 89.0f))); }

// s(z) from one exp of -|z|: no overflow, no cancellation.  sp = s(|z|) and
// sn = s(-|z|) are returned too: their product is the slope s(z) s(-z);
// and e = e^-|z| itself.
HWY_INLINE V SigmoidPartsE(D d, V z, V& sp, V& sn, V& e)
{
    const V one = hn::Set(d, 1.0f);
    e = ExpF(d, hn::Neg(hn::Abs(z)));
    sp = hn::Div(one, hn::Add(one, e)); // s(|z|)
    sn = hn::Mul(e, sp);                // s(-|z|)
    return hn::IfThenElse(hn::Lt(z, hn::Zero(d)), sn, sp);
}
HWY_INLINE V SigmoidParts(D d, V z, V& sp, V& sn)
{
    V e;
    return SigmoidPartsE(d, z, sp, sn, e);
}

// softplus(z) = -log(1 - s(z)) = max(z, 0) + log1p(e^-|z|), e = e^-|z| as
// SigmoidPartsE gave it: a sum of two non-negative terms, so no
// cancellation; e in [0, 1], inside Log1p's valid range, so no overflow;
// for z very negative it is Log1p(e) ~ e (Log1p returns a subnormal e as is).
HWY_INLINE V Softplus(D d, V z, V e) { return hn::Add(hn::Max(z, hn::Zero(d)), hn::Log1p(d, e)); }
HWY_INLINE V Sigmoid(D d, V z)
{
    V sp, sn;
    return SigmoidParts(d, z, sp, sn);
}

// Lane buffers of the SCALAR target start zeroed: GCC 12 warns that the
// lane loops may read them uninitialized (they read lanes [0, n), n <= N,
// all stored), once the templated kernels inline them.  Two lanes each; the
// vector targets' buffers stay uninitialised.
#undef RL_LANES_INIT
#if HWY_TARGET == HWY_SCALAR
#define RL_LANES_INIT = {}
#else
#define RL_LANES_INIT
#endif

// Lanes [0, n) of p[l * stride]; lanes n.. read as `fill`.  A full vector
// loads directly (contiguous) or gathers (strided, when the indices fit in
// int32); anything else is copied through a buffer, so no lane past the run
// is ever read.
HWY_INLINE V LoadRun(D d, const float* p, int64_t stride, size_t n, size_t N, bool gather,
                     VI idx, float fill)
{
    if (n == N) {
        if (stride == 1)
            return hn::LoadU(d, p);
        if (gather)
            return hn::GatherIndex(d, p, idx);
    }
    HWY_ALIGN float buf[kMaxLanes];
    for (size_t l = 0; l < N; l++)
        buf[l] = l < n ? p[(int64_t)l * stride] : fill;
    return hn::Load(d, buf);
}

// Writes lanes l < n selected by `sel` to p[l * stride], adding to the
// stored value when `accumulate`.  Only full vectors use vector stores: a
// contiguous one may be a BlendedStore, which on some targets rewrites
// unselected lanes with their own value (harmless inside the run, which one
// thread owns, but not past its end); a strided one is scattered only when
// every lane is selected (Highway 1.0.3 has no masked scatter).
HWY_INLINE void StoreRun(D d, V v, M sel, float* p, int64_t stride, size_t n, size_t N,
                         int accumulate, bool gather, VI idx)
{
    if (n == N && stride == 1) {
        if (accumulate)
            v = hn::Add(hn::LoadU(d, p), v);
        if (hn::AllTrue(d, sel))
            hn::StoreU(v, d, p);
        else
            hn::BlendedStore(v, sel, d, p);
        return;
    }
    if (n == N && gather && hn::AllTrue(d, sel)) {
        if (accumulate)
            v = hn::Add(hn::GatherIndex(d, p, idx), v);
        hn::ScatterIndex(v, d, p, idx);
        return;
    }
    const DI di;
    HWY_ALIGN float vb[kMaxLanes] RL_LANES_INIT;
    HWY_ALIGN int32_t mb[kMaxLanes] RL_LANES_INIT;
    hn::Store(v, d, vb);
    hn::Store(hn::BitCast(di, hn::VecFromMask(d, sel)), di, mb);
    for (size_t l = 0; l < n; l++) {
        if (!mb[l])
            continue;
        float* g = p + (int64_t)l * stride;
        *g = accumulate ? *g + vb[l] : vb[l];
    }
}

// ---------------------------------------------------------------------------
// Element types of t and grad (kernels.h, rl_run): float, bfloat16 and
// binary16, the last two stored as uint16_t bit patterns.  Loads widen to
// float in registers (exact); stores narrow to nearest even, a NaN staying
// a NaN, bit for bit what src/elem.h's rl_f32_to_bf16 / rl_f32_to_f16 do
// (src/hwy/tests/elem_bits.c checks every target against them).

struct F32 {
    using T = float;
    static constexpr int kType = RL_DTYPE_F32;
};
struct BF16 {
    using T = uint16_t;
    static constexpr int kType = RL_DTYPE_BF16;
};
struct F16 {
    using T = uint16_t;
    static constexpr int kType = RL_DTYPE_F16;
};

using DU16 = hn::Rebind<uint16_t, D>;  // one 16-bit lane per float lane
using DI16 = hn::Rebind<int16_t, D>;
using DF16 = hn::Rebind<hwy::float16_t, D>;
using VU = hn::Vec<DU>;
using VU16 = hn::Vec<DU16>;

// Whether Highway's f16 PromoteTo/DemoteTo on this target are the exact
// hardware conversions (round to nearest even under the default FP mode,
// subnormals kept, overflow to infinity, NaN quieted with its top payload
// bits: what rl_f32_to_f16 does); elsewhere they are done by hand below.
#undef RL_HWY_F16_NATIVE
#if (HWY_ARCH_X86 && HWY_TARGET < HWY_SSE4 && !defined(HWY_DISABLE_F16C)) || \
    (HWY_ARCH_ARM_A64 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128)
#define RL_HWY_F16_NATIVE 1
#else
#define RL_HWY_F16_NATIVE 0
#endif

// The 16-bit gathers below read a 32-bit word holding the wanted element and
// its neighbour and pick a half, which assumes little-endian words.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool kPairGather = false;
#else
constexpr bool kPairGather = true;
#endif

// u32 lanes holding values < 2^16 as u16 lanes.
HWY_INLINE VU16 PackU16(VU v) { return hn::DemoteTo(DU16(), hn::BitCast(DI(), v)); }

// binary16 bits (low half of each u32 lane) to float, exact: src/elem.h's
// rl_f16_to_f32 (an infinity or NaN keeps its sign and payload).
HWY_INLINE V F16BitsToF32(D d, VU h)
{
    const DU du;
#if RL_HWY_F16_NATIVE
    (void)du;
    return hn::PromoteTo(d, hn::BitCast(DF16(), PackU16(h)));
#else
    const VU sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
    const VU mag = hn::And(h, hn::Set(du, 0x7fffu));
    const VU e = hn::And(h, hn::Set(du, 0x7c00u));
    const VU m13 = hn::ShiftLeft<13>(mag);  // exponent and mantissa at float's place
    const VU normal = hn::Add(m13, hn::Set(du, (127u - 15u) << 23));
    const VU special = hn::Or(m13, hn::Set(du, 0x7f800000u));
    // zero or subnormal: m * 2^-24, exact in float
    const VU sub = hn::BitCast(du, hn::Mul(hn::ConvertTo(d, hn::BitCast(DI(), mag)),
                                           hn::Set(d, 0x1p-24f)));
    const VU r = hn::IfThenElse(hn::Eq(e, hn::Zero(du)), sub,
                                hn::IfThenElse(hn::Eq(e, hn::Set(du, 0x7c00u)), special, normal));
    return hn::BitCast(d, hn::Or(r, sign));
#endif
}

// float to binary16 bits in u32 lanes, nearest even: rl_f32_to_f16.
HWY_INLINE VU F32ToF16Bits(D d, V v)
{
    const DU du;
    const DI di;
    const VU u = hn::BitCast(du, v);
    const VU sign = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 0x8000u));
    const VU a = hn::And(u, hn::Set(du, 0x7fffffffu));
    const hn::Vec<DI> ai = hn::BitCast(di, a);  // |v|'s bits, compared as int32
    // NaN: quiet, with the top 10 payload bits
    const VU nan = hn::Or(hn::Set(du, 0x7e00u), hn::And(hn::ShiftRight<13>(a), hn::Set(du, 0x3ffu)));
    // normal range: rebias, then drop 13 bits adding 0xfff plus the lowest
    // kept bit (a carry into the exponent is the correct rounding)
    const VU lsb = hn::And(hn::ShiftRight<13>(a), hn::Set(du, 1u));
    const VU normal = hn::ShiftRight<13>(
        hn::Add(hn::Sub(a, hn::Set(du, (127u - 15u) << 23)), hn::Add(hn::Set(du, 0xfffu), lsb)));
    // below 2^-14: adding 0.5f rounds |v| to a multiple of 2^-24 (the ulp
    // of 0.5f) to nearest even; the difference of the bits is the binary16
    // bit pattern, 0x400 when it rounds up to the smallest normal
    const VU sub = hn::Sub(hn::BitCast(du, hn::Add(hn::BitCast(d, a), hn::Set(d, 0.5f))),
                           hn::Set(du, 0x3f000000u));
    VU r = hn::IfThenElse(hn::RebindMask(du, hn::Lt(ai, hn::Set(di, 0x38800000))), sub, normal);
    // from 65520 (halfway between the largest binary16, 65504, and 2^16,
    // rounding to even upwards) to infinity: infinity
    r = hn::IfThenElse(hn::RebindMask(du, hn::Gt(ai, hn::Set(di, 0x477fefff))),
                       hn::Set(du, 0x7c00u), r);
    r = hn::IfThenElse(hn::RebindMask(du, hn::Gt(ai, hn::Set(di, 0x7f800000))), nan, r);
    return hn::Or(r, sign);
}

// float to bfloat16 bits in u32 lanes, nearest even: rl_f32_to_bf16.
HWY_INLINE VU F32ToBF16Bits(V v)
{
    const DU du;
    const DI di;
    const VU u = hn::BitCast(du, v);
    const VU lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
    const VU r = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), lsb)));
    const VU nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x0040u));
    const hn::Vec<DI> ai = hn::BitCast(di, hn::And(u, hn::Set(du, 0x7fffffffu)));
    return hn::IfThenElse(hn::RebindMask(du, hn::Gt(ai, hn::Set(di, 0x7f800000))), nan, r);
}

// Widening: 16-bit elements in u16 lanes, or in the low or high half of
// u32 words (what a gather of 32-bit words returns), to float.
template <class E>
HWY_INLINE V WidenU16(D d, VU16 h)
{
    if (E::kType == RL_DTYPE_BF16)
        return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(DU(), h)));
#if RL_HWY_F16_NATIVE
    return hn::PromoteTo(d, hn::BitCast(DF16(), h));
#else
    return F16BitsToF32(d, hn::PromoteTo(DU(), h));
#endif
}

template <class E>
HWY_INLINE V WidenLo(D d, VU w)
{
    const DU du;
    if (E::kType == RL_DTYPE_BF16)
        return hn::BitCast(d, hn::ShiftLeft<16>(w));
    return F16BitsToF32(d, hn::And(w, hn::Set(du, 0xffffu)));
}

template <class E>
HWY_INLINE V WidenHi(D d, VU w)
{
    const DU du;
    if (E::kType == RL_DTYPE_BF16)
        return hn::BitCast(d, hn::And(w, hn::Set(du, 0xffff0000u)));
    return F16BitsToF32(d, hn::ShiftRight<16>(w));
}

// Narrowing to E's bits, rounding to nearest even.
template <class E>
HWY_INLINE VU16 Narrow(D d, V v)
{
    if (E::kType == RL_DTYPE_BF16)
        return PackU16(F32ToBF16Bits(v));
#if RL_HWY_F16_NATIVE
    (void)d;
    return hn::BitCast(DU16(), hn::DemoteTo(DF16(), v));
#else
    return PackU16(F32ToF16Bits(d, v));
#endif
}

// Strided 16-bit elements are gathered as 32-bit words at byte offsets
// l * 2 * stride, when the element's neighbour on one side belongs to the
// same slot (NHWC: the five channels of a cell are adjacent): `pair` > 0
// reads the word starting at the element (its low half), `pair` < 0 the
// word ending at it (its high half), 0 never gathers.  No byte outside the
// slot's channels 0..4 is read.
HWY_INLINE int PairOf(int k, int64_t ch_stride)
{
    if (!kPairGather || ch_stride != 1)
        return 0;
    return k == 0 || k == 2 ? 1 : -1;
}

// Whether `lanes` elements `stride` apart can be gathered with int32
// indices (float: element indices; 16-bit: byte offsets), and those.
template <class E>
HWY_INLINE bool GatherFits(int64_t stride, size_t N)
{
    return stride <= (int64_t)(std::numeric_limits<int32_t>::max() / (int64_t)N /
                               (int64_t)(sizeof(typename E::T) == 2 ? 2 : 1));
}
template <class E>
HWY_INLINE VI GatherIdx(int64_t stride, bool fits)
{
    const DI di;
    const int32_t step = fits ? (int32_t)(sizeof(typename E::T) == 2 ? 2 * stride : stride) : 0;
    return hn::Mul(hn::Iota(di, 0), hn::Set(di, step));
}

HWY_INLINE VU GatherWords(const uint16_t* p, VI off)
{
    return hn::BitCast(DU(), hn::GatherOffset(DI(), reinterpret_cast<const int32_t*>(p), off));
}

// LoadRun for any element type: lanes [0, n) of p[l * stride] as floats,
// lanes n.. read as 0.  A full vector loads directly (contiguous) or
// gathers; anything else is copied through a buffer.
template <class E>
HWY_INLINE V LoadRunE(D d, const typename E::T* p, int64_t stride, size_t n, size_t N,
                      bool gather, VI idx, int pair)
{
    if constexpr (E::kType == RL_DTYPE_F32) {
        (void)pair;
        return LoadRun(d, p, stride, n, N, gather, idx, 0.0f);
    } else {
        if (n == N) {
            if (stride == 1)
                return WidenU16<E>(d, hn::LoadU(DU16(), p));
            if (gather && pair > 0)
                return WidenLo<E>(d, GatherWords(p, idx));
            if (gather && pair < 0)
                return WidenHi<E>(d, GatherWords(p - 1, idx));
        }
        HWY_ALIGN uint16_t buf[kMaxLanes];
        for (size_t l = 0; l < N; l++)
            buf[l] = l < n ? p[(int64_t)l * stride] : 0;
        return WidenU16<E>(d, hn::Load(DU16(), buf));
    }
}

// Channels 0..4 of the run's cells [q, q + n), t pointing at cell q.
template <class E>
HWY_INLINE void Load5(D d, const typename E::T* t, int64_t ss, int64_t cs, size_t n, size_t N,
                      bool gather, VI idx, V& tx, V& ty, V& tw, V& th, V& tc)
{
    if constexpr (E::kType != RL_DTYPE_F32) {
        // NHWC: three words per cell, (tx, ty), (tw, th) and (th, tc)
        if (n == N && ss != 1 && gather && PairOf(0, cs) != 0) {
            const VU w01 = GatherWords(t, idx), w23 = GatherWords(t + 2, idx);
            const VU w34 = GatherWords(t + 3, idx);
            tx = WidenLo<E>(d, w01);
            ty = WidenHi<E>(d, w01);
            tw = WidenLo<E>(d, w23);
            th = WidenHi<E>(d, w23);
            tc = WidenHi<E>(d, w34);
            return;
        }
    }
    tx = LoadRunE<E>(d, t, ss, n, N, gather, idx, PairOf(0, cs));
    ty = LoadRunE<E>(d, t + cs, ss, n, N, gather, idx, PairOf(1, cs));
    tw = LoadRunE<E>(d, t + 2 * cs, ss, n, N, gather, idx, PairOf(2, cs));
    th = LoadRunE<E>(d, t + 3 * cs, ss, n, N, gather, idx, PairOf(3, cs));
    tc = LoadRunE<E>(d, t + 4 * cs, ss, n, N, gather, idx, PairOf(4, cs));
}

// The u16 lanes of a float mask.
HWY_INLINE hn::Mask<DU16> MaskU16(D d, M m)
{
    const DI di;
    const hn::Vec<DI16> w = hn::DemoteTo(DI16(), hn::BitCast(di, hn::VecFromMask(d, m)));
    return hn::MaskFromVec(hn::BitCast(DU16(), w));
}

// StoreRun for any element type: lanes l < n selected by `sel`, narrowed to
// E (after adding the stored value when `accumulate`: in float, then one
// rounding), to p[l * stride].  A full contiguous vector is one store, its
// unselected lanes rewritten with their own bits; anything else goes lane
// by lane (Highway 1.0.3 has no 16-bit scatter).
template <class E>
HWY_INLINE void StoreRunE(D d, V v, M sel, typename E::T* p, int64_t stride, size_t n, size_t N,
                          int accumulate, bool gather, VI idx, int pair)
{
    if constexpr (E::kType == RL_DTYPE_F32) {
        (void)pair;
        StoreRun(d, v, sel, p, stride, n, N, accumulate, gather, idx);
    } else {
        const DU16 d16;
        if (n == N && stride == 1) {
            const bool all = hn::AllTrue(d, sel);
            VU16 old = hn::Zero(d16);
            if (accumulate || !all)
                old = hn::LoadU(d16, p);
            if (accumulate)
                v = hn::Add(WidenU16<E>(d, old), v);
            VU16 bits = Narrow<E>(d, v);
            if (!all)
                bits = hn::IfThenElse(MaskU16(d, sel), bits, old);
            hn::StoreU(bits, d16, p);
            return;
        }
        if (accumulate)
            v = hn::Add(LoadRunE<E>(d, p, stride, n, N, gather, idx, pair), v);
        const DI di;
        HWY_ALIGN uint16_t vb[kMaxLanes] RL_LANES_INIT;
        HWY_ALIGN int32_t mb[kMaxLanes] RL_LANES_INIT;
            hn::Store(Narrow<E>(d, v), d16, vb);
        hn::Store(hn::BitCast(di, hn::VecFromMask(d, sel)), di, mb);
        for (size_t l = 0; l < n; l++)
            if (mb[l])
                p[(int64_t)l * stride] = vb[l];
    }
}

// The kind bytes of cells [q, q + n) widened to one u32 lane each.
HWY_INLINE hn::Vec<DU> LoadKinds(const uint8_t* k, size_t n, size_t N)
{
    const DU8 d8;
    if (n == N)
        return hn::PromoteTo(DU(), hn::LoadU(d8, k));
    HWY_ALIGN uint8_t buf[kMaxLanes] = {0};
    memcpy(buf, k, n);
    return hn::PromoteTo(DU(), hn::Load(d8, buf));
}

// All-ones lanes where v is NaN or infinite (exponent bits all set).
HWY_INLINE hn::Vec<DU> NonFinite(DU du, V v)
{
    const hn::Vec<DU> e = hn::Set(du, 0x7f800000u);
    return hn::VecFromMask(du, hn::Eq(hn::And(hn::BitCast(du, v), e), e));
}

// The per-vector parts MaskKernel and StreamKernel share.
HWY_INLINE hn::Vec<DU> NonFinite5(DU du, V tx, V ty, V tw, V th, V tc)
{
    return hn::Or(hn::Or(hn::Or(NonFinite(du, tx), NonFinite(du, ty)),
                         hn::Or(NonFinite(du, tw), NonFinite(du, th))),
                  NonFinite(du, tc));
}

// c^ = s(tc) added to c_all, and the noobj gradient's factor stored for the
// grad kernel: c^ * c^(1 - c^), or c^ with `bce`; e^-|tc| left in e for
// the BCE term.
HWY_INLINE V Objectness(D d, V tc, M valid, float* cslope, size_t n, size_t N, bool gather,
                        VI idx, int bce, V& e, VD& c_all0, VD& c_all1)
{
    V csp, csn;
    const V c = SigmoidPartsE(d, tc, csp, csn, e);
    AddD(c_all0, c_all1, hn::IfThenElseZero(valid, c));
    if (cslope)
        StoreRun(d, bce ? c : hn::Mul(c, hn::Mul(csp, csn)), valid, cslope, 1, n, N, 0, gather,
                 idx);
    return c;
}

// The noobj sums; with `bce`, softplus(tc) too.
HWY_INLINE void AddNoobj(D d, V c, V tc, V e, M noobj, int bce, VD& c0, VD& c1, VD& c20,
                         VD& c21, VD& b0, VD& b1)
{
    const V cn = hn::IfThenElseZero(noobj, c);
    AddD(c0, c1, cn);
    AddD(c20, c21, hn::Mul(cn, cn));
    if (bce && !hn::AllFalse(d, noobj))
        AddD(b0, b1, hn::IfThenElseZero(noobj, Softplus(d, tc, e)));
}

// darknet's warm-up term over the `live` lanes
HWY_INLINE void AddWarm(D d, V sx, V sy, V tw, V th, M live, VD& w0, VD& w1)
{
    const V half = hn::Set(d, 0.5f);
    const V dx = hn::Sub(sx, half), dy = hn::Sub(sy, half);
    AddD(w0, w1, hn::IfThenElseZero(live, hn::MulAdd(dy, dy, hn::Mul(dx, dx))));
    AddSqD(w0, w1, hn::IfThenElseZero(live, tw));
    AddSqD(w0, w1, hn::IfThenElseZero(live, th));
}

template <class E>
static void MaskImpl(const rl_mask_args* a, rl_mask_sums* s)
{
    const D d;
    const DI di;
    const DU du;
    const size_t N = hn::Lanes(d);
    const rl_run* r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    const bool gather = GatherFits<E>(ss, N);
    const VI idx = GatherIdx<E>(ss, gather);
    const rl_truth_soa* T = a->truths;
    const V zero = hn::Zero(d), half = hn::Set(d, 0.5f);
    const V aw = hn::Set(d, r->aw), ah = hn::Set(d, r->ah);
    const V thresh = hn::Set(d, a->thresh);
    const V inf = hn::Set(d, std::numeric_limits<float>::infinity());
    const V bmin = hn::Set(d, RL_BOX_MIN), bmax = hn::Set(d, RL_BOX_MAX);
    const V dw = hn::Set(d, a->doubt_w), dh = hn::Set(d, a->doubt_h), dc = hn::Set(d, a->doubt_c);
    VD c_all0 = hn::Zero(DD()), c_all1 = c_all0, c0 = c_all0, c1 = c_all0;
    VD c20 = c_all0, c21 = c_all0, w0 = c_all0, w1 = c_all0, b0 = c_all0, b1 = c_all0;
    hn::Vec<DU> bad = hn::Zero(du);
    int64_t n_noobj = 0;
    // (i, j) of the first lane, advanced lane by lane: one division per run.
    int32_t ci = r->q0 / r->W, cj = r->q0 % r->W;
    HWY_ALIGN int32_t ib[kMaxLanes], jb[kMaxLanes];

    for (int32_t q = 0; q < r->count; q += (int32_t)N) {
        const size_t n = r->count - q < (int32_t)N ? (size_t)(r->count - q) : N;
        for (size_t l = 0; l < N; l++) {
            ib[l] = ci;
            jb[l] = cj;
            if (++cj == r->W) {
                cj = 0;
                ci++;
            }
        }
        const typename E::T* t = static_cast<const typename E::T*>(r->t) + (int64_t)q * ss;
        V tx, ty, tw, th, tc;
        Load5<E>(d, t, ss, cs, n, N, gather, idx, tx, ty, tw, th, tc);
        bad = hn::Or(bad, NonFinite5(du, tx, ty, tw, th, tc));

        const M valid = hn::FirstN(d, n);
        V e;
        const V c = Objectness(d, tc, valid, a->cslope ? a->cslope + q : nullptr, n, N, gather,
                               idx, a->bce, e, c_all0, c_all1);

        const M is_obj =
            hn::RebindMask(d, hn::Eq(LoadKinds(a->kind + q, n, N), hn::Set(du, RL_KIND_OBJ)));
        const M live = hn::AndNot(is_obj, valid); // the cells this kernel decides

        const V sx = Sigmoid(d, tx), sy = Sigmoid(d, ty);
        const V px = hn::Add(hn::ConvertTo(d, hn::Load(di, jb)), sx);
        const V py = hn::Add(hn::ConvertTo(d, hn::Load(di, ib)), sy);
        const V pw = hn::Mul(aw, ExpF(d, tw)), ph = hn::Mul(ah, ExpF(d, th));
        const V hw = hn::Mul(half, pw), hh = hn::Mul(half, ph);
        const V x0 = hn::Sub(px, hw), x1 = hn::Add(px, hw);
        const V y0 = hn::Sub(py, hh), y1 = hn::Add(py, hh);
        const V ap = hn::Mul(pw, ph);
        V best = zero;
        for (int32_t k = 0; k < T->n; k++) {
            const V ox = hn::Sub(hn::Min(x1, hn::Set(d, T->x1[k])), hn::Max(x0, hn::Set(d, T->x0[k])));
            const V oy = hn::Sub(hn::Min(y1, hn::Set(d, T->y1[k])), hn::Max(y0, hn::Set(d, T->y0[k])));
            const V inter = hn::Mul(hn::Max(ox, zero), hn::Max(oy, zero));
            const V u = hn::Sub(hn::Add(ap, hn::Set(d, T->area[k])), inter);
            const V iou = hn::IfThenElseZero(hn::Gt(u, zero), hn::Div(inter, u));
            best = hn::Max(best, iou);
        }
        // a box of zero, infinite or undefined area has IoU 0
        best = hn::IfThenElseZero(hn::And(hn::Gt(ap, zero), hn::Lt(ap, inf)), best);
        const M below = a->noobj_inclusive ? hn::Le(best, thresh) : hn::Lt(best, thresh);
        M noobj = hn::And(below, live);

        // boxes float cannot size to tolerance: decided in double
        const M sane = hn::And(hn::And(hn::Ge(pw, bmin), hn::Le(pw, bmax)),
                               hn::And(hn::Ge(ph, bmin), hn::Le(ph, bmax)));
        // and those whose float best IoU is too near thresh to decide it
        const V margin = hn::Add(hn::Div(hn::MulAdd(dw, ph, hn::Mul(dh, pw)), ap), dc);
        const M doubt = hn::And(hn::Le(hn::Abs(hn::Sub(best, thresh)), margin), live);
        const M extreme = hn::Or(hn::AndNot(sane, live), doubt);
        if (!hn::AllFalse(d, extreme)) {
            HWY_ALIGN float vb[kMaxLanes], vx[kMaxLanes], vy[kMaxLanes], vw[kMaxLanes],
                vh[kMaxLanes];
            HWY_ALIGN int32_t ve[kMaxLanes], vn[kMaxLanes];
            hn::Store(best, d, vb);
            hn::Store(tx, d, vx);
            hn::Store(ty, d, vy);
            hn::Store(tw, d, vw);
            hn::Store(th, d, vh);
            hn::Store(hn::BitCast(di, hn::VecFromMask(d, extreme)), di, ve);
            hn::Store(hn::BitCast(di, hn::VecFromMask(d, noobj)), di, vn);
            for (size_t l = 0; l < n; l++) {
                if (!ve[l])
                    continue;
                const double bd = rl_best_iou_exact(vx[l], vy[l], vw[l], vh[l], ib[l], jb[l],
                                                    r->aw_d, r->ah_d, T);
                const int no = a->noobj_inclusive ? bd <= a->thresh_d : bd < a->thresh_d;
                vn[l] = no ? -1 : 0;
                vb[l] = (float)bd;
            }
            best = hn::Load(d, vb);
            noobj = hn::RebindMask(d, hn::MaskFromVec(hn::Load(di, vn)));
        }

        {
            HWY_ALIGN int32_t vl[kMaxLanes], vn[kMaxLanes];
            hn::Store(hn::BitCast(di, hn::VecFromMask(d, live)), di, vl);
            hn::Store(hn::BitCast(di, hn::VecFromMask(d, noobj)), di, vn);
            for (size_t l = 0; l < n; l++)
                if (vl[l])
                    a->kind[q + l] = vn[l] ? RL_KIND_NOOBJ : RL_KIND_IGNORED;
        }
        if (a->best) {
            HWY_ALIGN float vb[kMaxLanes];
            hn::Store(hn::IfThenElse(is_obj, hn::Set(d, -1.0f), best), d, vb);
            memcpy(a->best + q, vb, n * sizeof(float));
        }
        n_noobj += (int64_t)hn::CountTrue(d, noobj);
        AddNoobj(d, c, tc, e, noobj, a->bce, c0, c1, c20, c21, b0, b1);
        if (a->warmup)
            AddWarm(d, sx, sy, tw, th, live, w0, w1);
    }
    s->n_noobj += n_noobj;
    s->c_all += SumD(c_all0, c_all1);
    s->c_noobj += SumD(c0, c1);
    s->c2_noobj += SumD(c20, c21);
    s->warm += SumD(w0, w1);
    if (a->bce)
        s->bce_noobj += SumD(b0, b1);
    if (!hn::AllFalse(du, hn::Ne(bad, hn::Zero(du))))
        s->nonfinite = 1;
}

template <class E>
static void StreamImpl(const rl_stream_args* a, rl_mask_sums* s)
{
    const D d;
    const DU du;
    const size_t N = hn::Lanes(d);
    const rl_run* r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    const bool gather = GatherFits<E>(ss, N);
    const VI idx = GatherIdx<E>(ss, gather);
    VD c_all0 = hn::Zero(DD()), c_all1 = c_all0, c0 = c_all0, c1 = c_all0;
    VD c20 = c_all0, c21 = c_all0, w0 = c_all0, w1 = c_all0, b0 = c_all0, b1 = c_all0;
    hn::Vec<DU> bad = hn::Zero(du);
    int64_t n_noobj = 0;
    for (int32_t q = 0; q < r->count; q += (int32_t)N) {
        const size_t n = r->count - q < (int32_t)N ? (size_t)(r->count - q) : N;
        const typename E::T* t = static_cast<const typename E::T*>(r->t) + (int64_t)q * ss;
        V tx, ty, tw, th, tc;
        Load5<E>(d, t, ss, cs, n, N, gather, idx, tx, ty, tw, th, tc);
        bad = hn::Or(bad, NonFinite5(du, tx, ty, tw, th, tc));
        const M valid = hn::FirstN(d, n);
        V e;
        const V c = Objectness(d, tc, valid, a->cslope ? a->cslope + q : nullptr, n, N, gather,
                               idx, a->bce, e, c_all0, c_all1);
        const hn::Vec<DU> kd = LoadKinds(a->kind + q, n, N);
        const M noobj = hn::And(valid, hn::RebindMask(d, hn::Eq(kd, hn::Set(du, RL_KIND_NOOBJ))));
        n_noobj += (int64_t)hn::CountTrue(d, noobj);
        AddNoobj(d, c, tc, e, noobj, a->bce, c0, c1, c20, c21, b0, b1);
        if (a->warmup) {
            const M live =
                hn::AndNot(hn::RebindMask(d, hn::Eq(kd, hn::Set(du, RL_KIND_OBJ))), valid);
            AddWarm(d, Sigmoid(d, tx), Sigmoid(d, ty), tw, th, live, w0, w1);
        }
    }
    s->n_noobj += n_noobj;
    s->c_all += SumD(c_all0, c_all1);
    s->c_noobj += SumD(c0, c1);
    s->c2_noobj += SumD(c20, c21);
    s->warm += SumD(w0, w1);
    if (a->bce)
        s->bce_noobj += SumD(b0, b1);
    if (!hn::AllFalse(du, hn::Ne(bad, hn::Zero(du))))
        s->nonfinite = 1;
}

template <class TE, class GE>
static void GradImpl(const rl_grad_args* a)
{
    const D d;
    const DU du;
    const size_t N = hn::Lanes(d);
    const rl_run* r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    // gathers of t (TE) and of the gradient (GE): their own index limits
    const bool gather = GatherFits<TE>(ss, N), ggather = GatherFits<GE>(ss, N);
    const VI idx = GatherIdx<TE>(ss, gather), gidx = GatherIdx<GE>(ss, ggather);
    const V kn = hn::Set(d, a->k_noobj), kw = hn::Set(d, a->k_warm), half = hn::Set(d, 0.5f);
    const V zero = hn::Zero(d);
    const int acc = a->accumulate;
    for (int32_t q = 0; q < r->count; q += (int32_t)N) {
        const size_t n = r->count - q < (int32_t)N ? (size_t)(r->count - q) : N;
        const M valid = hn::FirstN(d, n);
        const hn::Vec<DU> kd = LoadKinds(a->kind + q, n, N);
        const M noobj = hn::And(valid, hn::RebindMask(d, hn::Eq(kd, hn::Set(du, RL_KIND_NOOBJ))));
        const M notobj = hn::AndNot(hn::RebindMask(d, hn::Eq(kd, hn::Set(du, RL_KIND_OBJ))), valid);
        const typename TE::T* t = static_cast<const typename TE::T*>(r->t) + (int64_t)q * ss;
        typename GE::T* g = static_cast<typename GE::T*>(r->grad) + (int64_t)q * ss;
        // Channel k of the gradient at g + k * cs, lanes `sel`.
        auto store = [&](int k, V v, M sel, int accumulate) {
            StoreRunE<GE>(d, v, sel, g + k * cs, ss, n, N, accumulate, ggather, gidx,
                          PairOf(k, cs));
        };
        auto load = [&](int k) {
            return LoadRunE<TE>(d, t + k * cs, ss, n, N, gather, idx, PairOf(k, cs));
        };
        // Overwrite stores every valid lane of channels 0..4, 0 where the
        // slot has no such term; accumulate adds only where it has one.
        if (!hn::AllFalse(d, noobj)) {
            V v;
            if (a->cslope) {
                v = hn::Mul(kn, LoadRun(d, a->cslope + q, 1, n, N, false, idx, 0.0f));
            } else {
                V sp, sn;
                const V c = SigmoidParts(d, load(4), sp, sn);
                v = hn::Mul(hn::Mul(kn, c), hn::Mul(sp, sn));
            }
            if (acc)
                store(4, v, noobj, 1);
            else
                store(4, hn::IfThenElseZero(noobj, v), valid, 0);
        } else if (!acc) {
            store(4, zero, valid, 0);
        }
        const M wsel = acc ? notobj : valid;
        if (a->k_warm != 0.0f && !hn::AllFalse(d, notobj)) {
            V spx, snx, spy, sny;
            const V sx = SigmoidParts(d, load(0), spx, snx);
            const V sy = SigmoidParts(d, load(1), spy, sny);
            store(0, hn::IfThenElseZero(notobj, hn::Mul(hn::Mul(kw, hn::Sub(sx, half)), hn::Mul(spx, snx))),
                  wsel, acc);
            store(1, hn::IfThenElseZero(notobj, hn::Mul(hn::Mul(kw, hn::Sub(sy, half)), hn::Mul(spy, sny))),
                  wsel, acc);
            store(2, hn::IfThenElseZero(notobj, hn::Mul(kw, load(2))), wsel, acc);
            store(3, hn::IfThenElseZero(notobj, hn::Mul(kw, load(3))), wsel, acc);
        } else if (!acc) {
            for (int k = 0; k < 4; k++)
                store(k, zero, valid, 0);
        }
    }
}

// The C table's entries: one switch per call on the element types, then
// the kernel compiled for them.
static void MaskKernel(const rl_mask_args* a, rl_mask_sums* s)
{
    switch (a->run.t_type) {
    case RL_DTYPE_BF16:
        return MaskImpl<BF16>(a, s);
    case RL_DTYPE_F16:
        return MaskImpl<F16>(a, s);
    default:
        return MaskImpl<F32>(a, s);
    }
}

static void StreamKernel(const rl_stream_args* a, rl_mask_sums* s)
{
    switch (a->run.t_type) {
    case RL_DTYPE_BF16:
        return StreamImpl<BF16>(a, s);
    case RL_DTYPE_F16:
        return StreamImpl<F16>(a, s);
    default:
        return StreamImpl<F32>(a, s);
    }
}

// The gradient is float or of t's type (rl_config's grad_dtype).
static void GradKernel(const rl_grad_args* a)
{
    const bool gf = a->run.g_type == RL_DTYPE_F32;
    switch (a->run.t_type) {
    case RL_DTYPE_BF16:
        return gf ? GradImpl<BF16, F32>(a) : GradImpl<BF16, BF16>(a);
    case RL_DTYPE_F16:
        return gf ? GradImpl<F16, F32>(a) : GradImpl<F16, F16>(a);
    default:
        return GradImpl<F32, F32>(a);
    }
}

// The part both softmax paths share once max and sum are known.
HWY_INLINE void SoftmaxStats(const float* x, int64_t stride, int32_t cls, float m, double sum,
                             rl_softmax_out* out)
{
    const double log_sum = log(sum);
    // (m - t_cls) + log(sum), in double: no cancellation when the true class
    // dominates, and log(sum) is never absorbed into a huge m.
    out->neg_log_p = ((double)m - (double)x[(int64_t)cls * stride]) + log_sum;
    out->max = m;
    out->log_sum = log_sum;
    out->p_cls = exp(-out->neg_log_p);
}

// Class entries [c, c + n) of the gradient from their probabilities p, the
// same in both softmax paths: k (p - [c == cls]).
HWY_INLINE void StoreClassGrad(D d, V p, int32_t c, size_t n, int32_t cls, double k, float* grad,
                               int64_t stride, int accumulate, bool gather, VI idx)
{
    const DI di;
    const M is_cls = hn::RebindMask(d, hn::Eq(hn::Iota(di, c), hn::Set(di, cls)));
    const V v = hn::Mul(hn::Set(d, (float)k), hn::Sub(p, hn::IfThenElseZero(is_cls, hn::Set(d, 1.0f))));
    StoreRun(d, v, hn::FirstN(d, n), grad + (int64_t)c * stride, stride, n, hn::Lanes(d),
             accumulate, gather, idx);
}

// Up to this many classes the logits are read once into a stack buffer that
// then holds their exponentials: in NCHW a slot's logits are H*W floats
// apart, and three strided passes cost three times the cache lines.
constexpr int32_t kSoftmaxLocal = 2048;

static void SoftmaxLocal(const float* x, int64_t stride, int32_t C, int32_t cls, double k,
                         float* grad, int accumulate, rl_softmax_out* out)
{
    const D d;
    const DI di;
    const size_t N = hn::Lanes(d);
    const bool gather = stride <= (int64_t)(std::numeric_limits<int32_t>::max() / (int64_t)N);
    const VI idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, gather ? (int32_t)stride : 0));
    const float ninf = -std::numeric_limits<float>::infinity();
    HWY_ALIGN float buf[kSoftmaxLocal + kMaxLanes];
    V mv = hn::Set(d, ninf);
    for (int32_t c = 0; c < C; c += (int32_t)N) {
        const size_t n = C - c < (int32_t)N ? (size_t)(C - c) : N;
        const V v = LoadRun(d, x + (int64_t)c * stride, stride, n, N, gather, idx, ninf);
        hn::Store(v, d, buf + c);
        mv = hn::Max(mv, v);
    }
    const float m = hn::GetLane(hn::MaxOfLanes(d, mv));
    const V mb = hn::Set(d, m);
    VD s0 = hn::Zero(DD()), s1 = s0;
    for (int32_t c = 0; c < C; c += (int32_t)N) {
        const size_t n = C - c < (int32_t)N ? (size_t)(C - c) : N;
        // the tail's -inf fill: its exp is 0, made explicit
        const V e = hn::IfThenElseZero(hn::FirstN(d, n), ExpF(d, hn::Sub(hn::Load(d, buf + c), mb)));
        hn::Store(e, d, buf + c);
        AddD(s0, s1, e);
    }
    const double sum = SumD(s0, s1);
    SoftmaxStats(x, stride, cls, m, sum, out);

    const V inv = hn::Set(d, (float)(1.0 / sum));
    VD p0 = hn::Zero(DD()), p1 = p0;
    for (int32_t c = 0; c < C; c += (int32_t)N) {
        const size_t n = C - c < (int32_t)N ? (size_t)(C - c) : N;
        const V p = hn::Mul(hn::Load(d, buf + c), inv);
        AddD(p0, p1, hn::Mul(p, p));
        if (grad)
            StoreClassGrad(d, p, c, n, cls, k, grad, stride, accumulate, gather, idx);
    }
    out->sum_p2 = SumD(p0, p1);
}

static void SoftmaxKernel(const float* x, int64_t stride, int32_t C, int32_t cls, double k,
                          float* grad, int accumulate, rl_softmax_out* out)
{
    if (C <= kSoftmaxLocal) {
        SoftmaxLocal(x, stride, C, cls, k, grad, accumulate, out);
        return;
    }
    // Three passes over the logits, for C beyond the stack buffer.
    const D d;
    const DI di;
    const size_t N = hn::Lanes(d);
    const bool gather = stride <= (int64_t)(std::numeric_limits<int32_t>::max() / (int64_t)N);
    const VI idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, gather ? (int32_t)stride : 0));
    const float ninf = -std::numeric_limits<float>::infinity();
    // The tail reads as -inf: it never wins the max and its exp is 0.
    V mv = hn::Set(d, ninf);
    for (int32_t c = 0; c < C; c += (int32_t)N) {
        const size_t n = C - c < (int32_t)N ? (size_t)(C - c) : N;
        mv = hn::Max(mv, LoadRun(d, x + (int64_t)c * stride, stride, n, N, gather, idx, ninf));
    }
    const float m = hn::GetLane(hn::MaxOfLanes(d, mv));
    const V mb = hn::Set(d, m);

    VD s0 = hn::Zero(DD()), s1 = s0;
    for (int32_t c = 0; c < C; c += (int32_t)N) {
        const size_t n = C - c < (int32_t)N ? (size_t)(C - c) : N;
        const V e = ExpF(d, hn::Sub(LoadRun(d, x + (int64_t)c * stride, stride, n, N, gather, idx,
                                            ninf),
                                    mb));
        AddD(s0, s1, hn::IfThenElseZero(hn::FirstN(d, n), e));
    }
    const double sum = SumD(s0, s1);
    SoftmaxStats(x, stride, cls, m, sum, out);

    const V inv = hn::Set(d, (float)(1.0 / sum));
    VD p0 = hn::Zero(DD()), p1 = p0;
    for (int32_t c = 0; c < C; c += (int32_t)N) {
        const size_t n = C - c < (int32_t)N ? (size_t)(C - c) : N;
        const V e = ExpF(d, hn::Sub(LoadRun(d, x + (int64_t)c * stride, stride, n, N, gather, idx,
                                            ninf),
                                    mb));
        const V p = hn::IfThenElseZero(hn::FirstN(d, n), hn::Mul(e, inv));
        AddD(p0, p1, hn::Mul(p, p));
        if (grad)
            StoreClassGrad(d, p, c, n, cls, k, grad, stride, accumulate, gather, idx);
    }
    out->sum_p2 = SumD(p0, p1);
}

// rl_hwy_target_convert's body: the conversions the kernels use, over an
// array (partial vectors through buffers).
template <class E>
static int ConvertT(int op, const void* in, void* out, size_t n)
{
    const D d;
    const DU du;
    const DU16 d16;
    const size_t N = hn::Lanes(d);
    HWY_ALIGN float fb[kMaxLanes];
    HWY_ALIGN uint16_t hb[kMaxLanes];
    for (size_t i = 0; i < n; i += N) {
        const size_t m = n - i < N ? n - i : N;
        if (op == 0) {
            for (size_t l = 0; l < N; l++)
                fb[l] = l < m ? static_cast<const float*>(in)[i + l] : 0.0f;
            hn::Store(Narrow<E>(d, hn::Load(d, fb)), d16, hb);
            memcpy(static_cast<uint16_t*>(out) + i, hb, m * sizeof(uint16_t));
            continue;
        }
        for (size_t l = 0; l < N; l++)
            hb[l] = l < m ? static_cast<const uint16_t*>(in)[i + l] : 0;
        const VU16 h = hn::Load(d16, hb);
        V v;
        if (op == 1)
            v = WidenU16<E>(d, h);
        else if (op == 2) // a neighbour's bits in the other half
            v = WidenLo<E>(d, hn::Or(hn::PromoteTo(du, h), hn::Set(du, 0xa5a50000u)));
        else
            v = WidenHi<E>(d, hn::Or(hn::ShiftLeft<16>(hn::PromoteTo(du, h)), hn::Set(du, 0x5a5au)));
        hn::Store(v, d, fb);
        memcpy(static_cast<float*>(out) + i, fb, m * sizeof(float));
    }
    return 0;
}

int32_t ConvertArray(int op, int type, const void* in, void* out, size_t n)
{
    if (op < 0 || op > 3)
        return -1;
    if (type == RL_DTYPE_BF16)
        return ConvertT<BF16>(op, in, out, n);
    if (type == RL_DTYPE_F16)
        return ConvertT<F16>(op, in, out, n);
    return -1;
}

// This target's table for the C driver.
void FillKernels(rl_kernels* k)
{
    k->lanes = (int32_t)hn::Lanes(D());
    k->mask = MaskKernel;
    k->stream = StreamKernel;
    k->grad = GradKernel;
    k->softmax = SoftmaxKernel;
}

// Which target this copy was compiled for: checks the table index.
int64_t ThisTarget() { return HWY_TARGET; }

} // namespace HWY_NAMESPACE
} // namespace rl_hwy
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rl_hwy {

// HWY_EXPORT's tables hold one entry per compiled-in target; the index of a
// given target is the one hwy::ChosenTarget computes when that target is the
// only one enabled, which is how HWY_DYNAMIC_DISPATCH indexes them.
HWY_EXPORT(FillKernels);
HWY_EXPORT(ThisTarget);
HWY_EXPORT(ConvertArray);

struct Target {
    int64_t bit;
    size_t index;
};

// Compiled-in targets, best first (lower bits are better in Highway).
static int CompiledTargets(Target* out, int max)
{
    int n = 0;
    for (int64_t rest = HWY_TARGETS; rest != 0 && n < max; rest &= rest - 1) {
        const int64_t bit = rest & -rest;
        hwy::ChosenTarget only;
        only.Update(bit);
        const size_t index = only.GetIndex();
        // The table entry must be the copy compiled for `bit`; a mismatch
        // (a Highway whose table layout differs) drops the target.
        if (HWY_DISPATCH_TABLE(ThisTarget)[index] == nullptr ||
            HWY_DISPATCH_TABLE(ThisTarget)[index]() != bit)
            continue;
        out[n].bit = bit;
        out[n].index = index;
        n++;
    }
    return n;
}

struct Table {
    Target t[64];
    int n;
};

static Table table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void BuildTable() { table.n = CompiledTargets(table.t, 64); }

// Built once, on first use.  pthread_once rather than a function-local
// static: the objects then need nothing from the C++ runtime, so a C
// program linking the static library needs no -lstdc++.
static const Table& Targets()
{
    pthread_once(&table_once, BuildTable);
    return table;
}

static void Fill(size_t index, rl_kernels* k) { HWY_DISPATCH_TABLE(FillKernels)[index](k); }

static int Convert(size_t index, int op, int type, const void* in, void* out, size_t n)
{
    return HWY_DISPATCH_TABLE(ConvertArray)[index](op, type, in, out, n);
}

static int64_t DispatchTarget() { return HWY_DYNAMIC_DISPATCH(ThisTarget)(); }

} // namespace rl_hwy

extern "C" {

int rl_hwy_target_count(void)
{
    return rl_hwy::Targets().n;
}

const char* rl_hwy_target_name(int idx)
{
    if (idx < 0 || idx >= rl_hwy_target_count())
        return nullptr;
    return hwy::TargetName(rl_hwy::Targets().t[idx].bit);
}

int rl_hwy_target_find(const char* name)
{
    for (int i = 0; name && i < rl_hwy_target_count(); i++)
        if (strcmp(hwy::TargetName(rl_hwy::Targets().t[i].bit), name) == 0)
            return i;
    return -1;
}

int rl_hwy_target_supported(int idx)
{
    if (idx < 0 || idx >= rl_hwy_target_count())
        return 0;
    return (hwy::SupportedTargets() & rl_hwy::Targets().t[idx].bit) != 0;
}

int rl_hwy_target_kernels(int idx, rl_kernels* k)
{
    if (!rl_hwy_target_supported(idx))
        return -1;
    rl_hwy::Fill(rl_hwy::Targets().t[idx].index, k);
    return 0;
}

int rl_hwy_target_convert(int idx, int op, int type, const void* in, void* out, size_t n)
{
    if (!rl_hwy_target_supported(idx))
        return -1;
    return rl_hwy::Convert(rl_hwy::Targets().t[idx].index, op, type, in, out, n);
}

const char* rl_hwy_dispatch_target(void)
{
    return hwy::TargetName(rl_hwy::DispatchTarget());
}

} // extern "C"
#endif // HWY_ONCE
