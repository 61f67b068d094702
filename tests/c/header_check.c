/* include/wshub.h must compile cleanly as C99 and as C++17 (make test-c). */
#include "wshub.h"

int wshub_header_check(void);
int wshub_header_check(void) {
    wshub_config config = wshub_config_default();
    wshub_status (*start)(wshub_t *, uint16_t *) = wshub_start;
    (void)start;
    return (int)config.port;
}
