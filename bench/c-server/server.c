/* The wshub benchmark server written in C over include/wshub.h: the same
 * two events as examples/bench.rs, but every event goes through the C ABI's
 * foreign-callback path (the hop to the hub's dispatcher thread and back),
 * so that its cost is measured beside the Rust-handler path.
 *   "echo"      -> emitted back to the sender with the same args
 *   "broadcast" -> emitted with the same args to everyone in "/" but the sender
 * Plain WebSocket clients: a text message starting with 'e' is echoed, one
 * starting with 'b' goes to every other socket (the raw protocol of the
 * benchmark). PORT from the environment (0 picks one); prints
 * `LISTENING <port>`. bench/run.py builds it against the release libwshub.a. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "wshub.h"

static wshub_t *hub;

static void on_echo(void *userdata, const wshub_event *ev) {
    (void)userdata;
    wshub_emit_to(hub, ev->name_space, ev->socket_id, "echo", ev->args_json, ev->args_len, ev->attachments,
                  ev->attachment_count);
}

static void broadcast(const wshub_event *ev, const char *event) {
    wshub_target target = {0};
    target.name_space = ev->name_space;
    target.except_socket = ev->socket_id;
    wshub_emit(hub, &target, event, ev->args_json, ev->args_len, ev->attachments, ev->attachment_count, NULL);
}

static void on_broadcast(void *userdata, const wshub_event *ev) {
    (void)userdata;
    broadcast(ev, "broadcast");
}

/* A raw client's message arrives as "message" with one string argument: ["e...  */
static void on_message(void *userdata, const wshub_event *ev) {
    (void)userdata;
    if (ev->args_len < 3) return;
    if (ev->args_json[2] == 'e')
        wshub_emit_to(hub, ev->name_space, ev->socket_id, "message", ev->args_json, ev->args_len, NULL, 0);
    else if (ev->args_json[2] == 'b')
        broadcast(ev, "message");
}

int main(void) {
    const char *port = getenv("PORT");
    uint16_t bound = 0;
    wshub_config cfg = wshub_config_default();
    cfg.port = port ? (uint16_t)atoi(port) : 0;
    /* Heartbeats far apart so that they play no part in a run. */
    cfg.ping_interval_ms = 600000;
    cfg.ping_timeout_ms = 600000;
    /* A broadcast run keeps up to 16 frames queued per receiver; leave room. */
    cfg.max_queued_frames = 65536;
    if (wshub_new(&cfg, &hub) != WSHUB_OK || wshub_on(hub, NULL, "echo", on_echo, NULL, NULL) != WSHUB_OK ||
        wshub_on(hub, NULL, "broadcast", on_broadcast, NULL, NULL) != WSHUB_OK ||
        wshub_on(hub, NULL, "message", on_message, NULL, NULL) != WSHUB_OK || wshub_start(hub, &bound) != WSHUB_OK) {
        fprintf(stderr, "wshub: %s\n", wshub_last_error());
        return 1;
    }
    printf("LISTENING %u\n", (unsigned)bound);
    fflush(stdout);
    for (;;) pause(); /* the hub runs on its own threads */
}
