/* Status names and descriptions for every code and an unknown one; the
 * variant check; the version string. */
#include "support.h"

#include <stdio.h>

static const struct {
    rl_status st;
    const char *name;
} codes[] = {
    {RL_OK, "RL_OK"},
    {RL_ERR_NULL_POINTER, "RL_ERR_NULL_POINTER"},
    {RL_ERR_BAD_SIZE, "RL_ERR_BAD_SIZE"},
    {RL_ERR_BAD_ANCHOR, "RL_ERR_BAD_ANCHOR"},
    {RL_ERR_BAD_LAMBDA, "RL_ERR_BAD_LAMBDA"},
    {RL_ERR_BAD_THRESH, "RL_ERR_BAD_THRESH"},
    {RL_ERR_BAD_ENUM, "RL_ERR_BAD_ENUM"},
    {RL_ERR_BAD_TRUTH, "RL_ERR_BAD_TRUTH"},
    {RL_ERR_BAD_OFFSETS, "RL_ERR_BAD_OFFSETS"},
    {RL_ERR_NONFINITE_PRED, "RL_ERR_NONFINITE_PRED"},
    {RL_ERR_UNKNOWN_VARIANT, "RL_ERR_UNKNOWN_VARIANT"},
    {RL_ERR_UNAVAILABLE_VARIANT, "RL_ERR_UNAVAILABLE_VARIANT"},
    {RL_ERR_NO_MEMORY, "RL_ERR_NO_MEMORY"},
    {RL_ERR_THREADS, "RL_ERR_THREADS"},
    {RL_ERR_WORKSPACE, "RL_ERR_WORKSPACE"},
    {RL_ERR_BAD_ARGUMENT, "RL_ERR_BAD_ARGUMENT"},
};
#define N_CODES (sizeof codes / sizeof codes[0])

Test(status_names, every_code_has_its_name)
{
    for (size_t c = 0; c < N_CODES; c++)
        cr_assert_str_eq(rl_status_name(codes[c].st), codes[c].name);
}

Test(status_names, every_code_has_a_distinct_description)
{
    for (size_t c = 0; c < N_CODES; c++) {
        const char *d = rl_status_description(codes[c].st);
        cr_assert(d && *d, "%s has no description", codes[c].name);
        for (size_t e = 0; e < c; e++)
            cr_assert_str_neq(d, rl_status_description(codes[e].st), "%s and %s share \"%s\"",
                              codes[c].name, codes[e].name, d);
    }
}

Test(status_names, unknown_codes)
{
    const int unknown[4] = {-1, 16, 99, 1 << 30};
    for (int u = 0; u < 4; u++) {
        const rl_status st = (rl_status)unknown[u];
        cr_assert_str_eq(rl_status_name(st), "RL_UNKNOWN_STATUS");
        const char *d = rl_status_description(st);
        cr_assert(d && *d);
        for (size_t c = 0; c < N_CODES; c++)
            cr_assert_str_neq(d, rl_status_description(codes[c].st));
    }
}

Test(status_names, variant_check)
{
    cr_assert_eq(rl_variant_check("reference"), RL_OK);
    cr_assert_eq(rl_variant_check("no-such-variant"), RL_ERR_UNKNOWN_VARIANT);
    cr_assert(strstr(rl_last_error(), "no-such-variant") != NULL, "message: %s", rl_last_error());
    cr_assert_eq(rl_variant_check(""), RL_ERR_UNKNOWN_VARIANT);
    cr_assert_eq(rl_variant_check(NULL), RL_ERR_NULL_POINTER);
    /* every listed variant runs here, and the reference is always listed */
    const char *const *list = rl_variant_list();
    int has_reference = 0;
    for (int v = 0; list[v]; v++) {
        cr_assert_eq(rl_variant_check(list[v]), RL_OK, "%s: %s", list[v], rl_last_error());
        has_reference |= strcmp(list[v], "reference") == 0;
    }
    cr_assert(has_reference);
}

Test(status_names, version)
{
    cr_assert_str_eq(rl_version(), RL_VERSION_STRING);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", RL_VERSION_MAJOR, RL_VERSION_MINOR, RL_VERSION_PATCH);
    cr_assert_str_eq(rl_version(), v);
}
