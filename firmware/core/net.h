/*
 * The network on the device: where each array lives in the RAM arena, and
 * the operations of algorithm.md on it (forward, DFA training, prediction).
 *
 * Numeric widths (algorithm.md): inputs x int8, activations int16, weights
 * and biases int32, dot products and update sums int64, feedback int16.
 * CONFIGURE may choose 16-bit storage of weights and biases instead (this
 * project's extension, models/README.md): every update then saturates at
 * the int16 limits, and the arithmetic is otherwise the same.
 *
 * Functions that take sizes from the wire check them and return -1 when they
 * are out of range; the protocol layer checks them first and answers with a
 * status, so -1 here means a caller bug, never silent wrong numbers.
 */
#ifndef TIFED_NET_H
#define TIFED_NET_H

#include <stdint.h>

#include "core/tifed_limits.h"

typedef struct {
    uint32_t n_layers;                      /* L, 0 when not configured */
    uint32_t dims[TIFED_MAX_LAYERS + 1u];   /* d_0 (inputs) .. d_L (classes) */
    uint32_t buffer_cap;                    /* samples the buffer holds */
    uint32_t batch_cap;                     /* rows of the activation buffers */
    uint32_t arena_used;                    /* bytes of the arena in use */
    uint32_t weight_bits;                   /* storage of W and b: 32, or 16 */

    /* W and b in the storage width (the other pair is NULL). */
    int32_t *w[TIFED_MAX_LAYERS];           /* W_l, d_l x d_{l+1}, panel layout (panel.h) */
    int32_t *b[TIFED_MAX_LAYERS];           /* b_l, d_{l+1} */
    uint32_t *w16[TIFED_MAX_LAYERS];        /* W_l as int16 pairs, panel layout (panel.h) */
    int16_t *b16[TIFED_MAX_LAYERS];         /* b_l */
    uint32_t *pairs;                        /* 16-bit weights: the pair scratch (arena.c) */
    int16_t *fb[TIFED_MAX_LAYERS];          /* B_l, C x d_{l+1} row-major; hidden layers only */
    int8_t *x;                              /* samples, buffer_cap x d_0 */
    uint8_t *label;                         /* labels, buffer_cap */

    /* Per mini-batch rows, batch_cap samples each (rows of layer l's output): */
    int16_t *act[TIFED_MAX_LAYERS];         /* activation a, sample-major */
    uint8_t *g_log2[TIFED_MAX_LAYERS];      /* log2 of the inverse slope g */
    int32_t *delta[TIFED_MAX_LAYERS];       /* DFA delta d, n x d_{l+1}, panel layout */

    /* An upper bound of |W_l| over the whole layer, kept up to date by every
     * write and update: it decides when int32 sums are exact (panel.h). */
    uint32_t w_bound[TIFED_MAX_LAYERS];
} tifed_net;

/* Tensor ids of WRITE_TENSOR/READ_TENSOR: kind << 4 | layer. */
#define NET_TENSOR_WEIGHTS 0u
#define NET_TENSOR_BIAS 1u
#define NET_TENSOR_FEEDBACK 2u

/* Bytes of arena a model needs (PROTOCOL.md CONFIGURE formula) with weights
 * and biases of weight_bits (32 or 16). 64-bit, so absurd requests are
 * measured, not wrapped. */
uint64_t net_arena_need(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap,
                        uint32_t weight_bits);

/* Lay the model out in the arena (which must be 4-byte aligned) and zero
 * weights, biases, feedback and samples. Returns 0, or -1 when it does not
 * fit or an argument is out of range (weight_bits other than 16 or 32
 * included); on -1 *net is unchanged. */
int net_configure(tifed_net *net, uint8_t *arena, uint32_t arena_bytes, uint32_t n_layers,
                  const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap, uint32_t weight_bits);

/* Forget the model (as after power-on). */
void net_reset(tifed_net *net);

/* Elements of tensor id (0 and -1 when the model has no such tensor). */
int net_tensor_count(const tifed_net *net, uint32_t id, uint32_t *count);

/* The tensor as the matrix protocol 2's codes walk (PROTOCOL.md): W_l and
 * B_l as they are, b_l as a column (rows x 1); -1 when there is no such
 * tensor. Element (r, c) is element r * cols + c. */
int net_tensor_shape(const tifed_net *net, uint32_t id, uint32_t *rows, uint32_t *cols);

/* Whether tensor id can store value: feedback, and weights and biases of
 * 16-bit storage, take int16 values only. */
int net_tensor_accepts(const tifed_net *net, uint32_t id, int32_t value);

/* Element e (< count, row-major as on the wire) of tensor id. The value
 * must be one net_tensor_accepts; the caller checks. */
int32_t net_tensor_get(const tifed_net *net, uint32_t id, uint32_t e);
void net_tensor_set(tifed_net *net, uint32_t id, uint32_t e, int32_t value);

/* Fill every hidden layer's B_l from the feedback PRNG (models/README.md). */
void net_seed_feedback(tifed_net *net, uint32_t seed);

/* Forward pass of samples first .. first+count-1 (count <= batch_cap) into
 * the activation rows: act[l] and g_log2[l] of every layer. */
int net_forward(const tifed_net *net, uint32_t first, uint32_t count);

/* argmax of the last activation (first index wins a tie) for samples
 * first .. first+count-1, any count: processed batch_cap rows at a time. */
int net_predict(const tifed_net *net, uint32_t first, uint32_t count, uint8_t *pred);

/* DFA training of algorithm.md on samples 0..n-1: `epochs` passes of
 * consecutive mini-batches of `batch`, a trailing partial batch skipped.
 * layer = -1 updates every layer, else only that one (the forward pass and
 * the error are still computed in full). */
int net_train(tifed_net *net, uint32_t n, uint32_t batch, uint32_t epochs, uint32_t lr_inv, int layer);

#endif
