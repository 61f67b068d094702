/* The C ABI driven from C with real socket.io-client clients (tests/c/client.mjs).
 * Run from the repository root; prints TAP-like lines and "N passed, M failed". */
#define _GNU_SOURCE /* pthread_getname_np */
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wshub.h"

static int passed, failed;

#define EXPECT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "  %s:%d: expected %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, wshub_last_error());                                        \
            ok = 0;                                                                    \
        }                                                                              \
    } while (0)

static void report(int ok, const char *name) {
    printf("%s - %s\n", ok ? "ok" : "not ok", name);
    if (ok) passed++; else failed++;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Every variable a callback (on the dispatcher thread) and the main thread share is read and
 * written with `shared` held: a sleep or a child process's exit orders nothing between threads
 * (ThreadSanitizer, `make test-c-tsan`, reports such accesses as data races). The callbacks
 * broadcast `shared_changed` after a write; nothing that waits for the dispatcher (stop, free,
 * a guard's decision) is called with the lock held. */
static pthread_mutex_t shared = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t shared_changed = PTHREAD_COND_INITIALIZER;

/* With `shared` held: waits until *flag is nonzero or ms have passed; returns *flag != 0. */
static int wait_locked(const int *flag, long ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    while (!*flag)
        if (pthread_cond_timedwait(&shared_changed, &shared, &deadline) != 0) break;
    return *flag != 0;
}

static wshub_t *new_hub(void) {
    wshub_t *hub = NULL;
    wshub_config cfg = wshub_config_default();
    cfg.port = 0;
    cfg.worker_threads = 1;
    /* 8 threads emit faster than one client reads: room for the whole burst
     * (with the default 4096 the slow-consumer policy closes the client). */
    cfg.max_queued_frames = 16384;
    if (wshub_new(&cfg, &hub) != WSHUB_OK) {
        fprintf(stderr, "wshub_new: %s\n", wshub_last_error());
        exit(1);
    }
    return hub;
}

/* Starts tests/c/client.mjs and waits for its READY line. */
static FILE *start_client(const char *args) {
    char cmd[512], line[256];
    FILE *p;
    snprintf(cmd, sizeof cmd, "node tests/c/client.mjs %s", args);
    p = popen(cmd, "r");
    if (!p) return NULL;
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "READY", 5) == 0) return p;
        fprintf(stderr, "  client: %s", line);
    }
    pclose(p);
    return NULL;
}

/* Reads the client's last line and its exit status. */
static int finish_client(FILE *p, char *last, size_t cap) {
    char line[256];
    last[0] = '\0';
    while (fgets(line, sizeof line, p)) snprintf(last, cap, "%s", line);
    return pclose(p);
}

