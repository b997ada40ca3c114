/*
 * The multiply-accumulate kernels behind the algorithm (forward.c,
 * train.c), one family per file, as CMSIS-NN keeps its kernels apart from
 * the layers that call them. They know the panel layout (core/panel.h) and
 * nothing of the network: pointers, counts and a shift in, sums or updated
 * weights out.
 *
 *   dot64.c          one row x one panel, int64 sums: always exact
 *   dot32.c          two rows x one panel, int32 sums: under dot32_exact()
 *   update_pairs.c   fused update of two rows of W, int32 sums, 2^shift
 *   update_packed.c  the same, two samples per SMLAD (dual_mac.h)
 *   pack_pairs.c     rewrites delta panels as sample pairs for the above
 *   expand16.c       16-bit weights: inputs and update columns as int16 pairs
 *   dot16.c          16-bit weights: two samples x one panel, two MACs per SMLAD
 *   update16.c       16-bit weights: fused update of two rows, SMLAD, QSUB16
 */
#ifndef TIFED_KERNELS_H
#define TIFED_KERNELS_H

#include <stdint.h>

#include "core/kernels/dual_mac.h"
#include "core/panel.h"

/* True when sums of n products x * p, |x| <= 128, |p| <= bound, cannot
 * leave int32 at any step. */
static inline int dot32_exact(uint32_t n, uint32_t bound)
{
    return (uint64_t)128u * n * bound <= (uint64_t)INT32_MAX;
}

/* acc[c] = sum_{r < n} x[r] * p[r * width + c], c < width (1..4). */
void panel_dot64_i8(const int8_t *x, const int32_t *p, uint32_t n, uint32_t width, int64_t *acc);
void panel_dot64_i16(const int16_t *x, const int32_t *p, uint32_t n, uint32_t width, int64_t *acc);

/* acc[c] for row x0 and acc[4 + c] for row x1 (skipped when x1 is NULL),
 * in int32: only under dot32_exact(). */
void panel_dot32_i8(const int8_t *x0, const int8_t *x1, const int32_t *p, uint32_t n, uint32_t width,
                    int32_t *acc);
void panel_dot32_i16(const int16_t *x0, const int16_t *x1, const int32_t *p, uint32_t n, uint32_t width,
                     int32_t *acc);

/*
 * Rows i and i + 1 of W, whose input columns over the batch are c0 and c1
 * (n values each), against `panels` full panels of the n x out deltas d:
 * w[0..7] of each panel (rows i, i + 1 of it; the next panel w_step
 * further) -= floor(sum / 2^shift). Returns the OR of the new weights'
 * magnitude bits. Only under dot32_exact(n, |d|max); the _sat twin clamps
 * to int32, the other needs |w| + |q| <= INT32_MAX proven.
 */
uint32_t update_pairs_i32(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t n, int32_t *w,
                          uint32_t panels, uint32_t w_step, unsigned shift);
uint32_t update_pairs_i32_sat(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t n, int32_t *w,
                              uint32_t panels, uint32_t w_step, unsigned shift);

#if TIFED_PACKED_UPDATE
/*
 * The same update from sample pairs: c0, c1 hold `pairs` int16 pairs each
 * (4-byte aligned, an odd batch padded with 0) and d holds full panels
 * rewritten by pack_delta_pairs (d_step int32 words apart). _one updates
 * row i alone (c1 unused); _sat clamps as above.
 */
uint32_t update_packed_two(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t pairs, int32_t *w,
                           uint32_t panels, uint32_t w_step, uint32_t d_step, unsigned shift);
uint32_t update_packed_two_sat(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t pairs, int32_t *w,
                               uint32_t panels, uint32_t w_step, uint32_t d_step, unsigned shift);
uint32_t update_packed_one(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t pairs, int32_t *w,
                           uint32_t panels, uint32_t w_step, uint32_t d_step, unsigned shift);
uint32_t update_packed_one_sat(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t pairs, int32_t *w,
                               uint32_t panels, uint32_t w_step, uint32_t d_step, unsigned shift);
#endif

/* The `full` full panels of an n x out int32 delta matrix, rewritten in
 * place as (d[b][c], d[b + 1][c]) int16 pairs, panel p from word p * stride
 * on (4 n <= stride: where it was; 2 (n + 1) / 2 * 2: back to back);
 * every delta must fit int16. */
void pack_delta_pairs(int32_t *d, uint32_t n, uint32_t full, uint32_t stride);

/*
 * 16-bit weights (panel.h). Their inputs first become int16 pairs in the
 * pair scratch (expand16.c): input_pairs_* for the forward pass (two
 * samples x0, x1, or one when x1 is NULL, `rows` inputs each: 4 words per
 * group of four rows), column_pairs_* for the update (the group of rows
 * r..r+3 of the n samples of a batch, `in` inputs per sample: 2 words per
 * sample pair into cols0 for rows r, r + 2 and into cols1 for r + 1, r + 3).
 */
void input_pairs_i8(const int8_t *x0, const int8_t *x1, uint32_t rows, uint32_t *xp);
void input_pairs_i16(const int16_t *a0, const int16_t *a1, uint32_t rows, uint32_t *xp);
void column_pairs_i8(const int8_t *x, uint32_t in, uint32_t n, uint32_t r, uint32_t *cols0, uint32_t *cols1);
void column_pairs_i16(const int16_t *a, uint32_t in, uint32_t n, uint32_t r, uint32_t *cols0, uint32_t *cols1);

/* Forward pass of 16-bit weights: the pairs xp of `groups` groups against
 * the panel whose words start at pw: acc[c] for the first sample and
 * acc[4 + c] for the second, exact int64 sums whatever the weights.
 * panel16_dot2 / panel16_dot1: a full panel, two samples / the first only;
 * panel16_dot_narrow: a panel of `width` (1..4) columns, `two` samples. */
void panel16_dot2(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc);
void panel16_dot1(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc);
void panel16_dot_narrow(const uint32_t *xp, const uint32_t *pw, uint32_t groups, uint32_t width, int two,
                        int64_t *acc);

/*
 * The update of 16-bit weights: rows r and r + 2 of a group (their columns
 * `cols` from column_pairs_*, `pairs` sample pairs) against `panels` full
 * panels of packed deltas d, back to back (pack_delta_pairs with stride
 * 4 * pairs): the four words w[0..3] of each panel (w_step words to the
 * next) -= floor(sum / 2^shift), clamped to int16. Only under
 * dot32_exact(n, |d|max) and shift >= 1; _small only when every
 * |floor(sum / 2^shift)| <= 32767 as well.
 */
void update16_pairs(const uint32_t *cols, const int32_t *d, uint32_t pairs, uint32_t *w, uint32_t panels,
                    uint32_t w_step, unsigned shift);
void update16_pairs_small(const uint32_t *cols, const int32_t *d, uint32_t pairs, uint32_t *w, uint32_t panels,
                          uint32_t w_step, unsigned shift);

#endif
