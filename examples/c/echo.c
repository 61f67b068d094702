/* Echo server in C: every event comes back to its sender, acks answered with
 * the same arguments. Build: make examples; run from the repository root:
 *   PORT=3000 target/examples/c-echo */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wshub.h"

static wshub_t *hub;

static void on_any(void *userdata, const wshub_event *ev) {
    (void)userdata;
    if (ev->has_ack) /* the client waits for an answer: ack with its own args */
        wshub_ack(hub, ev->name_space, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len,
                  ev->attachments, ev->attachment_count);
    else /* JSON and binary arguments go back untouched */
        wshub_emit_to(hub, ev->name_space, ev->socket_id, ev->name, ev->args_json, ev->args_len,
                      ev->attachments, ev->attachment_count);
}

int main(void) {
    const char *port = getenv("PORT");
    uint16_t bound = 0;
    wshub_config cfg = wshub_config_default();
    if (port) cfg.port = (uint16_t)atoi(port);
    if (wshub_new(&cfg, &hub) != WSHUB_OK || wshub_on(hub, NULL, NULL, on_any, NULL, NULL) != WSHUB_OK ||
        wshub_start(hub, &bound) != WSHUB_OK) {
        fprintf(stderr, "wshub: %s\n", wshub_last_error());
        return 1;
    }
    printf("LISTENING %u\necho server on http://127.0.0.1:%u\n", (unsigned)bound, (unsigned)bound);
    fflush(stdout);
    for (;;) pause(); /* the hub runs on its own threads */
}
