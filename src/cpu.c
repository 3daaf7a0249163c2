/* CPU feature detection.  This unit is built without -mavx*: it must run on
 * any x86-64 to decide whether the AVX2 unit may be entered at all.  AVX is
 * usable only when CPUID says so *and* the OS saves YMM state (XGETBV). */
#include <stdatomic.h>

#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, flags = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const int f16c = (c >> 29) & 1; /* the avx2 unit converts binary16 with F16C */
    if (!(fma && osxsave && avx && f16c))
        return 0;
    if ((xgetbv0() & 0x6) != 0x6) /* XCR0 bits 1 (SSE) and 2 (AVX): YMM saved */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!((b >> 5) & 1)) /* AVX2 */
        return 0;
    flags |= RL_CPU_AVX2;
    /* AVX512_BF16 (leaf 7 subleaf 1, EAX bit 5) with AVX512F (EBX bit 16)
     * and AVX512VL (EBX bit 31), and the OS saving the opmask and ZMM state
     * (XCR0 bits 5, 6, 7) besides SSE and AVX: the avx2-bf16 unit may use
     * EVEX encodings anywhere. */
    const unsigned max_subleaf = a;
    const int avx512f = (b >> 16) & 1, avx512vl = (b >> 31) & 1;
    if (avx512f && avx512vl && max_subleaf >= 1 && (xgetbv0() & 0xe6) == 0xe6) {
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 5) & 1)
            flags |= RL_CPU_AVX512BF16;
    }
    return flags;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1ul << 14) /* Linux arch/arm64 uapi hwcap.h */
#endif

/* The kernel reports FEAT_BF16 in AT_HWCAP2 (Linux 5.10 and later, and only
 * where it also lets user space run the instructions). */
static unsigned detect(void)
{
    unsigned flags = RL_CPU_NEON;
    if (getauxval(AT_HWCAP2) & HWCAP2_BF16)
        flags |= RL_CPU_NEON_BF16;
    return flags;
}
#elif defined(__aarch64__)
static unsigned detect(void) { return RL_CPU_NEON; }
#else
static unsigned detect(void) { return 0; }
#endif

static atomic_uint mask = ~0u;
static atomic_int detected = -1;

unsigned rl_cpu_flags(void)
{
    int d = atomic_load(&detected);
    if (d < 0) { /* racing first calls compute the same value */
        d = (int)detect();
        atomic_store(&detected, d);
    }
    return (unsigned)d & atomic_load(&mask);
}

void rl_cpu_set_mask(unsigned m) { atomic_store(&mask, m); }