/* ---- bad calls get a status, never a crash ---- */
static void test_bad_calls(void) {
    int ok = 1;
    wshub_t *hub = NULL, *untouched = (wshub_t *)0x1;
    wshub_config cfg = wshub_config_default();
    const char bad_utf8[] = {(char)0xff, (char)0xfe, 0};
    char *out = NULL;

    EXPECT(wshub_new(NULL, &hub) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_new(&cfg, NULL) == WSHUB_NULL_ARGUMENT);
    cfg.path = "no-slashes";
    EXPECT(wshub_new(&cfg, &untouched) == WSHUB_INVALID_CONFIG);
    EXPECT(untouched == (wshub_t *)0x1); /* out-params only on success */
    EXPECT(strstr(wshub_last_error(), "path") != NULL);
    cfg = wshub_config_default();
    cfg.host = "not an address";
    EXPECT(wshub_new(&cfg, &hub) == WSHUB_INVALID_CONFIG);
    cfg = wshub_config_default();
    cfg.metrics_path = "/metrics"; /* open to all: refused */
    EXPECT(wshub_new(&cfg, &hub) == WSHUB_INVALID_CONFIG);
    EXPECT(strstr(wshub_last_error(), "metrics_token or metrics_allow") != NULL);
    cfg.metrics_allow = "127.0.0.1, not-an-ip";
    EXPECT(wshub_new(&cfg, &hub) == WSHUB_INVALID_CONFIG);
    EXPECT(strstr(wshub_last_error(), "not-an-ip") != NULL);
    cfg = wshub_config_default();
    cfg.admin_username = "admin"; /* without admin_password */
    EXPECT(wshub_new(&cfg, &hub) == WSHUB_INVALID_CONFIG);
    EXPECT(strstr(wshub_last_error(), "admin_username and admin_password go together") != NULL);
    EXPECT(wshub_metrics(NULL, &out) == WSHUB_NULL_ARGUMENT);
    EXPECT(out == NULL);

    hub = new_hub();
    EXPECT(wshub_start(NULL, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_on(hub, NULL, "x", NULL, NULL, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_start(hub, NULL) == WSHUB_OK);
    EXPECT(wshub_start(hub, NULL) == WSHUB_ALREADY_RUNNING);
    EXPECT(wshub_emit(hub, NULL, NULL, NULL, 0, NULL, 0, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_emit(hub, NULL, bad_utf8, NULL, 0, NULL, 0, NULL) == WSHUB_INVALID_ARGUMENT);
    EXPECT(wshub_emit(hub, NULL, "e", "{\"not\":\"an array\"}", 17, NULL, 0, NULL) == WSHUB_INVALID_ARGUMENT);
    EXPECT(wshub_emit(hub, NULL, "e", "[1,", 3, NULL, 0, NULL) == WSHUB_INVALID_ARGUMENT);
    EXPECT(wshub_emit(hub, NULL, "e", NULL, 0, NULL, 2, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_emit_to(hub, "/", "no-such-socket", "e", NULL, 0, NULL, 0) == WSHUB_NOT_FOUND);
    EXPECT(wshub_join(hub, "/", "no-such-socket", "room") == WSHUB_NOT_FOUND);
    EXPECT(wshub_socket_info(hub, "/", "no-such-socket", &out) == WSHUB_NOT_FOUND);
    EXPECT(out == NULL);
    EXPECT(wshub_metrics(hub, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_connect_decide(hub, 12345, true, NULL) == WSHUB_NOT_FOUND);
    EXPECT(wshub_connect_refuse(hub, 12345, "no", "{\"a\":1}", 7) == WSHUB_NOT_FOUND);
    EXPECT(wshub_connect_refuse(hub, 12345, "no", "{\"a\":", 5) == WSHUB_INVALID_ARGUMENT);
    EXPECT(wshub_connect_refuse(hub, 12345, "no", NULL, 3) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_test_panic() == WSHUB_PANIC);
    EXPECT(strstr(wshub_last_error(), "panic") != NULL);
    EXPECT(wshub_stop(hub, 100) == WSHUB_OK);
    EXPECT(wshub_stop(hub, 100) == WSHUB_OK);
    EXPECT(wshub_emit(hub, NULL, "late", NULL, 0, NULL, 0, NULL) == WSHUB_STOPPED);
    EXPECT(wshub_start(hub, NULL) == WSHUB_STOPPED);
    wshub_free(hub);
    wshub_free(NULL);
    wshub_string_free(NULL);
    wshub_event_free(NULL);
    EXPECT(wshub_event_retain(NULL) == NULL);
    report(ok, "bad calls get a status, never a crash");
}

/* ---- two hubs, 8 threads emitting into one of them ---- */
typedef struct { wshub_t *hub; int thread; int count; int failures; } emitter;

static void *emit_loop(void *arg) {
    emitter *e = arg;
    char json[64];
    int i;
    for (i = 0; i < e->count; i++) {
        int n = snprintf(json, sizeof json, "[%d,%d]", e->thread, i);
        if (wshub_emit(e->hub, NULL, "tick", json, (size_t)n, NULL, 0, NULL) != WSHUB_OK) e->failures++;
    }
    return NULL;
}

static void test_two_hubs_and_eight_emitting_threads(void) {
    int ok = 1, i, status_a, status_b;
    uint16_t port_a = 0, port_b = 0;
    wshub_t *a = new_hub(), *b = new_hub();
    char args[128], last[256];
    FILE *ca, *cb;
    pthread_t threads[8];
    emitter e[8];

    EXPECT(wshub_start(a, &port_a) == WSHUB_OK);
    EXPECT(wshub_start(b, &port_b) == WSHUB_OK);
    EXPECT(port_a != port_b && port_a != 0 && port_b != 0);
    snprintf(args, sizeof args, "count %u tick 8000", (unsigned)port_a);
    ca = start_client(args);
    snprintf(args, sizeof args, "count %u tick 100", (unsigned)port_b);
    cb = start_client(args);
    EXPECT(ca && cb);
    for (i = 0; i < 8; i++) {
        e[i].hub = a; e[i].thread = i; e[i].count = 1000; e[i].failures = 0;
        pthread_create(&threads[i], NULL, emit_loop, &e[i]);
    }
    for (i = 0; i < 8; i++) pthread_join(threads[i], NULL);
    for (i = 0; i < 8; i++) EXPECT(e[i].failures == 0);
    {
        emitter one = {b, 99, 100, 0};
        emit_loop(&one);
        EXPECT(one.failures == 0);
    }
    if (ca) {
        status_a = finish_client(ca, last, sizeof last);
        EXPECT(status_a == 0);
        if (status_a != 0) fprintf(stderr, "  client said: %s", last);
        EXPECT(strncmp(last, "GOT 8000 DISTINCT 8000", 22) == 0);
    }
    if (cb) {
        status_b = finish_client(cb, last, sizeof last);
        EXPECT(status_b == 0);
    }
    EXPECT(wshub_stop(a, 200) == WSHUB_OK);
    EXPECT(wshub_stop(b, 200) == WSHUB_OK);
    wshub_free(a);
    wshub_free(b);
    report(ok, "two hubs on two ports; 8 threads emit 8000 events into one, all arrive");
}

/* ---- stop and free while a client is connected and a thread emits ---- */
/* All of these under `shared`. */
static int finalized;
static int ack_status = -1;
static int connected;
static char connected_id[64];
static wshub_event *retained;
static int disconnects;
static char last_reason[64];

static void count_finalize(void *ud) {
    (void)ud;
    pthread_mutex_lock(&shared);
    finalized++;
    pthread_mutex_unlock(&shared);
}

static void on_ack(void *ud, wshub_status status, const wshub_event *reply) {
    (void)ud;
    (void)reply;
    pthread_mutex_lock(&shared);
    ack_status = (int)status;
    pthread_mutex_unlock(&shared);
}

static void on_connection(void *ud, const char *id, const char *ns) {
    (void)ud; (void)ns;
    pthread_mutex_lock(&shared);
    snprintf(connected_id, sizeof connected_id, "%s", id);
    connected = 1;
    pthread_cond_broadcast(&shared_changed);
    pthread_mutex_unlock(&shared);
}

static void on_disconnect(void *ud, const char *id, const char *ns, const char *reason) {
    (void)ud; (void)id; (void)ns;
    pthread_mutex_lock(&shared);
    disconnects++;
    snprintf(last_reason, sizeof last_reason, "%s", reason);
    pthread_mutex_unlock(&shared);
}

static void on_any(void *ud, const wshub_event *ev) {
    (void)ud;
    pthread_mutex_lock(&shared);
    if (!retained) retained = wshub_event_retain(ev);
    pthread_mutex_unlock(&shared);
}

typedef struct { wshub_t *hub; volatile int stop_seen; long emitted; } stopper;
static void *emit_until_stopped(void *arg) {
    stopper *s = arg;
    while (!s->stop_seen) {
        wshub_status st = wshub_emit(s->hub, NULL, "spam", "[1]", 3, NULL, 0, NULL);
        if (st == WSHUB_STOPPED) s->stop_seen = 1;
        else s->emitted++;
    }
    return NULL;
}

static void test_stop_and_free_under_load(void) {
    int ok = 1, status;
    uint16_t port = 0;
    wshub_t *hub = new_hub();
    char args[64], last[256], id[64];
    FILE *client;
    pthread_t t;
    stopper s;

    pthread_mutex_lock(&shared);
    finalized = 0;
    pthread_mutex_unlock(&shared);
    EXPECT(wshub_on_connection(hub, NULL, on_connection, NULL, count_finalize) == WSHUB_OK);
    EXPECT(wshub_on_disconnect(hub, NULL, on_disconnect, NULL, count_finalize) == WSHUB_OK);
    EXPECT(wshub_on(hub, NULL, NULL, on_any, NULL, count_finalize) == WSHUB_OK);
    EXPECT(wshub_start(hub, &port) == WSHUB_OK);
    snprintf(args, sizeof args, "hold %u", (unsigned)port);
    client = start_client(args);
    EXPECT(client != NULL);
    pthread_mutex_lock(&shared); /* the connection callback runs on the dispatcher */
    EXPECT(wait_locked(&connected, 5000));
    snprintf(id, sizeof id, "%s", connected_id);
    pthread_mutex_unlock(&shared);
    EXPECT(wshub_emit_with_ack(hub, NULL, id, "ask", NULL, 0, NULL, 0, 10000, on_ack, NULL) == WSHUB_OK);
    s.hub = hub; s.stop_seen = 0; s.emitted = 0;
    pthread_create(&t, NULL, emit_until_stopped, &s);
    sleep_ms(50);
    EXPECT(wshub_stop(hub, 500) == WSHUB_OK);
    pthread_join(t, NULL);
    EXPECT(s.emitted > 0);
    pthread_mutex_lock(&shared);
    EXPECT(finalized == 3);             /* every userdata finalized, once */
    EXPECT(ack_status == WSHUB_DISCONNECTED); /* the pending ack ended before stop returned */
    EXPECT(disconnects == 1);
    EXPECT(strcmp(last_reason, "server shutting down") == 0);
    pthread_mutex_unlock(&shared);
    wshub_free(hub);
    pthread_mutex_lock(&shared);
    EXPECT(finalized == 3);
    pthread_mutex_unlock(&shared);
    if (client) {
        status = finish_client(client, last, sizeof last);
        EXPECT(status == 0);
        EXPECT(strstr(last, "DISCONNECT") != NULL);
    }
    pthread_mutex_lock(&shared);
    wshub_event_free(retained);
    retained = NULL;
    pthread_mutex_unlock(&shared);
    report(ok, "stop and free while a client is connected and a thread is emitting");
}

/* ---- dynamic namespaces: a resolver that registers the namespace it accepts ---- */

static wshub_t *dyn_hub;
static int dyn_asked, dyn_connected, dyn_removed; /* under `shared` */
static char dyn_removed_name[64];

static void dyn_on_connection(void *ud, const char *id, const char *ns) {
    (void)ud, (void)id, (void)ns;
    pthread_mutex_lock(&shared);
    dyn_connected++;
    pthread_cond_broadcast(&shared_changed);
    pthread_mutex_unlock(&shared);
}

static void dyn_resolve(void *ud, const wshub_connect_request *req) {
    (void)ud;
    pthread_mutex_lock(&shared);
    dyn_asked++;
    pthread_mutex_unlock(&shared);
    if (strncmp(req->name_space, "/dyn-", 5) == 0 &&
        wshub_on_connection(dyn_hub, req->name_space, dyn_on_connection, NULL, NULL) == WSHUB_OK) {
        wshub_connect_decide(dyn_hub, req->request_id, true, NULL);
    } else {
        wshub_connect_decide(dyn_hub, req->request_id, false, "Invalid namespace");
    }
}

static void dyn_on_removed(void *ud, const char *ns) {
    (void)ud;
    pthread_mutex_lock(&shared);
    dyn_removed++;
    snprintf(dyn_removed_name, sizeof dyn_removed_name, "%s", ns);
    pthread_cond_broadcast(&shared_changed);
    pthread_mutex_unlock(&shared);
}

static int auth_client(uint16_t port, const char *nsp, const char *token, char *last, size_t cap);

static void test_dynamic_namespaces(void) {
    int ok = 1;
    uint16_t port = 0;
    char last[256];
    wshub_config cfg = wshub_config_default();
    cfg.port = 0;
    cfg.worker_threads = 1;
    cfg.cleanup_empty_child_namespaces = true;
    EXPECT(wshub_new(&cfg, &dyn_hub) == WSHUB_OK);
    EXPECT(wshub_set_namespace_resolver(dyn_hub, NULL, NULL, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_set_namespace_resolver(dyn_hub, dyn_resolve, NULL, NULL) == WSHUB_OK);
    EXPECT(wshub_on_namespace_removed(dyn_hub, dyn_on_removed, NULL, NULL) == WSHUB_OK);
    EXPECT(wshub_start(dyn_hub, &port) == WSHUB_OK);

    EXPECT(auth_client(port, "/dyn-1", "t", last, sizeof last) == 0);
    EXPECT(strncmp(last, "CONNECTED", 9) == 0);
    auth_client(port, "/other", "t", last, sizeof last);
    EXPECT(strncmp(last, "CONNECT_ERROR Invalid namespace", 31) == 0);
    pthread_mutex_lock(&shared);
    EXPECT(wait_locked(&dyn_removed, 5000)); /* the client left: its empty namespace went */
    EXPECT(strcmp(dyn_removed_name, "/dyn-1") == 0);
    EXPECT(dyn_connected == 1 && dyn_asked == 2);
    pthread_mutex_unlock(&shared);
    EXPECT(auth_client(port, "/dyn-1", "t", last, sizeof last) == 0); /* made again, asked again */
    EXPECT(strncmp(last, "CONNECTED", 9) == 0);
    pthread_mutex_lock(&shared);
    EXPECT(dyn_asked == 3);
    pthread_mutex_unlock(&shared);
    EXPECT(wshub_stop(dyn_hub, 200) == WSHUB_OK);
    wshub_free(dyn_hub);
    report(ok, "dynamic namespaces: a resolver accepts and registers, refuses others; an empty one goes");
}

/* ---- the connect guard: decided in the callback, or later from another thread ---- */

static wshub_t *guard_hub; /* set before wshub_start */
static int guard_calls;     /* these four under `shared` */
static char guard_auth[256], guard_ns[64], guard_sid[64];
static int decided_later;   /* decide_later is done with guard_hub: it may be freed */

static void *decide_later(void *arg) {
    uint64_t id = *(uint64_t *)arg;
    free(arg);
    sleep_ms(20);
    wshub_connect_decide(guard_hub, id, true, NULL);
    pthread_mutex_lock(&shared);
    decided_later = 1;
    pthread_cond_broadcast(&shared_changed);
    pthread_mutex_unlock(&shared);
    return NULL;
}

static void admin_guard(void *ud, const wshub_connect_request *req) {
    pthread_t t;
    uint64_t *id;
    (void)ud;
    pthread_mutex_lock(&shared);
    guard_calls++;
    snprintf(guard_auth, sizeof guard_auth, "%s", req->auth_json);
    snprintf(guard_ns, sizeof guard_ns, "%s", req->name_space);
    snprintf(guard_sid, sizeof guard_sid, "%s", req->socket_id);
    pthread_mutex_unlock(&shared);
    if (strstr(req->auth_json, "\"token\":\"secret\"")) {
        wshub_connect_decide(guard_hub, req->request_id, true, NULL);
    } else if (strstr(req->auth_json, "\"token\":\"later\"") && (id = malloc(sizeof *id)) != NULL) {
        *id = req->request_id;
        if (pthread_create(&t, NULL, decide_later, id) == 0) pthread_detach(t);
        else free(id), wshub_connect_decide(guard_hub, req->request_id, false, "no thread");
    } else {
        wshub_connect_decide(guard_hub, req->request_id, false, "unauthorized");
    }
}

/* Runs one client that joins `nsp` with `token` (no READY wait: a refused one never says it);
 * writes its last line, CONNECTED or CONNECT_ERROR, to `last` and returns its exit status. */
static int auth_client(uint16_t port, const char *nsp, const char *token, char *last, size_t cap) {
    char cmd[256];
    FILE *p;
    snprintf(cmd, sizeof cmd, "node tests/c/client.mjs auth %u %s %s", (unsigned)port, nsp, token);
    p = popen(cmd, "r");
    last[0] = '\0';
    return p ? finish_client(p, last, cap) : -1;
}

static void test_connect_guard(void) {
    int ok = 1;
    uint16_t port = 0;
    char last[256];
    guard_hub = new_hub();
    pthread_mutex_lock(&shared);
    guard_calls = 0;
    decided_later = 0;
    pthread_mutex_unlock(&shared);
    EXPECT(wshub_set_guard(guard_hub, "/admin", admin_guard, NULL, NULL) == WSHUB_OK);
    EXPECT(wshub_start(guard_hub, &port) == WSHUB_OK);

    auth_client(port, "/admin", "wrong", last, sizeof last);
    EXPECT(strncmp(last, "CONNECT_ERROR unauthorized", 26) == 0); /* the refusal's message reaches the client */
    pthread_mutex_lock(&shared);
    EXPECT(guard_calls == 1);
    EXPECT(strstr(guard_auth, "\"token\":\"wrong\"") != NULL); /* the guard sees the client's auth */
    EXPECT(strcmp(guard_ns, "/admin") == 0);
    EXPECT(strlen(guard_sid) == 20); /* the id the socket would have had */
    pthread_mutex_unlock(&shared);

    EXPECT(auth_client(port, "/admin", "secret", last, sizeof last) == 0); /* accepted inside the callback */
    EXPECT(strncmp(last, "CONNECTED", 9) == 0);
    EXPECT(auth_client(port, "/admin", "later", last, sizeof last) == 0); /* accepted later, from another thread */
    EXPECT(strncmp(last, "CONNECTED", 9) == 0);
    pthread_mutex_lock(&shared);
    EXPECT(guard_calls == 3);
    pthread_mutex_unlock(&shared);

    EXPECT(auth_client(port, "/", "anything", last, sizeof last) == 0); /* an unguarded namespace admits everyone */
    EXPECT(strncmp(last, "CONNECTED", 9) == 0);
    pthread_mutex_lock(&shared);
    EXPECT(guard_calls == 3);
    EXPECT(wait_locked(&decided_later, 5000)); /* the detached thread's last use of guard_hub */
    pthread_mutex_unlock(&shared);
    EXPECT(wshub_stop(guard_hub, 200) == WSHUB_OK);
    {
        /* The metrics saw it all: counters outlive the stop. Fields in the order wshub_metrics documents. */
        char *metrics = NULL;
        const char *admin = NULL;
        EXPECT(wshub_metrics(guard_hub, &metrics) == WSHUB_OK && metrics != NULL);
        if (metrics) admin = strstr(metrics, "{\"name\":\"/admin\"");
        EXPECT(admin && strstr(admin, "\"connects\":2,\"connect_refusals\":1,") != NULL);
        EXPECT(metrics && strstr(metrics, "\"connections\":{\"polling\":0,\"websocket\":0,\"raw\":0}") != NULL);
        EXPECT(metrics && strstr(metrics, "\"connections_opened\":{\"polling\":0,\"websocket\":4,\"raw\":0}") != NULL);
        wshub_string_free(metrics);
    }
    wshub_free(guard_hub);
    report(ok, "connect guard: refuse with a message, accept at once or later from another thread; wshub_metrics counts it");
}


/* ---- host-served mode: the calls a host's own HTTP server makes ---- */
typedef struct { pthread_mutex_t lock; int calls; unsigned status; size_t body_len; } answer;

static void on_answer(void *userdata, const wshub_http_response *resp) {
    answer *a = userdata;
    pthread_mutex_lock(&a->lock);
    a->calls++;
    a->status = resp->status;
    a->body_len = resp->body.len;
    pthread_mutex_unlock(&a->lock);
}

static int answer_calls(answer *a) {
    pthread_mutex_lock(&a->lock);
    int n = a->calls;
    pthread_mutex_unlock(&a->lock);
    return n;
}

static int wait_answer(answer *a, int calls) {
    for (int i = 0; i < 500 && answer_calls(a) < calls; i++) sleep_ms(10);
    return answer_calls(a) == calls;
}

static void test_host_calls(void) {
    int ok = 1, pair[2];
    bool serves = false;
    answer a = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
    wshub_header headers[] = {{"Host", "x"}, {"Accept", "*/*"}};
    wshub_http_request req = {"GET", "/socket.io/?EIO=4&transport=polling", headers, 2, {NULL, 0}, "127.0.0.1:5000"};
    wshub_t *hub = new_hub();

    EXPECT(wshub_serves_path(hub, "/socket.io/", &serves) == WSHUB_OK && serves);
    EXPECT(wshub_serves_path(hub, "/ws", &serves) == WSHUB_OK && serves);
    EXPECT(wshub_serves_path(hub, "/api", &serves) == WSHUB_OK && !serves);
    EXPECT(wshub_serves_path(hub, NULL, &serves) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_adopt(hub, -1, NULL, 0) == WSHUB_INVALID_ARGUMENT);
    /* Not started: the descriptor is closed all the same (its peer sees EOF). */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    EXPECT(wshub_adopt(hub, pair[0], NULL, 0) == WSHUB_NOT_RUNNING);
    char byte;
    EXPECT(read(pair[1], &byte, 1) == 0);
    close(pair[1]);
    /* Not started: a request is answered 503, once. */
    EXPECT(wshub_handle_request(hub, &req, NULL, &a) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_handle_request(hub, NULL, on_answer, &a) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_handle_request(hub, &req, on_answer, &a) == WSHUB_OK);
    EXPECT(wait_answer(&a, 1) && a.status == 503);

    EXPECT(wshub_start_hosted(hub) == WSHUB_OK);
    EXPECT(wshub_start_hosted(hub) == WSHUB_ALREADY_RUNNING);
    /* A connected socket that is not TCP: refused, closed. */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    EXPECT(wshub_adopt(hub, pair[0], (const uint8_t *)"GET", 3) == WSHUB_IO_ERROR);
    EXPECT(read(pair[1], &byte, 1) == 0);
    close(pair[1]);
    /* Bytes said to be read but no buffer: refused, closed too. */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    EXPECT(wshub_adopt(hub, pair[0], NULL, 5) == WSHUB_NULL_ARGUMENT);
    EXPECT(read(pair[1], &byte, 1) == 0);
    close(pair[1]);
    /* A handshake through the host: 200 with the open packet. */
    EXPECT(wshub_handle_request(hub, &req, on_answer, &a) == WSHUB_OK);
    EXPECT(wait_answer(&a, 2) && a.status == 200 && a.body_len > 20);
    /* Bad parts: a clear status, no call. */
    req.headers = NULL;
    EXPECT(wshub_handle_request(hub, &req, on_answer, &a) == WSHUB_NULL_ARGUMENT);
    req.header_count = 0;
    req.remote_addr = "not an address";
    EXPECT(wshub_handle_request(hub, &req, on_answer, &a) == WSHUB_INVALID_ARGUMENT);
    req.remote_addr = NULL;
    req.url = "/socket.io/?EIO=3&transport=polling"; /* the hub's own answer: 400 */
    EXPECT(wshub_handle_request(hub, &req, on_answer, &a) == WSHUB_OK);
    EXPECT(wait_answer(&a, 3) && a.status == 400);
    EXPECT(wshub_stop(hub, 100) == WSHUB_OK);
    EXPECT(wshub_handle_request(hub, &req, on_answer, &a) == WSHUB_STOPPED);
    EXPECT(answer_calls(&a) == 3);
    wshub_free(hub);
    report(ok, "host calls: adopt and handle_request answer or refuse clearly, every completion once");
}

/* ---- relayed WebSockets: a host that keeps its sockets hands in messages ---- */
typedef struct {
    pthread_mutex_t lock;
    int events, accepted, refused_status, closed_code, freed;
    char last_text[256];
    char all_text[8192]; /* every text, one per line (cut when full) */
} relay_log;

static void on_relay(void *userdata, uint32_t kind, uint16_t code, const uint8_t *data, uintptr_t len) {
    relay_log *r = userdata;
    pthread_mutex_lock(&r->lock);
    r->events++;
    if (kind == WSHUB_RELAY_ACCEPTED) r->accepted = 1;
    if (kind == WSHUB_RELAY_REFUSED) r->refused_status = code;
    if (kind == WSHUB_RELAY_CLOSED) r->closed_code = code;
    if (kind == WSHUB_RELAY_TEXT) {
        size_t n = len < sizeof r->last_text - 1 ? len : sizeof r->last_text - 1;
        memcpy(r->last_text, data, n);
        r->last_text[n] = 0;
        size_t used = strlen(r->all_text);
        if (used + n + 2 < sizeof r->all_text) {
            memcpy(r->all_text + used, data, n);
            r->all_text[used + n] = '\n';
            r->all_text[used + n + 1] = 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

static void free_relay(void *userdata) {
    relay_log *r = userdata;
    pthread_mutex_lock(&r->lock);
    r->freed++;
    pthread_mutex_unlock(&r->lock);
}

/* Waits until the relay's last text starts with `prefix` (or, with NULL, until it closed or was refused). */
static int wait_relay(relay_log *r, const char *prefix) {
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&r->lock);
        int done = prefix ? strncmp(r->last_text, prefix, strlen(prefix)) == 0
                          : r->closed_code != 0 || r->refused_status != 0;
        pthread_mutex_unlock(&r->lock);
        if (done) return 1;
        sleep_ms(10);
    }
    return 0;
}

static int relay_freed(relay_log *r) {
    pthread_mutex_lock(&r->lock);
    int n = r->freed;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static void test_relay_calls(void) {
    int ok = 1;
    uint64_t id = 0, bad = 0;
    relay_log r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, "", ""};
    relay_log refused = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, "", ""};
    relay_log stopped = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, "", ""};
    wshub_header headers[] = {{"Origin", "http://localhost"}};
    wshub_http_request req = {"GET", "/socket.io/?EIO=4&transport=websocket", headers, 1, {NULL, 0}, "127.0.0.1:6000"};
    wshub_t *hub = new_hub();

    EXPECT(wshub_relay_open(hub, &req, on_relay, &r, free_relay, &id) == WSHUB_NOT_RUNNING);
    EXPECT(wshub_start_hosted(hub) == WSHUB_OK);
    EXPECT(wshub_relay_open(hub, NULL, on_relay, &r, free_relay, &id) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_relay_open(hub, &req, NULL, &r, free_relay, &id) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_relay_open(hub, &req, on_relay, &r, free_relay, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_relay_send(hub, 12345, false, (const uint8_t *)"40", 2) == WSHUB_NOT_FOUND);
    EXPECT(wshub_relay_close(hub, 12345) == WSHUB_NOT_FOUND);

    /* Accepted, the open packet, then a namespace connect and an event from the hub. */
    EXPECT(wshub_relay_open(hub, &req, on_relay, &r, free_relay, &id) == WSHUB_OK && id != 0);
    EXPECT(wait_relay(&r, "0{\"sid\""));
    EXPECT(wshub_relay_send(hub, id, false, (const uint8_t *)"40", 2) == WSHUB_OK);
    EXPECT(wait_relay(&r, "40{"));
    EXPECT(wshub_relay_send(hub, id, false, (const uint8_t *)"\xff", 1) == WSHUB_INVALID_ARGUMENT);
    EXPECT(wshub_relay_send(hub, id, false, NULL, 3) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_emit(hub, NULL, "news", "[1]", 3, NULL, 0, NULL) == WSHUB_OK);
    EXPECT(wait_relay(&r, "42[\"news\",1]"));
    /* The client goes: CLOSED, then the userdata is freed, once. */
    EXPECT(wshub_relay_close(hub, id) == WSHUB_OK);
    EXPECT(wait_relay(&r, NULL) && r.closed_code != 0);
    for (int i = 0; i < 100 && relay_freed(&r) == 0; i++) sleep_ms(10);
    EXPECT(relay_freed(&r) == 1);
    EXPECT(r.accepted == 1);
    EXPECT(wshub_relay_send(hub, id, false, (const uint8_t *)"40", 2) == WSHUB_NOT_FOUND);

    /* A refusal of the hub's own listener: an unknown sid is 400. */
    req.url = "/socket.io/?EIO=4&transport=websocket&sid=nope";
    EXPECT(wshub_relay_open(hub, &req, on_relay, &refused, free_relay, &bad) == WSHUB_OK);
    EXPECT(wait_relay(&refused, NULL) && refused.refused_status == 400 && refused.accepted == 0);
    for (int i = 0; i < 100 && relay_freed(&refused) == 0; i++) sleep_ms(10);
    EXPECT(relay_freed(&refused) == 1);

    /* Open when the hub stops: CLOSED 1001 arrives before wshub_stop returns. */
    req.url = "/socket.io/?EIO=4&transport=websocket";
    EXPECT(wshub_relay_open(hub, &req, on_relay, &stopped, free_relay, &id) == WSHUB_OK);
    EXPECT(wait_relay(&stopped, "0{"));
    EXPECT(wshub_stop(hub, 100) == WSHUB_OK);
    EXPECT(stopped.closed_code == 1001 && relay_freed(&stopped) == 1);
    EXPECT(wshub_relay_open(hub, &req, on_relay, &stopped, free_relay, &id) == WSHUB_STOPPED);
    wshub_free(hub);
    report(ok, "relay calls: accept, messages both ways, refuse, close and stop, every userdata freed once");
}

/* Copies the JSON string value of `key` in `json` into out (size n); 0 if absent. */
static int json_string(const char *json, const char *key, char *out, size_t n) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (!p) return 0;
    p += strlen(pattern);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= n) return 0;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = 0;
    return 1;
}

/* Connection state recovery seen from C, a client played through a relay:
 * it drops, events go out, it comes back with {pid, offset}. */
static void test_recovery(void) {
    int ok = 1;
    uint64_t id = 0;
    char sid[64] = "", pid[64] = "", offset[32] = "", claim[256], *info = NULL;
    relay_log first = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, "", ""};
    relay_log back = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, "", ""};
    wshub_http_request req = {"GET", "/socket.io/?EIO=4&transport=websocket", NULL, 0, {NULL, 0}, "127.0.0.1:7000"};
    wshub_t *hub = NULL;
    wshub_config cfg = wshub_config_default();
    cfg.recovery_ms = 30000;
    EXPECT(wshub_new(&cfg, &hub) == WSHUB_OK && wshub_start_hosted(hub) == WSHUB_OK);

    EXPECT(wshub_relay_open(hub, &req, on_relay, &first, free_relay, &id) == WSHUB_OK);
    EXPECT(wait_relay(&first, "0{"));
    EXPECT(wshub_relay_send(hub, id, false, (const uint8_t *)"40", 2) == WSHUB_OK);
    EXPECT(wait_relay(&first, "40{"));
    pthread_mutex_lock(&first.lock);
    EXPECT(json_string(first.last_text, "sid", sid, sizeof sid) && json_string(first.last_text, "pid", pid, sizeof pid));
    pthread_mutex_unlock(&first.lock);
    EXPECT(wshub_emit(hub, NULL, "tick", "[0]", 3, NULL, 0, NULL) == WSHUB_OK);
    EXPECT(wait_relay(&first, "42[\"tick\",0,\""));
    pthread_mutex_lock(&first.lock);
    /* 42["tick",0,"<offset>"] */
    const char *o = strrchr(first.last_text, ',');
    if (o && strlen(o) > 4 && strlen(o) - 4 < sizeof offset) {
        memcpy(offset, o + 2, strlen(o) - 4);
        offset[strlen(o) - 4] = 0;
    }
    pthread_mutex_unlock(&first.lock);
    EXPECT(offset[0] != 0);
    EXPECT(wshub_relay_close(hub, id) == WSHUB_OK); /* the connection drops: "transport close" */
    EXPECT(wait_relay(&first, NULL));
    EXPECT(wshub_emit(hub, NULL, "tick", "[1]", 3, NULL, 0, NULL) == WSHUB_OK);
    EXPECT(wshub_emit_to(hub, NULL, sid, "tick", "[2]", 3, NULL, 0) == WSHUB_OK); /* away: kept for it */

    EXPECT(wshub_relay_open(hub, &req, on_relay, &back, free_relay, &id) == WSHUB_OK);
    EXPECT(wait_relay(&back, "0{"));
    snprintf(claim, sizeof claim, "40{\"pid\":\"%s\",\"offset\":\"%s\"}", pid, offset);
    EXPECT(wshub_relay_send(hub, id, false, (const uint8_t *)claim, strlen(claim)) == WSHUB_OK);
    EXPECT(wait_relay(&back, "40{"));
    pthread_mutex_lock(&back.lock);
    const char *t1 = strstr(back.all_text, "42[\"tick\",1,"), *t2 = strstr(back.all_text, "42[\"tick\",2,");
    const char *c = strstr(back.all_text, "\n40{");
    EXPECT(t1 && t2 && c && t1 < t2 && t2 < c); /* missed events first, in order, then the CONNECT answer */
    EXPECT(strstr(back.all_text, sid) != NULL);
    pthread_mutex_unlock(&back.lock);
    EXPECT(wshub_socket_info(hub, NULL, sid, &info) == WSHUB_OK && info && strstr(info, "\"recovered\":true"));
    wshub_string_free(info);
    EXPECT(wshub_stop(hub, 100) == WSHUB_OK);
    wshub_free(hub);
    report(ok, "connection state recovery: a client that drops and claims its session gets its id and missed events");
}

/* ---- inline delivery: callbacks on the hub's own threads, then `ready` ---- */

static int inl_connected, inl_disconnected, inl_on_worker, inl_readies, inl_unannounced, inl_after_stop;
static char inl_id[64];
static int inl_stopped; /* under `shared`: set once wshub_stop returned */

static int on_worker_thread(void) {
    char name[32] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    return strncmp(name, "wshub-worker", 12) == 0;
}

static void inl_on_connection(void *ud, const char *id, const char *ns) {
    (void)ud, (void)ns;
    pthread_mutex_lock(&shared);
    inl_connected++;
    inl_unannounced++;
    inl_on_worker += on_worker_thread();
    snprintf(inl_id, sizeof inl_id, "%s", id);
    if (inl_stopped) inl_after_stop++;
    pthread_mutex_unlock(&shared);
}

static void inl_on_disconnect(void *ud, const char *id, const char *ns, const char *reason) {
    (void)ud, (void)id, (void)ns, (void)reason;
    pthread_mutex_lock(&shared);
    inl_disconnected++;
    inl_unannounced++;
    if (inl_stopped) inl_after_stop++;
    pthread_mutex_unlock(&shared);
}

static void inl_ready(void *ud) {
    (void)ud;
    pthread_mutex_lock(&shared);
    inl_readies++;
    inl_unannounced = 0;
    if (inl_stopped) inl_after_stop++;
    pthread_cond_broadcast(&shared_changed);
    pthread_mutex_unlock(&shared);
}

static void test_deliver_inline(void) {
    int ok = 1, announced;
    uint16_t port = 0;
    wshub_t *hub = new_hub();
    char args[64], last[256];
    FILE *client;

    EXPECT(wshub_deliver_inline(NULL, inl_ready, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_deliver_inline(hub, NULL, NULL) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_deliver_inline(hub, inl_ready, NULL) == WSHUB_OK);
    EXPECT(wshub_deliver_inline(hub, inl_ready, NULL) == WSHUB_INVALID_ARGUMENT); /* set once */
    EXPECT(wshub_on_connection(hub, NULL, inl_on_connection, NULL, NULL) == WSHUB_OK);
    EXPECT(wshub_on_disconnect(hub, NULL, inl_on_disconnect, NULL, NULL) == WSHUB_OK);
    EXPECT(wshub_start(hub, &port) == WSHUB_OK);
    EXPECT(wshub_deliver_inline(hub, inl_ready, NULL) == WSHUB_ALREADY_RUNNING);
    snprintf(args, sizeof args, "hold %u", (unsigned)port);
    client = start_client(args);
    EXPECT(client != NULL);
    pthread_mutex_lock(&shared);
    EXPECT(wait_locked(&inl_connected, 5000));
    EXPECT(wait_locked(&inl_readies, 5000));
    EXPECT(inl_on_worker == inl_connected); /* ran on the runtime's worker, no dispatcher hop */
    EXPECT(inl_unannounced == 0);           /* and `ready` followed it */
    pthread_mutex_unlock(&shared);
    /* Stop closes the client; its disconnect runs inline too, followed by `ready`, before stop returns. */
    EXPECT(wshub_stop(hub, 500) == WSHUB_OK);
    pthread_mutex_lock(&shared);
    inl_stopped = 1;
    EXPECT(inl_disconnected == 1);
    EXPECT(inl_unannounced == 0);
    announced = inl_readies;
    pthread_mutex_unlock(&shared);
    sleep_ms(100);
    pthread_mutex_lock(&shared);
    EXPECT(inl_after_stop == 0 && inl_readies == announced); /* nothing runs once stop returned */
    pthread_mutex_unlock(&shared);
    wshub_free(hub);
    if (client) {
        EXPECT(finish_client(client, last, sizeof last) == 0);
        EXPECT(strstr(last, "DISCONNECT") != NULL);
    }
    report(ok, "inline delivery: callbacks on a worker, each burst followed by ready, none after stop");
}

/* ---- emit by socket handle ---- */

static int eh_connected; /* under `shared` */
static char eh_id[64];

static void eh_on_connection(void *ud, const char *id, const char *ns) {
    (void)ud, (void)ns;
    pthread_mutex_lock(&shared);
    snprintf(eh_id, sizeof eh_id, "%s", id);
    eh_connected = 1;
    pthread_cond_broadcast(&shared_changed);
    pthread_mutex_unlock(&shared);
}

static void test_emit_to_socket(void) {
    int ok = 1, i, gone = 0;
    uint16_t port = 0;
    uint64_t handle = 0;
    wshub_t *hub = new_hub();
    char args[64], last[256], id[64], json[32], *info = NULL;
    const char *at;
    FILE *client;

    EXPECT(wshub_on_connection(hub, NULL, eh_on_connection, NULL, NULL) == WSHUB_OK);
    EXPECT(wshub_start(hub, &port) == WSHUB_OK);
    snprintf(args, sizeof args, "count %u h 3", (unsigned)port);
    client = start_client(args);
    EXPECT(client != NULL);
    pthread_mutex_lock(&shared);
    EXPECT(wait_locked(&eh_connected, 5000));
    snprintf(id, sizeof id, "%s", eh_id);
    pthread_mutex_unlock(&shared);
    /* The handle is in the socket's info (and in each of its events' socket_handle). */
    EXPECT(wshub_socket_info(hub, NULL, id, &info) == WSHUB_OK);
    at = info ? strstr(info, "\"handle\":") : NULL;
    EXPECT(at != NULL);
    if (at) handle = strtoull(at + 9, NULL, 10);
    wshub_string_free(info);
    EXPECT(handle > 0);
    EXPECT(wshub_emit_to_socket(hub, handle + 1000000, "h", "[0,0]", 5, NULL, 0) == WSHUB_NOT_FOUND);
    EXPECT(wshub_emit_to_socket(hub, handle, "h", "[0", 2, NULL, 0) == WSHUB_INVALID_ARGUMENT);
    EXPECT(wshub_emit_to_socket(hub, handle, NULL, "[]", 2, NULL, 0) == WSHUB_NULL_ARGUMENT);
    EXPECT(wshub_emit_to_socket(NULL, handle, "h", "[]", 2, NULL, 0) == WSHUB_NULL_ARGUMENT);
    for (i = 0; i < 3; i++) {
        int n = snprintf(json, sizeof json, "[9,%d]", i);
        EXPECT(wshub_emit_to_socket(hub, handle, "h", json, (size_t)n, NULL, 0) == WSHUB_OK);
    }
    if (client) {
        EXPECT(finish_client(client, last, sizeof last) == 0); /* it got the 3, distinct */
        EXPECT(strstr(last, "GOT 3 DISTINCT 3") != NULL);
    }
    /* Once it left, its handle finds nothing (and is never given to another socket). */
    for (i = 0; i < 100 && !gone; i++) {
        gone = wshub_emit_to_socket(hub, handle, "h", "[]", 2, NULL, 0) == WSHUB_NOT_FOUND;
        if (!gone) sleep_ms(50);
    }
    EXPECT(gone);
    wshub_free(hub);
    report(ok, "emit to a socket by its handle; bad calls and a handle that left get a status");
}

int main(void) {
    test_bad_calls();
    test_host_calls();
    test_relay_calls();
    test_recovery();
    test_connect_guard();
    test_dynamic_namespaces();
    test_two_hubs_and_eight_emitting_threads();
    test_stop_and_free_under_load();
    test_deliver_inline();
    test_emit_to_socket();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
