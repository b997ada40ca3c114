/* The command handlers protocol 2 adds (commands_v2.c); proto_execute
 * (commands.c) calls them. Same contract as every handler: check the
 * length, the state, then every field, and change nothing on a refusal. */
#ifndef TIFED_COMMANDS_V2_H
#define TIFED_COMMANDS_V2_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/dispatch.h"

uint8_t cmd_digest(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n);
uint8_t cmd_write_delta(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n);
uint8_t cmd_read_low_bits(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n);
uint8_t cmd_write_samples_coded(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n);

#endif
