/* Host board setup, called by the host's main() before app_run(). */
#ifndef TIFED_HOST_H
#define TIFED_HOST_H

#include <stdint.h>

/* The static arena; --arena can only make the usable part smaller. */
#define HOST_ARENA_MAX (8u * 1024u * 1024u)

void host_set_arena_bytes(uint32_t bytes);

/* Serve on stdin/stdout. */
void host_use_stdio(void);

/* Open a pseudo-terminal, print `PTY <slave path>` on stdout and serve on
 * its master side. Returns 0, or -1 after printing why on stderr. */
int host_use_pty(void);

/* --stay: keep serving the pseudo-terminal after its other side closes. */
void host_stay(void);

#endif
