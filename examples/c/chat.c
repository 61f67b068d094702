/* The chat room of examples/chat.rs (protocol at its top) in C, serving examples/chat/public:
 * nicknames, messages to everyone, history, join/leave, who is online, typing.
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
static char history[50][4400], reply[50 * 4400 + 16384]; /* the last 50 messages as JSON objects */
static int messages;
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
    return clock_gettime(CLOCK_REALTIME, &ts), (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* To everyone (room NULL), or to a room; `except` (a socket id) left out. */
static void emit(const char *event, const char *json, const char *room, const char *except) {
    wshub_target t = {NULL, &room, room ? 1 : 0, NULL, 0, except, false};
    wshub_emit(hub, &t, event, json, strlen(json), NULL, 0, NULL);
}
/* `"users":[...],"online":N` for the people who joined; returns N. */
static int online(char *out, size_t cap) {
    int i, n = 0;
    size_t len = (size_t)snprintf(out, cap, "\"users\":[");
    for (i = 0; i < 1024; i++)
        if (people[i].id[0] && len + 130 < cap) len += (size_t)snprintf(out + len, cap - len, "%s%s", n++ ? "," : "", people[i].name);
    snprintf(out + len, cap - len, "],\"online\":%d", n);
    return n;
}
/* The first argument's raw JSON, if it is a string. */
static int first_arg(const wshub_event *ev, char *out, size_t cap) {
    size_t len = ev->args_len;
    if (len < 4 || ev->args_json[1] != '"' || len - 2 >= cap) return 0;
    return snprintf(out, cap, "%.*s", (int)(len - 2), ev->args_json + 1) > 0;
}

static void on_event(void *userdata, const wshub_event *ev) {
    char arg[4096], users[8192], json[16384], *name = name_of(ev->socket_id, 0);
    (void)userdata;
    if (strcmp(ev->name, "join") == 0 && first_arg(ev, arg, 128) && (name = name_of(ev->socket_id, 1))) {
        memcpy(name, arg, strlen(arg) + 1); /* arg is a JSON string, under 128 bytes */
        wshub_join(hub, "/", ev->socket_id, "people");
        int n = online(users, sizeof users), i;
        size_t len = (size_t)snprintf(reply, sizeof reply, "[{\"ok\":true,\"name\":%s,%s,\"history\":[", arg, users);
        for (i = messages > 50 ? messages - 50 : 0; i < messages; i++)
            len += (size_t)snprintf(reply + len, sizeof reply - len, "%s%s", reply[len - 1] == '[' ? "" : ",", history[i % 50]);
        snprintf(reply + len, sizeof reply - len, "]}]");
        if (ev->has_ack) wshub_ack(hub, "/", ev->socket_id, ev->ack_id, reply, strlen(reply), NULL, 0);
        snprintf(json, sizeof json, "[{\"user\":%s,\"online\":%d,\"time\":%lld}]", arg, n, now_ms());
        emit("user joined", json, NULL, ev->socket_id);
        snprintf(json, sizeof json, "[{%s}]", users);
        emit("online", json, NULL, NULL);
    } else if (strcmp(ev->name, "chat message") == 0 && first_arg(ev, arg, sizeof arg)) {
        const char *user = name ? name : "\"anonymous\""; /* never joined: the classic one-page chat */
        snprintf(json, sizeof json, "[{\"user\":%s,\"text\":%s,\"time\":%lld}]", user, arg, now_ms());
        snprintf(history[messages++ % 50], sizeof history[0], "%.*s", (int)strlen(json) - 2, json + 1);
        emit("chat message", json, NULL, NULL); /* to everyone, the sender included */
    } else if (strcmp(ev->name, "typing") == 0 && name) {
        snprintf(json, sizeof json, "[{\"user\":%s,\"typing\":%s}]", name, strstr(ev->args_json, "true") ? "true" : "false");
        emit("typing", json, "people", ev->socket_id);
    }
}

static void on_disconnect(void *userdata, const char *id, const char *ns, const char *reason) {
    char *name = name_of(id, 0), users[8192], json[16384];
    (void)userdata; (void)ns; (void)reason;
    if (!name) return;
    snprintf(json, sizeof json, "[{\"user\":%s,\"time\":%lld,", name, now_ms());
    memset(name - sizeof people[0].id, 0, sizeof people[0]);
    snprintf(json + strlen(json), sizeof json - strlen(json), "\"online\":%d}]", online(users, sizeof users));
    emit("user left", json, NULL, NULL);
    snprintf(json, sizeof json, "[{%s}]", users);
    emit("online", json, NULL, NULL);
}

int main(void) {
    const char *port = getenv("PORT");
    uint16_t bound = 0;
    wshub_config cfg = wshub_config_default();
    if (port) cfg.port = (uint16_t)atoi(port);
    cfg.static_dir = "examples/chat/public";
    cfg.client_bundle_dir = "node_modules/socket.io-client/dist";
    cfg.redis_url = getenv("REDIS_URL"); /* set: join the cluster on that Redis (docs/SCALING.md) */
    if (wshub_new(&cfg, &hub) != WSHUB_OK || wshub_on(hub, NULL, NULL, on_event, NULL, NULL) != WSHUB_OK ||
        wshub_on_disconnect(hub, NULL, on_disconnect, NULL, NULL) != WSHUB_OK || wshub_start(hub, &bound) != WSHUB_OK)
        return fprintf(stderr, "wshub: %s\n", wshub_last_error()), 1;
    printf("LISTENING %u\nchat room on http://127.0.0.1:%u\n", (unsigned)bound, (unsigned)bound), fflush(stdout);
    for (;;) pause();
}
