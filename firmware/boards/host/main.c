/*
 * tifed-host [--pty [--stay]] [--arena BYTES] [--version]
 *
 * Default: speak the protocol on stdin/stdout (binary) until stdin ends.
 * --pty: open a pseudo-terminal, print `PTY /dev/pts/N` and serve there
 * until the other side, having opened it, closes it (or SIGTERM).
 * --stay: with --pty, go on when the other side closes it (until SIGTERM),
 * as a board does when its cable is pulled: it may be opened again.
 * --arena BYTES: report and use only BYTES of arena, to act like a small
 * board (refusal tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "boards/host/host.h"
#include "core/tifed_limits.h"

static int usage(const char *why)
{
    fprintf(stderr, "tifed-host: %s\nusage: tifed-host [--pty [--stay]] [--arena BYTES] [--version]\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    int i, pty = 0, stay = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pty") == 0) {
            pty = 1;
        } else if (strcmp(argv[i], "--stay") == 0) {
            stay = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tifed-host %s (protocol %u, max_payload %u)\n", TIFED_FW_VERSION, TIFED_PROTO_VERSION,
                   TIFED_MAX_PAYLOAD);
            return 0;
        } else if (strcmp(argv[i], "--arena") == 0) {
            char *end;
            unsigned long bytes;
            if (i + 1 >= argc)
                return usage("--arena needs a number of bytes");
            bytes = strtoul(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *argv[i] == '-' || *end != '\0' || bytes > HOST_ARENA_MAX) {
                fprintf(stderr, "tifed-host: --arena must be a number of bytes from 0 to %u, not '%s'\n",
                        HOST_ARENA_MAX, argv[i]);
                return 2;
            }
            host_set_arena_bytes((uint32_t)bytes);
        } else {
            char why[128];
            snprintf(why, sizeof why, "unknown argument '%.80s'", argv[i]);
            return usage(why);
        }
    }
    if (stay && !pty)
        return usage("--stay needs --pty");
    if (pty) {
        if (host_use_pty() != 0)
            return 1;
        if (stay)
            host_stay();
    } else {
        host_use_stdio();
    }
    return app_run();
}
