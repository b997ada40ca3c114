/* The application loop every board runs (see app.c). */
#ifndef TIFED_APP_H
#define TIFED_APP_H

/* board_init(), then serve the protocol until board_read_byte() returns -1.
 * Returns the process exit status (0). */
int app_run(void);

#endif
