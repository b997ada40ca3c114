/*
 * The host board: the firmware as a native process. The link is stdin and
 * stdout, or the master side of a pseudo-terminal (--pty), which the harness
 * opens with pyserial like a serial port. No counter, no stack measurement.
 */
#define _XOPEN_SOURCE 600

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "boards/board.h"
#include "boards/host/host.h"

/* uint32_t elements: the arena is 4-byte aligned as the core needs. */
static uint32_t arena_words[HOST_ARENA_MAX / 4u];
static uint32_t arena_bytes = HOST_ARENA_MAX;

static int fd_in = 0, fd_out = 1;
/* --pty: our own descriptor of the slave side, held until the first byte
 * arrives. While any slave descriptor is open, reading the master blocks;
 * once the harness has opened the slave and ours is closed, the harness
 * closing it makes read() fail with EIO, which ends the process. With
 * --stay ours stays open, so the process outlives the harness closing the
 * port and serves whoever opens it next, as a board outlives its cable. */
static int pty_slave = -1;
static int keep_slave = 0;
static int link_closed = 0;

static uint8_t in_buf[4096];
static size_t in_len = 0, in_pos = 0;

void host_set_arena_bytes(uint32_t bytes)
{
    arena_bytes = bytes;
}

void host_use_stdio(void)
{
    fd_in = 0;
    fd_out = 1;
}

static int make_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0)
        return -1;
    t.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    t.c_oflag &= (tcflag_t)~OPOST;
    t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &t);
}

int host_use_pty(void)
{
    const char *path;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (path = ptsname(master)) == NULL) {
        perror("tifed-host: cannot open a pseudo-terminal");
        return -1;
    }
    pty_slave = open(path, O_RDWR | O_NOCTTY);
    if (pty_slave < 0 || make_raw(pty_slave) != 0) {
        perror("tifed-host: cannot set up the pseudo-terminal");
        return -1;
    }
    fd_in = fd_out = master;
    printf("PTY %s\n", path);
    fflush(stdout);
    return 0;
}

void host_stay(void)
{
    keep_slave = 1;
}

void board_init(void)
{
    /* A vanished peer must end the loop through a failed write, not kill
     * the process with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
}

int board_read_byte(void)
{
    while (in_pos == in_len) {
        ssize_t n;
        if (link_closed)
            return -1;
        n = read(fd_in, in_buf, sizeof in_buf);
        if (n > 0) {
            in_len = (size_t)n;
            in_pos = 0;
            if (pty_slave >= 0 && !keep_slave) {
                close(pty_slave);
                pty_slave = -1;
            }
        } else if (n == 0 || errno != EINTR) {
            /* EOF on stdin; EIO on a pty master whose slave was closed. */
            link_closed = 1;
        }
    }
    return in_buf[in_pos++];
}

void board_write(const uint8_t *data, size_t n)
{
    while (n > 0 && !link_closed) {
        ssize_t w = write(fd_out, data, n);
        if (w > 0) {
            data += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
            link_closed = 1;
        }
    }
}

const char *board_name(void)
{
    return "host";
}

uint8_t *board_arena(void)
{
    return (uint8_t *)arena_words;
}

uint32_t board_arena_bytes(void)
{
    return arena_bytes;
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_NONE;
}

uint64_t board_counter_read(void)
{
    return 0;
}

uint32_t board_stack_peak(void)
{
    return 0;
}

uint32_t board_stack_size(void)
{
    return 0;
}
