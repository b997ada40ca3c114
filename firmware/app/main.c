/* main() of every board that has no command line (all but host). */
#include "app/app.h"

int main(void)
{
    return app_run();
}
