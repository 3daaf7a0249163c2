/* Fuzz harness for the tool's label-file parser (tools/regionloss/labels.h).
 *
 * The input is a whole label file, copied into a buffer of exactly its size
 * (no NUL after it) so that AddressSanitizer sees any read past the end.
 * Properties, any violation aborts:
 *  - labels_parse returns 0 or -1; -1 comes with a message and an empty list;
 *  - every accepted box holds what the header promises: non-negative image
 *    and class, finite cx, cy in [0, 1] and w, h in (0, 1], line numbers
 *    from 1 upwards in file order;
 *  - printing the boxes back and parsing that gives the same boxes;
 *  - labels_to_truths groups them by image in input order with offsets
 *    from 0 to the count, and refuses an image index or class one too large. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "labels.h"

static void check_entries(const label_list *l)
{
    int64_t last_line = 0;
    for (size_t k = 0; k < l->count; k++) {
        const label_entry *e = &l->items[k];
        FUZZ_CHECK(e->image >= 0 && e->cls >= 0, "box %zu: image %lld class %lld", k,
                   (long long)e->image, (long long)e->cls);
        FUZZ_CHECK(isfinite(e->cx) && isfinite(e->cy) && e->cx >= 0 && e->cx <= 1 &&
                       e->cy >= 0 && e->cy <= 1,
                   "box %zu: centre (%g, %g)", k, (double)e->cx, (double)e->cy);
        FUZZ_CHECK(isfinite(e->w) && isfinite(e->h) && e->w > 0 && e->w <= 1 && e->h > 0 &&
                       e->h <= 1,
                   "box %zu: size (%g, %g)", k, (double)e->w, (double)e->h);
        FUZZ_CHECK(e->line > last_line, "box %zu: line %lld after line %lld", k,
                   (long long)e->line, (long long)last_line);
        last_line = e->line;
    }
}

static void check_round_trip(const label_list *l)
{
    size_t cap = 96 * l->count + 1, len = 0;
    char *text = malloc(cap);
    FUZZ_CHECK(text, "out of memory");
    for (size_t k = 0; k < l->count; k++) {
        const label_entry *e = &l->items[k];
        /* %.9g gives back the same float32. */
        len += (size_t)snprintf(text + len, cap - len, "%" PRId64 " %" PRId64 " %.9g %.9g %.9g %.9g\n",
                                e->image, e->cls, (double)e->cx, (double)e->cy, (double)e->w,
                                (double)e->h);
        FUZZ_CHECK(len < cap, "round-trip text overflow");
    }
    label_list again;
    char err[256] = "";
    FUZZ_CHECK(labels_parse(text, len, &again, err, sizeof err) == 0,
               "the boxes printed back do not parse: %s", err);
    FUZZ_CHECK(again.count == l->count, "round trip: %zu boxes, then %zu", l->count,
               again.count);
    for (size_t k = 0; k < l->count; k++) {
        const label_entry *a = &l->items[k], *b = &again.items[k];
        FUZZ_CHECK(a->image == b->image && a->cls == b->cls && a->cx == b->cx &&
                       a->cy == b->cy && a->w == b->w && a->h == b->h,
                   "round trip changed box %zu", k);
    }
    labels_free(&again);
    free(text);
}

static void check_truths(const label_list *l)
{
    int64_t max_image = -1, max_cls = -1;
    for (size_t k = 0; k < l->count; k++) {
        if (l->items[k].image > max_image)
            max_image = l->items[k].image;
        if (l->items[k].cls > max_cls)
            max_cls = l->items[k].cls;
    }
    /* Offsets take n_images + 1 entries: keep the allocation small. */
    if (max_image >= 4096 || max_cls >= INT32_MAX)
        return;
    const int32_t n_images = (int32_t)(max_image + 1), n_classes = (int32_t)(max_cls + 1);
    rl_box *truths = NULL;
    int64_t *off = NULL;
    char err[256] = "";
    if (n_images >= 1 && n_classes >= 1) {
        FUZZ_CHECK(labels_to_truths(l, n_images, n_classes, &truths, &off, err, sizeof err) == 0,
                   "labels_to_truths refused %d images, %d classes: %s", (int)n_images,
                   (int)n_classes, err);
        FUZZ_CHECK(off[0] == 0 && off[n_images] == (int64_t)l->count, "offsets 0..%lld of %zu",
                   (long long)off[n_images], l->count);
        for (int32_t n = 0; n < n_images; n++) {
            FUZZ_CHECK(off[n + 1] >= off[n], "offsets decrease at image %d", (int)n);
            /* Image n's truths are its boxes in file order. */
            int64_t t = off[n];
            for (size_t k = 0; k < l->count; k++) {
                const label_entry *e = &l->items[k];
                if (e->image != n)
                    continue;
                FUZZ_CHECK(t < off[n + 1], "image %d has more boxes than truths", (int)n);
                const rl_box *b = &truths[t++];
                FUZZ_CHECK(b->cx == e->cx && b->cy == e->cy && b->w == e->w && b->h == e->h &&
                               b->cls == e->cls,
                           "truth %lld of image %d is not the box of line %lld",
                           (long long)(t - 1 - off[n]), (int)n, (long long)e->line);
            }
            FUZZ_CHECK(t == off[n + 1], "image %d has fewer boxes than truths", (int)n);
        }
        free(truths);
        free(off);
    }
    if (l->count > 0) {
        truths = NULL;
        off = NULL;
        err[0] = '\0';
        /* One image or one class too few: the largest index must be refused. */
        int rc = labels_to_truths(l, n_images - 1, n_classes, &truths, &off, err, sizeof err);
        FUZZ_CHECK(rc == -1 && err[0], "labels_to_truths accepted image %lld with %d images",
                   (long long)max_image, (int)(n_images - 1));
        rc = labels_to_truths(l, n_images, n_classes - 1, &truths, &off, err, sizeof err);
        FUZZ_CHECK(rc == -1 && err[0], "labels_to_truths accepted class %lld with %d classes",
                   (long long)max_cls, (int)(n_classes - 1));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    label_list l;
    /* Garbage in the output, as a caller's uninitialised variable would
     * hold: the header promises it is empty after a failure. */
    memset(&l, 0xA5, sizeof l);
    char err[256];
    memset(err, 0, sizeof err);
    int rc = labels_parse(text, size, &l, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "labels_parse returned %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0', "labels_parse failed without a message");
        FUZZ_CHECK(l.count == 0 && l.items == NULL,
                   "labels_parse failed but *out is not empty (count %zu): labels.h says "
                   "\"on failure ... *out is empty\"", l.count);
        free(text);
        return 0;
    }
    check_entries(&l);
    check_round_trip(&l);
    check_truths(&l);
    labels_free(&l);
    free(text);
    return 0;
}
