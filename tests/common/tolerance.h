/* The stated tolerance of every float variant against the double reference.
 * docs/numerics.md gives the reasoning; the differential tests and the
 * fuzzers enforce exactly these numbers.
 *
 * A value v (loss part, diagnostic or gradient entry) agrees with the
 * reference r when
 *     |v - r| <= RL_TOL_REL * |r| + RL_TOL_ABS * S + RL_TOL_FLOOR
 * where S is the absolute scale of that value: for a gradient entry the
 * weight multiplying its term (lambda / divisor, times the constant factor of
 * the formula); for a loss part the weight times its number of terms; 1 for
 * diagnostics (which lie in [0, 1]).  In accumulate mode one float rounding
 * of the sum, 2^-23 (|sum| + |prior|), is added. */
#ifndef RL_TOLERANCE_H
#define RL_TOLERANCE_H

/* Float kernels carry a few roundings per value (SLEEF _u10: <= 1 ulp per
 * exp/log; about 10 operations in the longest chain): 32 ulp of float. */
#define RL_TOL_REL 4.0e-6
/* Absolute error of an O(1) float quantity per unit weight, e.g. a
 * probability near 0 or a difference c^ - IoU near 0. */
#define RL_TOL_ABS 1.0e-6
/* A slot whose reference best IoU is this close to thresh (or a responsible
 * IoU this close to 0.5 / 0.75 for the recall counts) may be decided either
 * way (docs/loss.md).  Elsewhere the kernels owe the reference's decision:
 * where their float IoU could be wrong (thin boxes far from the origin move
 * it by up to 1e-3), they decide in double (RL_DOUBT, src/kernels.h). */
#define RL_TOL_THRESH 1.0e-5
/* Below this magnitude values compare absolutely: float's normal range ends
 * at 1.2e-38 and a product of two float quantities under 1e-19 underflows, so
 * a float kernel cannot carry relative precision there (a loss part or a
 * gradient entry of 1e-30 is zero for any training purpose). */
#define RL_TOL_FLOOR 1.0e-30

#endif
