/* The test server's contract (tests/TEST_SERVER.md) written in C over
 * include/wshub.h, so the whole Node suite (tests/js) drives the C ABI:
 *   WSHUB_TEST_SERVER=target/c-tests/c_server node --test tests/js/
 * Run from the repository root. PORT from the environment (0: a free port). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wshub.h"
#include "json_args.h"

#define CHECK(call)                                                                  \
    do {                                                                             \
        wshub_status s_ = (call);                                                    \
        if (s_ != WSHUB_OK) {                                                        \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call,       \
                    wshub_status_str(s_), wshub_last_error());                       \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

static wshub_t *hub;

/* Disconnect reasons by socket id; callbacks all run on the dispatcher thread. */
#define MAX_REASONS 8192
static struct { char id[64]; char reason[64]; } reasons[MAX_REASONS];
static size_t reason_count;

static void on_disconnect(void *ud, const char *id, const char *ns, const char *reason) {
    (void)ud; (void)ns;
    if (reason_count < MAX_REASONS) {
        snprintf(reasons[reason_count].id, sizeof reasons[0].id, "%s", id);
        snprintf(reasons[reason_count].reason, sizeof reasons[0].reason, "%s", reason);
        reason_count++;
    }
}

static const char *reason_of(const char *id) {
    size_t i;
    for (i = reason_count; i > 0; i--)
        if (strcmp(reasons[i - 1].id, id) == 0) return reasons[i - 1].reason;
    return NULL;
}

static int is_raw(const wshub_event *ev) {
    char *info = NULL;
    int raw;
    if (wshub_socket_info(hub, ev->name_space, ev->socket_id, &info) != WSHUB_OK) return 0;
    raw = strstr(info, "\"raw\":true") != NULL;
    wshub_string_free(info);
    return raw;
}

static void reply(const wshub_event *ev, const char *json) {
    if (ev->has_ack)
        wshub_ack(hub, ev->name_space, ev->socket_id, ev->ack_id, json, strlen(json), NULL, 0);
}

static void emit_back(const wshub_event *ev, const char *name, const char *json) {
    wshub_emit_to(hub, ev->name_space, ev->socket_id, name, json, strlen(json), ev->attachments,
                  ev->attachment_count);
}

typedef struct { char ns[64]; char id[64]; } ack_ctx;

static void on_ack(void *ud, wshub_status status, const wshub_event *answer) {
    ack_ctx *ctx = ud;
    if (status == WSHUB_OK)
        wshub_emit_to(hub, ctx->ns, ctx->id, "ack-result", answer->args_json, answer->args_len,
                      answer->attachments, answer->attachment_count);
    else
        wshub_emit_to(hub, ctx->ns, ctx->id, "ack-timeout", NULL, 0, NULL, 0);
    free(ctx);
}

static void on_event(void *ud, const wshub_event *ev) {
    const char *name = ev->name;
    char heads[2][256], rest[1 << 16], buf[1 << 16];
    wshub_target t = {0};
    (void)ud;
    memset(&t, 0, sizeof t);
    t.name_space = ev->name_space;
    if (strcmp(name, "message") == 0) {
        if (is_raw(ev)) emit_back(ev, "message", ev->args_json);
    } else if (strcmp(name, "echo") == 0) {
        emit_back(ev, "echo", ev->args_json);
    } else if (strcmp(name, "echo-ack") == 0) {
        if (ev->has_ack)
            wshub_ack(hub, ev->name_space, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len,
                      ev->attachments, ev->attachment_count);
    } else if (strcmp(name, "join") == 0 || strcmp(name, "leave") == 0) {
        if (ja_split(ev->args_json, 1, heads, rest, sizeof rest) == 0) {
            if (name[0] == 'j') wshub_join(hub, ev->name_space, ev->socket_id, heads[0]);
            else wshub_leave(hub, ev->name_space, ev->socket_id, heads[0]);
        }
        reply(ev, "[true]");
    } else if (strcmp(name, "rooms") == 0) {
        char *info = NULL;
        if (wshub_socket_info(hub, ev->name_space, ev->socket_id, &info) == WSHUB_OK) {
            const char *start = strstr(info, "\"rooms\":");
            const char *end = start ? strchr(start, ']') : NULL;
            if (start && end) {
                start += strlen("\"rooms\":");
                snprintf(buf, sizeof buf, "[%.*s]", (int)(end - start + 1), start);
                reply(ev, buf);
            }
            wshub_string_free(info);
        }
    } else if (strcmp(name, "to-room") == 0 || strcmp(name, "to-room-except") == 0) {
        int n = strcmp(name, "to-room") == 0 ? 1 : 2;
        const char *room, *except;
        if (ja_split(ev->args_json, n, heads, rest, sizeof rest) != 0) return;
        room = heads[0];
        except = heads[1];
        t.rooms = &room;
        t.room_count = 1;
        if (n == 2) {
            t.except_rooms = &except;
            t.except_count = 1;
        }
        wshub_emit(hub, &t, "room-msg", rest, strlen(rest), ev->attachments, ev->attachment_count, NULL);
    } else if (strcmp(name, "broadcast") == 0) {
        t.except_socket = ev->socket_id;
        wshub_emit(hub, &t, "broadcast", ev->args_json, ev->args_len, ev->attachments, ev->attachment_count, NULL);
    } else if (strcmp(name, "to-all") == 0) {
        wshub_emit(hub, &t, "to-all", ev->args_json, ev->args_len, ev->attachments, ev->attachment_count, NULL);
    } else if (strcmp(name, "request-ack") == 0) {
        ack_ctx *ctx = malloc(sizeof *ctx);
        long timeout = ja_first_number(ev->args_json);
        snprintf(ctx->ns, sizeof ctx->ns, "%s", ev->name_space);
        snprintf(ctx->id, sizeof ctx->id, "%s", ev->socket_id);
        if (wshub_emit_with_ack(hub, ev->name_space, ev->socket_id, "ping-me", "[\"please ack\"]", 14, NULL, 0,
                                (uint32_t)(timeout > 0 ? timeout : 500), on_ack, ctx) != WSHUB_OK)
            free(ctx);
    } else if (strcmp(name, "disconnect-me") == 0) {
        wshub_disconnect(hub, ev->name_space, ev->socket_id, false);
    } else if (strcmp(name, "count") == 0) {
        char *ids = NULL;
        size_t count = 0;
        if (wshub_sockets(hub, &t, &ids) == WSHUB_OK) {
            const char *p;
            for (p = ids; *p; p++) count += *p == '"';
            wshub_string_free(ids);
        }
        snprintf(buf, sizeof buf, "[%zu]", count / 2);
        reply(ev, buf);
    } else if (strcmp(name, "last-reason") == 0) {
        const char *r;
        if (ja_split(ev->args_json, 1, heads, rest, sizeof rest) != 0) return;
        r = reason_of(heads[0]);
        if (r) snprintf(buf, sizeof buf, "[\"%s\"]", r);
        else snprintf(buf, sizeof buf, "[null]");
        reply(ev, buf);
    }
}

