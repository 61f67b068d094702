/* The chat room in C, serving the page of examples/chat/public: "join" takes
 * a nickname, every "chat message" goes to everyone as {user, text, time}.
 * Build: make examples; run from the repository root: target/examples/c-chat */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wshub.h"

static wshub_t *hub;
/* Nicknames by socket id, as raw JSON strings; callbacks run on one thread. */
static struct { char id[32]; char name[128]; } people[1024];

static char *name_of(const char *id, int create) {
    int i;
    for (i = 0; i < 1024; i++)
        if (strcmp(people[i].id, id) == 0) return people[i].name;
    for (i = 0; create && i < 1024; i++)
        if (!people[i].id[0]) return snprintf(people[i].id, 32, "%s", id), people[i].name;
    return NULL;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit_all(const char *event, const char *json) {
    wshub_emit(hub, NULL, event, json, strlen(json), NULL, 0, NULL);
}

/* The first argument's raw JSON, if it is a string without nested brackets. */
static int first_arg(const wshub_event *ev, char *out, size_t cap) {
    size_t len = ev->args_len;
    if (len < 4 || ev->args_json[1] != '"' || len - 2 >= cap) return 0;
    return snprintf(out, cap, "%.*s", (int)(len - 2), ev->args_json + 1) > 0;
}

static void on_event(void *userdata, const wshub_event *ev) {
    char arg[4096], json[8192], *name;
    (void)userdata;
    if (strcmp(ev->name, "join") == 0 && first_arg(ev, arg, 128) && (name = name_of(ev->socket_id, 1))) {
        memcpy(name, arg, strlen(arg) + 1); /* arg is a JSON string, under 128 bytes */
        snprintf(json, sizeof json, "[{\"ok\":true,\"name\":%s,\"online\":0,\"users\":[],\"history\":[]}]", arg);
        if (ev->has_ack) wshub_ack(hub, "/", ev->socket_id, ev->ack_id, json, strlen(json), NULL, 0);
        snprintf(json, sizeof json, "[{\"user\":%s,\"online\":0,\"time\":%lld}]", arg, now_ms());
        emit_all("user joined", json);
    } else if (strcmp(ev->name, "chat message") == 0 && (name = name_of(ev->socket_id, 0)) && first_arg(ev, arg, sizeof arg)) {
        snprintf(json, sizeof json, "[{\"user\":%s,\"text\":%s,\"time\":%lld}]", name, arg, now_ms());
        emit_all("chat message", json); /* to everyone, the sender included */
    }
}

static void on_disconnect(void *userdata, const char *id, const char *ns, const char *reason) {
    char *name = name_of(id, 0), json[256];
    (void)userdata; (void)ns; (void)reason;
    if (!name) return;
    snprintf(json, sizeof json, "[{\"user\":%s,\"online\":0,\"time\":%lld}]", name, now_ms());
    emit_all("user left", json);
    memset(name - sizeof people[0].id, 0, sizeof people[0]);
}

int main(void) {
    const char *port = getenv("PORT");
    uint16_t bound = 0;
    wshub_config cfg = wshub_config_default();
    if (port) cfg.port = (uint16_t)atoi(port);
    cfg.static_dir = "examples/chat/public";
    cfg.client_bundle_dir = "node_modules/socket.io-client/dist";
    if (wshub_new(&cfg, &hub) != WSHUB_OK || wshub_on(hub, NULL, NULL, on_event, NULL, NULL) != WSHUB_OK ||
        wshub_on_disconnect(hub, NULL, on_disconnect, NULL, NULL) != WSHUB_OK || wshub_start(hub, &bound) != WSHUB_OK) {
        fprintf(stderr, "wshub: %s\n", wshub_last_error());
        return 1;
    }
    printf("LISTENING %u\nchat room on http://127.0.0.1:%u\n", (unsigned)bound, (unsigned)bound);
    fflush(stdout);
    for (;;) pause();
}