static void on_connection(void *ud, const char *id, const char *ns) {
    char *info = NULL;
    (void)ud;
    if (wshub_socket_info(hub, ns, id, &info) == WSHUB_OK) {
        if (strstr(info, "\"raw\":true")) wshub_join(hub, ns, id, "raw");
        wshub_string_free(info);
    }
}

/* The /admin guard decides on another thread, a little later: asynchronous auth. */
typedef struct { uint64_t id; int accept; } decision;

static void *decide_later(void *arg) {
    decision *d = arg;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    wshub_connect_decide(hub, d->id, d->accept, d->accept ? NULL : "unauthorized");
    free(d);
    return NULL;
}

static void admin_guard(void *ud, const wshub_connect_request *req) {
    pthread_t t;
    decision *d = malloc(sizeof *d);
    (void)ud;
    d->id = req->request_id;
    d->accept = strstr(req->auth_json, "\"token\":\"secret\"") != NULL;
    if (pthread_create(&t, NULL, decide_later, d) == 0) pthread_detach(t);
    else wshub_connect_decide(hub, d->id, d->accept, "unauthorized"), free(d);
}

int main(void) {
    const char *namespaces[] = {"/", "/admin", "/chat"};
    const char *port_env = getenv("PORT");
    uint16_t port = 0;
    size_t i;
    wshub_config cfg = wshub_config_default();
    cfg.port = (uint16_t)(port_env ? atoi(port_env) : 0);
    /* Sanitizer builds run many times slower: they stretch the heartbeat
       (tests/TEST_SERVER.md) so that a slow machine is not a ping timeout. */
    const char *scale_env = getenv("WSHUB_TEST_HEARTBEAT_SCALE");
    uint32_t scale = scale_env && atoi(scale_env) > 1 ? (uint32_t)atoi(scale_env) : 1;
    cfg.ping_interval_ms = 300 * scale;
    cfg.ping_timeout_ms = 200 * scale;
    cfg.connect_timeout_ms = 1000;
    cfg.max_payload = 2000000;
    cfg.cors_origins = "http://allowed.example";
    cfg.static_dir = "tests/fixtures/static";
    cfg.client_bundle_dir = "node_modules/socket.io-client/dist";
    cfg.tls_cert = getenv("WSHUB_TLS_CERT"); /* optional: https and wss */
    cfg.tls_key = getenv("WSHUB_TLS_KEY");
    cfg.allowed_origins = getenv("WSHUB_ALLOWED_ORIGINS"); /* optional, comma-separated */
    cfg.per_message_deflate = getenv("WSHUB_PER_MESSAGE_DEFLATE") != NULL; /* optional: for Socket.IO too */
    CHECK(wshub_new(&cfg, &hub));
    for (i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
        CHECK(wshub_on(hub, namespaces[i], NULL, on_event, NULL, NULL));
        CHECK(wshub_on_disconnect(hub, namespaces[i], on_disconnect, NULL, NULL));
    }
    CHECK(wshub_on_connection(hub, "/", on_connection, NULL, NULL));
    CHECK(wshub_set_guard(hub, "/admin", admin_guard, NULL, NULL));
    CHECK(wshub_start(hub, &port));
    printf("LISTENING %u\n", (unsigned)port);
    fflush(stdout);
    for (;;) {
        struct timespec ts = {3600, 0};
        nanosleep(&ts, NULL);
    }
}
