/*
 * wshub's Node addon: plain N-API over the C ABI of include/wshub.h.
 *
 * Threads. Each callback here copies what it was given into an item
 * (wshub_event_retain for events with attachments and ack replies, one copy
 * for the rest) and appends it to this hub's queue. That is all they do, so
 * they run inline on the hub's own threads (wshub_deliver_inline), not on its
 * dispatcher thread: an event saves that hop. After a burst of them the hub
 * calls on_ready, which wakes the JS thread through a
 * napi_threadsafe_function if the queue holds something not yet announced.
 * On the JS thread, call_js takes the whole queue at once and hands it to
 * the JS dispatch function in ONE call: the JSON of its events' args, then
 * STRIDE values per item as the call's arguments (no array filled slot
 * by slot: napi_set_element was a tenth of the echo's cost), so a busy hub
 * pays one wake-up and one JS call per batch, not per event. The hub never
 * waits for JS.
 *
 * Lifetime. A `hub_state` is shared by the JS external (its finalizer) and
 * the threadsafe function (its finalizer): freed when both are gone.
 * stop() runs wshub_stop on a libuv worker (it blocks until every hub thread
 * is joined) while the JS thread keeps draining the disconnects it produces;
 * its completion drains the rest, frees the hub, releases the threadsafe
 * function (so the process may exit) and calls back. An env cleanup hook
 * stops a hub that is still running when the environment goes away (e.g.
 * after io.unref()), before the objects behind the callbacks are destroyed.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wshub.h"

enum { K_EVENT = 0, K_CONNECT = 1, K_DISCONNECT = 2, K_GUARD = 3, K_ACK = 4, K_RESPONSE = 5, K_RESOLVE = 6, K_REMOVED = 7, K_UPGRADE = 8, K_ALLOW = 9, K_ERROR = 10, K_PACKET = 11, K_ABANDONED = 12, K_KINDS };
#define STRIDE 7

typedef struct item {
    struct item *next;
    int kind;
    int status;
    uint64_t num;    /* GUARD, RESOLVE: request id; ACK, RESPONSE: token */
    wshub_event *ev; /* EVENT, ACK (retained; NULL for an ack without reply) */
    char *s[5];      /* CONNECT, UPGRADE: ns, sid; DISCONNECT: ns, sid, reason; ERROR: ns, sid, message; ABANDONED: ns, sid, reason; GUARD, RESOLVE: ns, auth, remote, url, sid;
                        REMOVED: ns; ALLOW: remote, url, headers (JSON); PACKET: ns, sid, kind, data;
                        RESPONSE: headers as "name\nvalue\n" pairs, body */
    size_t body_len; /* RESPONSE: the length of s[1]; PACKET: of s[3]; EVENT (inline): of the args */
    int inline_s;    /* s[] point into text[] (not freed one by one) */
    int has_ack;     /* EVENT (inline) */
    uint64_t ack_id; /* EVENT (inline) */
    char text[];     /* EVENT without attachments: ns, sid, name, args, each NUL-terminated */
} item;

typedef struct {
    wshub_t *hub;                   /* NULL once freed */
    napi_threadsafe_function tsfn;  /* NULL once released */
    pthread_mutex_t lock;
    item *head, *tail;
    int wake_pending;
    int inline_delivery; /* callbacks run on the hub's threads; on_ready wakes JS */
    int refs;        /* the external and the threadsafe function */
    int stopping;    /* a stop is under way on a worker */
    int stop_done;   /* the worker's wshub_stop returned (under lock) */
    pthread_cond_t stopped;
    int started;
    int referenced;  /* the tsfn keeps the loop alive (started and not unref'd) */
    int user_unref;
    int cleanup_hook;
    uint32_t grace_ms;
    napi_async_work work;
    napi_ref stop_cb;
} hub_state;

/* ---------- small helpers ---------- */

#define CHECK(call)                                                        \
    do {                                                                   \
        if ((call) != napi_ok) {                                           \
            throw_last(env, #call);                                        \
            return NULL;                                                   \
        }                                                                  \
    } while (0)

static void throw_last(napi_env env, const char *what) {
    const napi_extended_error_info *info = NULL;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, NULL, info && info->error_message ? info->error_message : what);
}

/* Throws "wshub: <status>: <last error>" for a failed wshub call. */
static void throw_status(napi_env env, wshub_status status) {
    char msg[1024];
    snprintf(msg, sizeof msg, "wshub: %s: %s", wshub_status_str(status), wshub_last_error());
    napi_throw_error(env, NULL, msg);
}

static char *dup_str(const char *s) {
    size_t n = s ? strlen(s) : 0;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static void free_item(item *it) {
    int i;
    if (it->ev) wshub_event_free(it->ev);
    if (!it->inline_s)
        for (i = 0; i < 5; i++) free(it->s[i]);
    free(it);
}

static void free_items(item *it) {
    while (it) {
        item *next = it->next;
        free_item(it);
        it = next;
    }
}

static void state_unref(hub_state *st) {
    if (--st->refs > 0) return;
    if (st->hub) {
        wshub_free(st->hub); /* not expected: the hub is freed by stop or the cleanup hook */
        st->hub = NULL;
    }
    free_items(st->head);
    pthread_cond_destroy(&st->stopped);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* ---------- the dispatcher side (any thread but JS's) ---------- */

/* Wakes the JS thread if something is queued and it was not woken yet. The
 * tsfn is released only after wshub_stop returned, i.e. after the last
 * callback and the last on_ready: it is valid whenever they run. */
static void wake_js(hub_state *st) {
    int wake = 0;
    napi_threadsafe_function tsfn;
    pthread_mutex_lock(&st->lock);
    if (st->head && !st->wake_pending) st->wake_pending = wake = 1;
    tsfn = st->tsfn;
    pthread_mutex_unlock(&st->lock);
    if (wake && tsfn) napi_call_threadsafe_function(tsfn, NULL, napi_tsfn_nonblocking);
}

/* The callbacks run inline, on the hub's threads (wshub_deliver_inline):
 * they only queue; the hub calls this once a burst of them is over. */
static void on_ready(void *ud) { wake_js(ud); }

static void push(hub_state *st, item *it) {
    pthread_mutex_lock(&st->lock);
    it->next = NULL;
    if (st->tail) st->tail->next = it; else st->head = it;
    st->tail = it;
    pthread_mutex_unlock(&st->lock);
    if (!st->inline_delivery) wake_js(st);
}

static item *new_item(int kind) {
    item *it = calloc(1, sizeof *it);
    if (it) it->kind = kind;
    return it;
}

/* An event without attachments (nearly all) is copied into its item, one
 * allocation: its name and its arguments; JS finds the socket by its handle
 * (num). One with attachments is retained. */
static void on_event(void *ud, const wshub_event *ev) {
    const char *parts[2];
    size_t lens[2], total = 0, at = 0;
    item *it;
    int i;
    if (ev->attachment_count) {
        it = new_item(K_EVENT);
        if (!it) return;
        it->ev = wshub_event_retain(ev);
        if (!it->ev) { free(it); return; }
        push(ud, it);
        return;
    }
    parts[0] = ev->name;
    parts[1] = ev->args_json ? ev->args_json : "[]";
    for (i = 0; i < 2; i++) {
        lens[i] = i == 1 ? (ev->args_json ? ev->args_len : 2) : (parts[i] ? strlen(parts[i]) : 0);
        total += lens[i] + 1;
    }
    it = malloc(sizeof *it + total);
    if (!it) return;
    memset(it, 0, sizeof *it);
    it->kind = K_EVENT;
    it->inline_s = 1;
    it->num = ev->socket_handle;
    for (i = 0; i < 2; i++) {
        it->s[i] = it->text + at;
        if (lens[i]) memcpy(it->text + at, parts[i], lens[i]);
        it->text[at + lens[i]] = 0;
        at += lens[i] + 1;
    }
    it->body_len = lens[1];
    it->has_ack = ev->has_ack;
    it->ack_id = ev->ack_id;
    push(ud, it);
}

static void push_socket(void *ud, const char *sid, const char *ns, int kind) {
    item *it = new_item(kind);
    if (!it) return;
    it->s[0] = dup_str(ns);
    it->s[1] = dup_str(sid);
    push(ud, it);
}

static void on_connection(void *ud, const char *sid, const char *ns) { push_socket(ud, sid, ns, K_CONNECT); }

static void on_upgrade(void *ud, const char *sid, const char *ns) { push_socket(ud, sid, ns, K_UPGRADE); }

/* One item per packet; status holds its flags (bit 0 binary, 1 compress,
 * 2 shared, 3 websocket, 4 deflated). */
static void on_packets(void *ud, const char *sid, const char *ns, const wshub_packet *packets, uintptr_t count) {
    uintptr_t i;
    for (i = 0; i < count; i++) {
        const wshub_packet *p = &packets[i];
        item *it = new_item(K_PACKET);
        if (!it) return;
        it->s[0] = dup_str(ns);
        it->s[1] = dup_str(sid);
        it->s[2] = dup_str(p->kind);
        it->s[3] = malloc(p->data.len ? p->data.len : 1);
        if (it->s[3] && p->data.len) memcpy(it->s[3], p->data.data, p->data.len);
        it->body_len = p->data.len;
        it->status = (p->binary ? 1 : 0) | (p->compress ? 2 : 0) | (p->shared ? 4 : 0) | (p->websocket ? 8 : 0) |
                     (p->deflated ? 16 : 0);
        push(ud, it);
    }
}

static void push_socket_text(void *ud, const char *sid, const char *ns, const char *text, int kind) {
    item *it = new_item(kind);
    if (!it) return;
    it->s[0] = dup_str(ns);
    it->s[1] = dup_str(sid);
    it->s[2] = dup_str(text);
    push(ud, it);
}

static void on_disconnect(void *ud, const char *sid, const char *ns, const char *reason) {
    push_socket_text(ud, sid, ns, reason, K_DISCONNECT);
}

static void on_error(void *ud, const char *sid, const char *ns, const char *message) {
    push_socket_text(ud, sid, ns, message, K_ERROR);
}

static void on_abandoned(void *ud, const char *sid, const char *ns, const char *reason) {
    push_socket_text(ud, sid, ns, reason, K_ABANDONED);
}

static void push_request(void *ud, const wshub_connect_request *req, int kind) {
    item *it = new_item(kind);
    if (!it) return;
    it->num = req->request_id;
    it->s[0] = dup_str(req->name_space);
    it->s[1] = dup_str(req->auth_json);
    it->s[2] = dup_str(req->remote_addr);
    it->s[3] = dup_str(req->url);
    it->s[4] = dup_str(req->socket_id);
    push(ud, it);
}

static void on_guard(void *ud, const wshub_connect_request *req) { push_request(ud, req, K_GUARD); }

static void on_resolve(void *ud, const wshub_connect_request *req) { push_request(ud, req, K_RESOLVE); }

static void on_handshake(void *ud, const wshub_handshake_request *req) {
    item *it = new_item(K_ALLOW);
    if (!it) return;
    it->num = req->request_id;
    it->s[0] = dup_str(req->remote_addr);
    it->s[1] = dup_str(req->url);
    it->s[2] = dup_str(req->headers_json);
    push(ud, it);
}

static void on_removed(void *ud, const char *name_space) {
    item *it = new_item(K_REMOVED);
    if (!it) return;
    it->s[0] = dup_str(name_space);
    push(ud, it);
}

/* The ack callback's userdata is the hub state; the token travels in a
 * small heap cell (userdata gets no finalizer: the callback runs once). */
typedef struct { hub_state *st; uint64_t token; } ack_cell;

static void on_ack(void *ud, wshub_status status, const wshub_event *reply) {
    ack_cell *cell = ud;
    item *it = new_item(K_ACK);
    if (!it) { free(cell); return; }
    it->num = cell->token;
    it->status = (int)status;
    if (reply) it->ev = wshub_event_retain(reply);
    push(cell->st, it);
    free(cell);
}

/* A host request's answer (see js_handle_request): copied into an item, the
 * token in a heap cell as for acks. Header names and values never hold a
 * newline (the hub drops such values), so "\n" separates them. */
static void on_response(void *ud, const wshub_http_response *resp) {
    ack_cell *cell = ud;
    item *it = new_item(K_RESPONSE);
    size_t n = 0, i, at = 0;
    if (!it) { free(cell); return; }
    it->num = cell->token;
    it->status = resp->status;
    for (i = 0; i < resp->header_count; i++) n += strlen(resp->headers[i].name) + strlen(resp->headers[i].value) + 2;
    it->s[0] = malloc(n + 1);
    it->s[1] = malloc(resp->body.len + 1);
    if (it->s[0]) {
        for (i = 0; i < resp->header_count; i++)
            at += (size_t)sprintf(it->s[0] + at, "%s\n%s\n", resp->headers[i].name, resp->headers[i].value);
        it->s[0][at] = 0;
    }
    if (it->s[1] && resp->body.len) memcpy(it->s[1], resp->body.data, resp->body.len);
    it->body_len = it->s[1] ? resp->body.len : 0;
    push(cell->st, it);
    free(cell);
}

/* ---------- the JS side ---------- */

static napi_value str_or_undef(napi_env env, const char *s) {
    napi_value v;
    if (s) napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
    else napi_get_undefined(env, &v);
    return v;
}

static napi_value attachments_of(napi_env env, const wshub_event *ev) {
    napi_value arr, buf;
    uintptr_t i;
    if (!ev || ev->attachment_count == 0) {
        napi_get_null(env, &arr);
        return arr;
    }
    napi_create_array_with_length(env, ev->attachment_count, &arr);
    for (i = 0; i < ev->attachment_count; i++) {
        void *data;
        const wshub_bytes *b = &ev->attachments[i];
        napi_create_buffer_copy(env, b->len, b->len ? (const void *)b->data : (const void *)"", &data, &buf);
        napi_set_element(env, arr, (uint32_t)i, buf);
    }
    return arr;
}

/* The event's arguments as JSON text ("[]" when it has none). */
static napi_value args_of(napi_env env, const wshub_event *ev) {
    napi_value v;
    napi_create_string_utf8(env, ev->args_json ? ev->args_json : "[]", ev->args_json ? ev->args_len : 2, &v);
    return v;
}

static napi_value num(napi_env env, double d) {
    napi_value v;
    napi_create_double(env, d, &v);
    return v;
}

/* Up to this many items go to `fn` as its arguments (STRIDE per item), which
 * V8 turns into the rest-parameter array itself; a longer batch (a burst of
 * connects) goes in calls of at most ARGV_ITEMS items, so that no call needs
 * a deep stack. */
#define ARGV_ITEMS 512

/* True when the n bytes at p are all ASCII (a word at a time). */
static int is_ascii(const char *p, size_t n) {
    size_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= (unsigned char)p[i];
    return (acc & 0x8080808080808080ULL) == 0;
}

/* A JS string of UTF-8 text. ASCII text (nearly all of it: ids, names, JSON)
 * is made as a one-byte string straight away; V8's UTF-8 decoder costs more
 * than this check. */
static void text_value(napi_env env, const char *p, size_t n, napi_value *out) {
    if (is_ascii(p, n)) napi_create_string_latin1(env, p, n, out);
    else napi_create_string_utf8(env, p, n, out);
}

/* The arguments of a call's events, as one JSON array of their args arrays:
 * JS parses it once per call, not once per event (a JSON.parse call and a
 * string per event cost about a fifth more than their share of one parse). */
typedef struct {
    char *p;
    size_t len, cap;
    uint32_t count;
    int failed;
} args_batch;

/* Appends one event's args (a JSON array); returns its index in the batch. */
static uint32_t batch_args(args_batch *b, const char *json, size_t len) {
    size_t need;
    if (!json || !len) json = "[]", len = 2;
    need = b->len + len + 2;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < need) cap *= 2;
        p = realloc(b->p, cap);
        if (!p) { b->failed = 1; return b->count++; }
        b->p = p;
        b->cap = cap;
    }
    if (!b->failed) {
        b->p[b->len++] = b->count ? ',' : '[';
        memcpy(b->p + b->len, json, len);
        b->len += len;
    }
    return b->count++;
}

/* The batch as a JS string (undefined without events), emptied for the next call. */
static napi_value batch_value(napi_env env, args_batch *b, napi_value undef) {
    napi_value v = undef;
    if (b->count && !b->failed) {
        b->p[b->len++] = ']'; /* room kept by batch_args */
        text_value(env, b->p, b->len, &v);
    }
    b->len = 0;
    b->count = 0;
    b->failed = 0;
    return v;
}

/* Hands everything queued to `fn`, STRIDE values per item (calls of at most
 * ARGV_ITEMS items, each after the JSON of its events' args); frees the items. */
static void drain(napi_env env, hub_state *st, napi_value fn) {
    item *list, *it;
    uint32_t n = 0, base = 0;
    napi_value undef, global, result, minus_one, kinds[K_KINDS];
    napi_value *argv;
    args_batch args = {NULL, 0, 0, 0, 0};
    int k;
    pthread_mutex_lock(&st->lock);
    list = st->head;
    st->head = st->tail = NULL;
    st->wake_pending = 0;
    pthread_mutex_unlock(&st->lock);
    if (!list) return;
    if (!env || !fn) { free_items(list); return; }
    for (it = list; it; it = it->next) n++;
    /* One call's values: its events' args, then STRIDE per item. */
    argv = malloc(((size_t)(n < ARGV_ITEMS ? n : ARGV_ITEMS) * STRIDE + 1) * sizeof *argv);
    if (!argv) { free_items(list); return; }
    napi_get_undefined(env, &undef);
    napi_get_global(env, &global);
    for (k = 0; k < K_KINDS; k++) kinds[k] = num(env, k);
    minus_one = num(env, -1);
    for (it = list; it; it = it->next) {
        napi_value *v = argv + 1 + base * STRIDE;
        int i;
        for (i = 0; i < STRIDE; i++) v[i] = undef;
        v[0] = kinds[it->kind];
        switch (it->kind) {
        case K_EVENT: {
            const wshub_event *ev = it->ev;
            /* handle, name, the index of its args in the call's args, attachments, ack id */
            if (!ev) {
                v[1] = num(env, (double)it->num);
                text_value(env, it->s[0], strlen(it->s[0]), &v[2]);
                v[3] = num(env, batch_args(&args, it->s[1], it->body_len));
                napi_get_null(env, &v[4]);
                v[5] = it->has_ack ? num(env, (double)it->ack_id) : minus_one;
                break;
            }
            v[1] = num(env, (double)ev->socket_handle);
            v[2] = str_or_undef(env, ev->name);
            v[3] = num(env, batch_args(&args, ev->args_json, ev->args_len));
            v[4] = attachments_of(env, ev);
            v[5] = ev->has_ack ? num(env, (double)ev->ack_id) : minus_one;
            break;
        }
        case K_CONNECT:
        case K_UPGRADE:
        case K_DISCONNECT:
        case K_ERROR:
        case K_ABANDONED:
            v[1] = str_or_undef(env, it->s[0]);
            v[2] = str_or_undef(env, it->s[1]);
            v[3] = str_or_undef(env, it->s[2]);
            break;
        case K_REMOVED:
            v[1] = str_or_undef(env, it->s[0]);
            break;
        case K_PACKET: {
            void *data;
            v[1] = str_or_undef(env, it->s[0]);
            v[2] = str_or_undef(env, it->s[1]);
            v[3] = str_or_undef(env, it->s[2]);
            if (it->status & 1)
                napi_create_buffer_copy(env, it->body_len, it->s[3] ? (const void *)it->s[3] : (const void *)"",
                                        &data, &v[4]);
            else
                napi_create_string_utf8(env, it->s[3] ? it->s[3] : "", it->s[3] ? it->body_len : 0, &v[4]);
            v[5] = num(env, it->status);
            break;
        }
        case K_ALLOW:
            v[1] = str_or_undef(env, it->s[0]);
            v[2] = num(env, (double)it->num);
            v[3] = str_or_undef(env, it->s[1]);
            v[4] = str_or_undef(env, it->s[2]);
            break;
        case K_GUARD:
        case K_RESOLVE:
            v[1] = str_or_undef(env, it->s[0]);
            v[2] = num(env, (double)it->num);
            v[3] = str_or_undef(env, it->s[1]);
            v[4] = str_or_undef(env, it->s[2]);
            v[5] = str_or_undef(env, it->s[3]);
            v[6] = str_or_undef(env, it->s[4]);
            break;
        case K_RESPONSE: {
            void *data;
            v[2] = num(env, (double)it->num);
            v[3] = num(env, it->status);
            v[4] = str_or_undef(env, it->s[0]);
            napi_create_buffer_copy(env, it->body_len, it->body_len ? (const void *)it->s[1] : (const void *)"", &data,
                                    &v[5]);
            break;
        }
        case K_ACK:
            v[2] = num(env, (double)it->num);
            v[3] = num(env, it->status);
            if (it->ev) {
                v[4] = args_of(env, it->ev);
                v[5] = attachments_of(env, it->ev);
            }
            break;
        }
        /* A call is full, or this was the last item: hand them over. The JS
         * dispatcher catches what handlers throw; anything else surfaces as
         * an uncaught exception, as it would from any callback. */
        if (++base == ARGV_ITEMS || !it->next) {
            argv[0] = batch_value(env, &args, undef);
            napi_call_function(env, global, fn, (size_t)base * STRIDE + 1, argv, &result);
            base = 0;
        }
    }
    free_items(list);
    free(args.p);
    free(argv);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
    (void)data;
    drain(env, context, js_cb);
}

/* The finalizer of both owners: the external and the threadsafe function. */
static void state_finalize(napi_env env, void *data, void *hint) {
    (void)env; (void)hint;
    state_unref(data);
}

static void release_tsfn(hub_state *st) {
    napi_threadsafe_function tsfn;
    pthread_mutex_lock(&st->lock);
    tsfn = st->tsfn;
    st->tsfn = NULL;
    pthread_mutex_unlock(&st->lock);
    if (tsfn) napi_release_threadsafe_function(tsfn, napi_tsfn_release);
}

/* The environment is going away with the hub still running: stop it before
 * the objects behind its callbacks are destroyed. */
static void cleanup_hook(void *arg) {
    hub_state *st = arg;
    st->cleanup_hook = 0;
    if (st->stopping) {
        /* A worker is inside wshub_stop (e.g. process.exit() during
         * io.close()): its completion will never run, so wait for the stop
         * to end here, then finish it. */
        pthread_mutex_lock(&st->lock);
        while (!st->stop_done) pthread_cond_wait(&st->stopped, &st->lock);
        pthread_mutex_unlock(&st->lock);
    }
    if (st->hub) {
        wshub_stop(st->hub, 0);
        wshub_free(st->hub);
        st->hub = NULL;
    }
    release_tsfn(st);
}

static hub_state *get_state(napi_env env, napi_value v) {
    void *p = NULL;
    if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
        napi_throw_type_error(env, NULL, "wshub: not a hub handle");
        return NULL;
    }
    return p;
}

/* ---------- argument conversion ---------- */

typedef struct {
    char *p;
    size_t len;
    char small[256];
} jstr;

/* Reads a JS string (or null/undefined: p = NULL). Returns 0 on failure (exception pending).
 * Most strings (ids, names, small payloads) fit the inline buffer: one N-API
 * call copies them, with no length query first. A copy that ends within 4
 * bytes (one UTF-8 character) of the buffer's end may be cut short, so such
 * a string is measured and copied again. */
static int get_str(napi_env env, napi_value v, jstr *out) {
    napi_valuetype t;
    size_t len = 0;
    out->p = NULL;
    out->len = 0;
    if (napi_get_value_string_utf8(env, v, out->small, sizeof out->small, &len) == napi_ok) {
        if (len + 4 < sizeof out->small - 1) {
            out->p = out->small;
            out->len = len;
            return 1;
        }
        napi_get_value_string_utf8(env, v, NULL, 0, &len);
        out->p = len < sizeof out->small ? out->small : malloc(len + 1);
        if (!out->p) {
            napi_throw_error(env, NULL, "wshub: out of memory");
            return 0;
        }
        napi_get_value_string_utf8(env, v, out->p, len + 1, &out->len);
        return 1;
    }
    napi_typeof(env, v, &t);
    if (t == napi_null || t == napi_undefined) return 1;
    napi_throw_type_error(env, NULL, "wshub: expected a string");
    return 0;
}

static void free_str(jstr *s) {
    if (s->p && s->p != s->small) free(s->p);
    s->p = NULL;
}

/* The length of an array argument (null/undefined: 0). Returns 0 on failure (exception pending). */
static int get_array_len(napi_env env, napi_value v, const char *type_error, uint32_t *n) {
    napi_valuetype t;
    *n = 0;
    napi_typeof(env, v, &t);
    if (t == napi_null || t == napi_undefined) return 1;
    if (napi_get_array_length(env, v, n) != napi_ok) {
        napi_throw_type_error(env, NULL, type_error);
        return 0;
    }
    return 1;
}

typedef struct {
    char **items;
    size_t count;
} jstrlist;

static int get_str_list(napi_env env, napi_value v, jstrlist *out) {
    uint32_t n, i;
    out->items = NULL;
    out->count = 0;
    if (!get_array_len(env, v, "wshub: expected an array of strings", &n)) return 0;
    if (n == 0) return 1;
    out->items = calloc(n, sizeof(char *));
    if (!out->items) return 0;
    out->count = n;
    for (i = 0; i < n; i++) {
        napi_value e;
        jstr s;
        napi_get_element(env, v, i, &e);
        if (!get_str(env, e, &s)) return 0;
        out->items[i] = s.p == s.small ? dup_str(s.small) : s.p;
        if (!out->items[i]) out->items[i] = dup_str("");
    }
    return 1;
}

static void free_str_list(jstrlist *l) {
    size_t i;
    for (i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

typedef struct {
    wshub_bytes *items;
    size_t count;
    wshub_bytes small[8];
} jbufs;

/* An array of Uint8Array/Buffer (or null): borrowed views, valid for the call. */
static int get_bufs(napi_env env, napi_value v, jbufs *out) {
    uint32_t n, i;
    out->items = NULL;
    out->count = 0;
    if (!get_array_len(env, v, "wshub: expected an array of Uint8Array", &n)) return 0;
    if (n == 0) return 1;
    out->items = n <= 8 ? out->small : calloc(n, sizeof(wshub_bytes));
    if (!out->items) return 0;
    out->count = n;
    for (i = 0; i < n; i++) {
        napi_value e, ab;
        napi_typedarray_type tt;
        size_t len = 0, off = 0;
        void *data = NULL;
        napi_get_element(env, v, i, &e);
        if (napi_get_typedarray_info(env, e, &tt, &len, &data, &ab, &off) != napi_ok || tt != napi_uint8_array) {
            napi_throw_type_error(env, NULL, "wshub: attachments must be Uint8Array");
            return 0;
        }
        out->items[i].data = data;
        out->items[i].len = len;
    }
    return 1;
}

static void free_bufs(jbufs *b) {
    if (b->items && b->items != b->small) free(b->items);
    b->items = NULL;
}

/* A JS number as a uint32 (ms, sizes): clamped to [0, 2^32-1]. */
static uint32_t clamp_u32(double d) {
    if (d < 0) d = 0;
    if (d > 4294967295.0) d = 4294967295.0;
    return (uint32_t)d;
}

static napi_value ret_int(napi_env env, int64_t v) {
    napi_value r;
    napi_create_int64(env, v, &r);
    return r;
}

static napi_value ret_undef(napi_env env) {
    napi_value r;
    napi_get_undefined(env, &r);
    return r;
}

#define ARGS(n)                                                                  \
    size_t argc = (n);                                                           \
    napi_value argv[(n) > 0 ? (n) : 1];                                          \
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                 \
    if (argc < (n)) {                                                            \
        napi_throw_type_error(env, NULL, "wshub: missing arguments");            \
        return NULL;                                                             \
    }

#define HUB_OR_STOPPED(st)                                                       \
    if (!(st)->hub) return ret_int(env, WSHUB_STOPPED);

/* ---------- exported functions ---------- */

static int get_u32(napi_env env, napi_value obj, const char *key, uint32_t *out) {
    napi_value v;
    napi_valuetype t;
    bool has = false;
    napi_has_named_property(env, obj, key, &has);
    if (!has) return 0;
    napi_get_named_property(env, obj, key, &v);
    napi_typeof(env, v, &t);
    if (t != napi_number) return 0;
    double d;
    napi_get_value_double(env, v, &d);
    *out = clamp_u32(d);
    return 1;
}

static int get_bool(napi_env env, napi_value obj, const char *key, bool *out) {
    napi_value v;
    napi_valuetype t;
    bool has = false;
    napi_has_named_property(env, obj, key, &has);
    if (!has) return 0;
    napi_get_named_property(env, obj, key, &v);
    napi_typeof(env, v, &t);
    if (t != napi_boolean) return 0;
    napi_get_value_bool(env, v, out);
    return 1;
}

static int get_named_str(napi_env env, napi_value obj, const char *key, jstr *out) {
    napi_value v;
    bool has = false;
    out->p = NULL;
    napi_has_named_property(env, obj, key, &has);
    if (!has) return 1;
    napi_get_named_property(env, obj, key, &v);
    return get_str(env, v, out);
}

/* create(config, dispatch) -> handle. The config keys mirror wshub_config. */
static napi_value js_create(napi_env env, napi_callback_info info) {
    ARGS(2);
    napi_value cfg = argv[0], fn = argv[1], name, external;
    wshub_config c = wshub_config_default();
    jstr host, path, raw_path, static_dir, bundle, cors;
    jstr tls_cert, tls_key, allowed_origins, redis_url, cors_methods, cors_headers;
    jstr metrics_path, metrics_token, metrics_allow, admin_user, admin_password, admin_dir;
    uint32_t u;
    bool b;
    wshub_status status;
    wshub_t *hub = NULL;
    hub_state *st;
    int ok;

    if (get_u32(env, cfg, "port", &u)) c.port = (uint16_t)u;
    if (get_u32(env, cfg, "pingInterval", &u)) c.ping_interval_ms = u;
    if (get_u32(env, cfg, "pingTimeout", &u)) c.ping_timeout_ms = u;
    if (get_u32(env, cfg, "connectTimeout", &u)) c.connect_timeout_ms = u;
    if (get_u32(env, cfg, "maxPayload", &u)) c.max_payload = u;
    if (get_u32(env, cfg, "maxQueuedFrames", &u)) c.max_queued_frames = u;
    if (get_u32(env, cfg, "maxPacketsPerPoll", &u)) c.max_packets_per_poll = u;
    if (get_u32(env, cfg, "maxConnections", &u)) c.max_connections = u;
    if (get_u32(env, cfg, "workerThreads", &u)) c.worker_threads = u;
    if (get_bool(env, cfg, "allowPolling", &b)) c.allow_polling = b;
    if (get_bool(env, cfg, "allowWebsocket", &b)) c.allow_websocket = b;
    if (get_bool(env, cfg, "allowEIO3", &b)) c.allow_eio3 = b;
    if (get_bool(env, cfg, "dropWhenFull", &b)) c.drop_when_full = b;
    if (get_u32(env, cfg, "recoveryMs", &u)) c.recovery_ms = u;
    if (get_bool(env, cfg, "recoverySkipGuards", &b)) c.recovery_skip_guards = b;
    if (get_u32(env, cfg, "recoveryMaxBytes", &u)) c.recovery_max_bytes = u;
    if (get_bool(env, cfg, "cleanupEmptyChildNamespaces", &b)) c.cleanup_empty_child_namespaces = b;
    if (get_bool(env, cfg, "redisCluster", &b)) c.redis_cluster = b;
    if (get_bool(env, cfg, "redisStreams", &b)) c.redis_streams = b;
    if (get_u32(env, cfg, "redisStreamMaxLen", &u)) c.redis_stream_max_len = u;
    host.p = path.p = raw_path.p = static_dir.p = bundle.p = cors.p = NULL;
    tls_cert.p = tls_key.p = allowed_origins.p = redis_url.p = cors_methods.p = cors_headers.p = NULL;
    metrics_path.p = metrics_token.p = metrics_allow.p = admin_user.p = admin_password.p = admin_dir.p = NULL;
    if (get_bool(env, cfg, "adminReadOnly", &b)) c.admin_read_only = b;
    ok = get_named_str(env, cfg, "host", &host) && get_named_str(env, cfg, "path", &path) &&
         get_named_str(env, cfg, "rawPath", &raw_path) && get_named_str(env, cfg, "staticDir", &static_dir) &&
         get_named_str(env, cfg, "clientBundleDir", &bundle) && get_named_str(env, cfg, "corsOrigins", &cors);
    ok = ok && get_named_str(env, cfg, "tlsCert", &tls_cert) && get_named_str(env, cfg, "tlsKey", &tls_key) &&
         get_named_str(env, cfg, "allowedOrigins", &allowed_origins) && get_named_str(env, cfg, "redisUrl", &redis_url) &&
         get_named_str(env, cfg, "corsMethods", &cors_methods) && get_named_str(env, cfg, "corsAllowedHeaders", &cors_headers);
    ok = ok && get_named_str(env, cfg, "metricsPath", &metrics_path) &&
         get_named_str(env, cfg, "metricsToken", &metrics_token) && get_named_str(env, cfg, "metricsAllow", &metrics_allow);
    ok = ok && get_named_str(env, cfg, "adminUsername", &admin_user) &&
         get_named_str(env, cfg, "adminPassword", &admin_password) && get_named_str(env, cfg, "adminUiDir", &admin_dir);
    if (ok) {
        c.host = host.p;
        c.path = path.p;
        c.raw_path = raw_path.p;
        c.static_dir = static_dir.p;
        c.client_bundle_dir = bundle.p;
        c.cors_origins = cors.p;
        c.tls_cert = tls_cert.p;
        c.tls_key = tls_key.p;
        c.allowed_origins = allowed_origins.p;
        c.redis_url = redis_url.p;
        c.cors_methods = cors_methods.p;
        c.cors_allowed_headers = cors_headers.p;
        c.metrics_path = metrics_path.p;
        c.metrics_token = metrics_token.p;
        c.metrics_allow = metrics_allow.p;
        c.admin_username = admin_user.p;
        c.admin_password = admin_password.p;
        c.admin_ui_dir = admin_dir.p;
        status = wshub_new(&c, &hub);
    }
    free_str(&host); free_str(&path); free_str(&raw_path); free_str(&static_dir); free_str(&bundle); free_str(&cors);
    free_str(&tls_cert); free_str(&tls_key); free_str(&allowed_origins); free_str(&redis_url);
    free_str(&cors_methods); free_str(&cors_headers);
    free_str(&metrics_path); free_str(&metrics_token); free_str(&metrics_allow);
    free_str(&admin_user); free_str(&admin_password); free_str(&admin_dir);
    if (!ok) return NULL;
    if (status != WSHUB_OK) {
        throw_status(env, status);
        return NULL;
    }
    st = calloc(1, sizeof *st);
    if (!st) {
        wshub_free(hub);
        napi_throw_error(env, NULL, "wshub: out of memory");
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->stopped, NULL);
    st->hub = hub;
    st->refs = 2;
    /* Each callback only queues its item: it may as well run on the thread
     * where the event happened, which saves it the hop through wshub's
     * dispatcher thread. Before any start, so it cannot fail but for memory. */
    st->inline_delivery = wshub_deliver_inline(hub, on_ready, st) == WSHUB_OK;
    napi_create_string_utf8(env, "wshub", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, st, state_finalize, st, call_js, &st->tsfn) != napi_ok) {
        st->refs = 1; /* no owner yet: this frees the hub and the state */
        state_unref(st);
        throw_last(env, "napi_create_threadsafe_function");
        return NULL;
    }
    /* Not started yet: do not hold the loop. */
    napi_unref_threadsafe_function(env, st->tsfn);
    napi_add_env_cleanup_hook(env, cleanup_hook, st);
    st->cleanup_hook = 1;
    if (napi_create_external(env, st, state_finalize, NULL, &external) != napi_ok) {
        throw_last(env, "napi_create_external");
        return NULL;
    }
    return external;
}

static void update_ref(napi_env env, hub_state *st) {
    int want = st->started && !st->user_unref && st->hub && !st->stopping;
    if (!st->tsfn || want == st->referenced) return;
    if (want) napi_ref_threadsafe_function(env, st->tsfn);
    else napi_unref_threadsafe_function(env, st->tsfn);
    st->referenced = want;
}

/* start(h) -> port; throws on failure. */
static napi_value js_start(napi_env env, napi_callback_info info) {
    ARGS(1);
    hub_state *st = get_state(env, argv[0]);
    uint16_t port = 0;
    wshub_status status;
    if (!st) return NULL;
    if (!st->hub) {
        napi_throw_error(env, NULL, "wshub: the hub was closed");
        return NULL;
    }
    status = wshub_start(st->hub, &port);
    if (status != WSHUB_OK) {
        throw_status(env, status);
        return NULL;
    }
    st->started = 1;
    update_ref(env, st);
    return ret_int(env, port);
}

/* startHosted(h): starts the hub without a listener (see attach in index.js). */
static napi_value js_start_hosted(napi_env env, napi_callback_info info) {
    ARGS(1);
    hub_state *st = get_state(env, argv[0]);
    wshub_status status;
    if (!st) return NULL;
    if (!st->hub) {
        napi_throw_error(env, NULL, "wshub: the hub was closed");
        return NULL;
    }
    status = wshub_start_hosted(st->hub);
    if (status != WSHUB_OK) {
        throw_status(env, status);
        return NULL;
    }
    st->started = 1;
    update_ref(env, st);
    return ret_undef(env);
}

/* servesPath(h, path) -> bool */
static napi_value js_serves_path(napi_env env, napi_callback_info info) {
    ARGS(2);
    hub_state *st = get_state(env, argv[0]);
    jstr path;
    bool serves = false;
    napi_value r;
    if (!st) return NULL;
    if (st->hub) {
        if (!get_str(env, argv[1], &path)) return NULL;
        if (path.p) wshub_serves_path(st->hub, path.p, &serves);
        free_str(&path);
    }
    napi_get_boolean(env, serves, &r);
    return r;
}

/* adopt(h, fd, bytes) -> status: the hub gets its own duplicate of `fd` (the
 * caller then destroys its socket, which closes only its descriptor). */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
    ARGS(3);
    hub_state *st = get_state(env, argv[0]);
    int32_t fd = -1;
    void *data = NULL;
    size_t len = 0;
    int dup_fd;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    CHECK(napi_get_value_int32(env, argv[1], &fd));
    if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, "wshub: adopt needs a Buffer");
        return NULL;
    }
    dup_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup_fd < 0) return ret_int(env, WSHUB_IO_ERROR);
    return ret_int(env, wshub_adopt(st->hub, dup_fd, data, len));
}

/* handleRequest(h, token, method, url, [name, value, ...], body, remoteAddr) -> status;
 * the answer arrives in the dispatch batch as K_RESPONSE with the token. */
static napi_value js_handle_request(napi_env env, napi_callback_info info) {
    ARGS(7);
    hub_state *st = get_state(env, argv[0]);
    double token = 0;
    jstr method, url, remote;
    jstrlist flat;
    void *body = NULL;
    size_t body_len = 0, i;
    wshub_header *headers = NULL;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    ack_cell *cell;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    method.p = url.p = remote.p = NULL;
    flat.items = NULL;
    flat.count = 0;
    CHECK(napi_get_value_double(env, argv[1], &token));
    ok = get_str(env, argv[2], &method) && get_str(env, argv[3], &url) && get_str_list(env, argv[4], &flat) &&
         get_str(env, argv[6], &remote) && napi_get_buffer_info(env, argv[5], &body, &body_len) == napi_ok;
    if (ok && flat.count) headers = calloc(flat.count / 2 + 1, sizeof *headers);
    cell = malloc(sizeof *cell);
    if (ok && cell && (headers || !flat.count)) {
        wshub_http_request req;
        for (i = 0; i + 1 < flat.count; i += 2) headers[i / 2] = (wshub_header){flat.items[i], flat.items[i + 1]};
        req.method = method.p;
        req.url = url.p;
        req.headers = headers;
        req.header_count = flat.count / 2;
        req.body.data = body;
        req.body.len = body_len;
        req.remote_addr = remote.p;
        cell->st = st;
        cell->token = (uint64_t)token;
        s = wshub_handle_request(st->hub, &req, on_response, cell);
        if (s != WSHUB_OK) free(cell); /* never called back */
    } else {
        free(cell);
    }
    free(headers);
    free_str(&method); free_str(&url); free_str(&remote);
    free_str_list(&flat);
    if (!ok) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (!pending) napi_throw_type_error(env, NULL, "wshub: handleRequest needs a Buffer body");
        return NULL;
    }
    return ret_int(env, s);
}

/* ref(h, bool): whether a running hub keeps the process alive. */
static napi_value js_ref(napi_env env, napi_callback_info info) {
    ARGS(2);
    hub_state *st = get_state(env, argv[0]);
    bool on = true;
    if (!st) return NULL;
    napi_get_value_bool(env, argv[1], &on);
    st->user_unref = !on;
    update_ref(env, st);
    return ret_undef(env);
}

/* registerNamespace(h, ns): the catch-all event handler, connection and disconnect. */
static napi_value js_register(napi_env env, napi_callback_info info) {
    ARGS(2);
    hub_state *st = get_state(env, argv[0]);
    jstr ns;
    wshub_status s;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    if (!get_str(env, argv[1], &ns)) return NULL;
    s = wshub_on(st->hub, ns.p, NULL, on_event, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_connection(st->hub, ns.p, on_connection, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_disconnect(st->hub, ns.p, on_disconnect, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_upgrade(st->hub, ns.p, on_upgrade, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_error(st->hub, ns.p, on_error, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_packets(st->hub, ns.p, on_packets, st, NULL);
    free_str(&ns);
    return ret_int(env, s);
}

/* setGuard(h, ns): guards asked through K_GUARD items; a client that leaves meanwhile comes as K_ABANDONED */
static napi_value js_set_guard(napi_env env, napi_callback_info info) {
    ARGS(2);
    hub_state *st = get_state(env, argv[0]);
    jstr ns;
    wshub_status s;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    if (!get_str(env, argv[1], &ns)) return NULL;
    s = wshub_set_guard(st->hub, ns.p, on_guard, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_guard_abandoned(st->hub, ns.p, on_abandoned, st, NULL);
    free_str(&ns);
    return ret_int(env, s);
}

/* setResolver(h): dynamic namespaces, asked through K_RESOLVE items; their removals come as K_REMOVED */
static napi_value js_set_resolver(napi_env env, napi_callback_info info) {
    ARGS(1);
    hub_state *st = get_state(env, argv[0]);
    wshub_status s;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    s = wshub_set_namespace_resolver(st->hub, on_resolve, st, NULL);
    if (s == WSHUB_OK) s = wshub_on_namespace_removed(st->hub, on_removed, st, NULL);
    return ret_int(env, s);
}

/* setRequestGuard(h): allowRequest, asked through K_ALLOW items */
static napi_value js_set_request_guard(napi_env env, napi_callback_info info) {
    ARGS(1);
    hub_state *st = get_state(env, argv[0]);
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    return ret_int(env, wshub_set_request_guard(st->hub, on_handshake, st, NULL));
}

/* decide(h, requestId, accept, message|null) */
static napi_value js_decide(napi_env env, napi_callback_info info) {
    ARGS(4);
    hub_state *st = get_state(env, argv[0]);
    double id = 0;
    bool accept = false;
    jstr msg;
    wshub_status s;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    napi_get_value_double(env, argv[1], &id);
    napi_get_value_bool(env, argv[2], &accept);
    if (!get_str(env, argv[3], &msg)) return NULL;
    s = wshub_connect_decide(st->hub, (uint64_t)id, accept, msg.p);
    free_str(&msg);
    return ret_int(env, s);
}

/* refuse(h, requestId, message|null, dataJson) -> status: connect_error with err.data */
static napi_value js_refuse(napi_env env, napi_callback_info info) {
    ARGS(4);
    hub_state *st = get_state(env, argv[0]);
    double id = 0;
    jstr msg, data;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    napi_get_value_double(env, argv[1], &id);
    if (!get_str(env, argv[2], &msg)) return NULL;
    if (!get_str(env, argv[3], &data)) {
        free_str(&msg);
        return NULL;
    }
    if (data.p) s = wshub_connect_refuse(st->hub, (uint64_t)id, msg.p, data.p, data.len);
    free_str(&msg);
    free_str(&data);
    return ret_int(env, s);
}

/* emit(h, ns, rooms|null, exceptRooms|null, exceptSocket|null, event, json, attachments|null, volatile, uncompressed)
 * -> status */
static napi_value js_emit(napi_env env, napi_callback_info info) {
    ARGS(10);
    bool is_volatile = false, uncompressed = false;
    hub_state *st = get_state(env, argv[0]);
    jstr ns, except_socket, event, json;
    jstrlist rooms, except;
    jbufs atts;
    wshub_target t = {0};
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = except_socket.p = event.p = json.p = NULL;
    rooms.items = except.items = NULL;
    rooms.count = except.count = 0;
    atts.items = NULL;
    ok = get_str(env, argv[1], &ns) && get_str_list(env, argv[2], &rooms) && get_str_list(env, argv[3], &except) &&
         get_str(env, argv[4], &except_socket) && get_str(env, argv[5], &event) && get_str(env, argv[6], &json) &&
         get_bufs(env, argv[7], &atts);
    if (ok) {
        t.name_space = ns.p;
        t.rooms = (const char *const *)rooms.items;
        t.room_count = rooms.count;
        t.except_rooms = (const char *const *)except.items;
        t.except_count = except.count;
        t.except_socket = except_socket.p;
        napi_get_value_bool(env, argv[8], &is_volatile); /* not a boolean: stays false */
        napi_get_value_bool(env, argv[9], &uncompressed);
        t.uncompressed = uncompressed;
        s = is_volatile ? wshub_emit_volatile(st->hub, &t, event.p, json.p, json.len, atts.items, atts.count, NULL)
                        : wshub_emit(st->hub, &t, event.p, json.p, json.len, atts.items, atts.count, NULL);
    }
    free_str(&ns); free_str(&except_socket); free_str(&event); free_str(&json);
    free_str_list(&rooms); free_str_list(&except); free_bufs(&atts);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* emitTo(h, ns, sid, event, json, attachments|null) -> status */
static napi_value js_emit_to(napi_env env, napi_callback_info info) {
    ARGS(6);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid, event, json;
    jbufs atts;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = sid.p = event.p = json.p = NULL;
    atts.items = NULL;
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid) && get_str(env, argv[3], &event) &&
         get_str(env, argv[4], &json) && get_bufs(env, argv[5], &atts);
    if (ok) s = wshub_emit_to(st->hub, ns.p, sid.p, event.p, json.p, json.len, atts.items, atts.count);
    free_str(&ns); free_str(&sid); free_str(&event); free_str(&json); free_bufs(&atts);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* emitToSocket(h, handle, event, json, attachments|null) -> status */
static napi_value js_emit_to_socket(napi_env env, napi_callback_info info) {
    ARGS(5);
    hub_state *st = get_state(env, argv[0]);
    jstr event, json;
    jbufs atts;
    double handle = 0;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    event.p = json.p = NULL;
    atts.items = NULL;
    ok = napi_get_value_double(env, argv[1], &handle) == napi_ok && handle >= 0;
    if (!ok) napi_throw_type_error(env, NULL, "wshub: expected a socket handle");
    ok = ok && get_str(env, argv[2], &event) && get_str(env, argv[3], &json) && get_bufs(env, argv[4], &atts);
    if (ok) s = wshub_emit_to_socket(st->hub, (uint64_t)handle, event.p, json.p, json.len, atts.items, atts.count);
    free_str(&event); free_str(&json); free_bufs(&atts);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* emitWithAck(h, ns, sid, event, json, attachments|null, timeoutMs, token) -> status */
static napi_value js_emit_with_ack(napi_env env, napi_callback_info info) {
    ARGS(8);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid, event, json;
    jbufs atts;
    double timeout = 0, token = 0;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    ack_cell *cell;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = sid.p = event.p = json.p = NULL;
    atts.items = NULL;
    napi_get_value_double(env, argv[6], &timeout);
    napi_get_value_double(env, argv[7], &token);
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid) && get_str(env, argv[3], &event) &&
         get_str(env, argv[4], &json) && get_bufs(env, argv[5], &atts);
    if (ok) {
        cell = malloc(sizeof *cell);
        if (!cell) {
            s = WSHUB_PANIC;
        } else {
            cell->st = st;
            cell->token = (uint64_t)token;
            s = wshub_emit_with_ack(st->hub, ns.p, sid.p, event.p, json.p, json.len, atts.items, atts.count,
                                    clamp_u32(timeout), on_ack, cell);
            if (s != WSHUB_OK) free(cell); /* the callback runs only after WSHUB_OK */
        }
    }
    free_str(&ns); free_str(&sid); free_str(&event); free_str(&json); free_bufs(&atts);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* ack(h, ns, sid, ackId, json, attachments|null) -> status */
static napi_value js_ack(napi_env env, napi_callback_info info) {
    ARGS(6);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid, json;
    jbufs atts;
    double id = 0;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = sid.p = json.p = NULL;
    atts.items = NULL;
    napi_get_value_double(env, argv[3], &id);
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid) && get_str(env, argv[4], &json) &&
         get_bufs(env, argv[5], &atts);
    if (ok) s = wshub_ack(st->hub, ns.p, sid.p, (uint64_t)id, json.p, json.len, atts.items, atts.count);
    free_str(&ns); free_str(&sid); free_str(&json); free_bufs(&atts);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* join/leave(h, ns, sid, room) -> status; op 0 join, 1 leave */
static napi_value room_op(napi_env env, napi_callback_info info, int op) {
    ARGS(4);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid, room;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = sid.p = room.p = NULL;
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid) && get_str(env, argv[3], &room);
    if (ok) s = op == 0 ? wshub_join(st->hub, ns.p, sid.p, room.p) : wshub_leave(st->hub, ns.p, sid.p, room.p);
    free_str(&ns); free_str(&sid); free_str(&room);
    if (!ok) return NULL;
    return ret_int(env, s);
}
static napi_value js_join(napi_env env, napi_callback_info info) { return room_op(env, info, 0); }
static napi_value js_leave(napi_env env, napi_callback_info info) { return room_op(env, info, 1); }

/* disconnect(h, ns, sid, close) -> status */
static napi_value js_disconnect(napi_env env, napi_callback_info info) {
    ARGS(4);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid;
    bool close = false;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = sid.p = NULL;
    napi_get_value_bool(env, argv[3], &close);
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid);
    if (ok) s = wshub_disconnect(st->hub, ns.p, sid.p, close);
    free_str(&ns); free_str(&sid);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* watchPackets(h, ns, sid, on) -> status */
static napi_value js_watch_packets(napi_env env, napi_callback_info info) {
    ARGS(4);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid;
    bool on = false;
    wshub_status s = WSHUB_INVALID_ARGUMENT;
    int ok;
    if (!st) return NULL;
    HUB_OR_STOPPED(st);
    ns.p = sid.p = NULL;
    napi_get_value_bool(env, argv[3], &on);
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid);
    if (ok) s = wshub_watch_packets(st->hub, ns.p, sid.p, on);
    free_str(&ns); free_str(&sid);
    if (!ok) return NULL;
    return ret_int(env, s);
}

/* socketInfo(h, ns, sid) -> JSON string | null */
static napi_value js_socket_info(napi_env env, napi_callback_info info) {
    ARGS(3);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, sid;
    char *out = NULL;
    napi_value r;
    int ok;
    if (!st) return NULL;
    ns.p = sid.p = NULL;
    ok = get_str(env, argv[1], &ns) && get_str(env, argv[2], &sid);
    if (ok && st->hub && wshub_socket_info(st->hub, ns.p, sid.p, &out) == WSHUB_OK) {
        napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &r);
        wshub_string_free(out);
    } else {
        napi_get_null(env, &r);
    }
    free_str(&ns); free_str(&sid);
    if (!ok) return NULL;
    return r;
}

/* metrics(h) -> JSON string (wshub_metrics) | null once the hub is freed */
static napi_value js_metrics(napi_env env, napi_callback_info info) {
    ARGS(1);
    hub_state *st = get_state(env, argv[0]);
    char *out = NULL;
    napi_value r;
    if (!st) return NULL;
    if (st->hub && wshub_metrics(st->hub, &out) == WSHUB_OK) {
        napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &r);
        wshub_string_free(out);
    } else {
        napi_get_null(env, &r);
    }
    return r;
}

/* sockets(h, ns, rooms|null, exceptRooms|null, exceptSocket|null) -> JSON array string | null */
static napi_value js_sockets(napi_env env, napi_callback_info info) {
    ARGS(5);
    hub_state *st = get_state(env, argv[0]);
    jstr ns, except_socket;
    jstrlist rooms, except;
    wshub_target t = {0};
    char *out = NULL;
    napi_value r;
    int ok;
    if (!st) return NULL;
    ns.p = except_socket.p = NULL;
    rooms.items = except.items = NULL;
    rooms.count = except.count = 0;
    ok = get_str(env, argv[1], &ns) && get_str_list(env, argv[2], &rooms) && get_str_list(env, argv[3], &except) &&
         get_str(env, argv[4], &except_socket);
    napi_get_null(env, &r);
    if (ok && st->hub) {
        t.name_space = ns.p;
        t.rooms = (const char *const *)rooms.items;
        t.room_count = rooms.count;
        t.except_rooms = (const char *const *)except.items;
        t.except_count = except.count;
        t.except_socket = except_socket.p;
        if (wshub_sockets(st->hub, &t, &out) == WSHUB_OK) {
            napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &r);
            wshub_string_free(out);
        }
    }
    free_str(&ns); free_str(&except_socket); free_str_list(&rooms); free_str_list(&except);
    if (!ok) return NULL;
    return r;
}

/* lastError() -> this thread's last message */
static napi_value js_last_error(napi_env env, napi_callback_info info) {
    napi_value r;
    (void)info;
    napi_create_string_utf8(env, wshub_last_error(), NAPI_AUTO_LENGTH, &r);
    return r;
}

/* statusName(status) */
static napi_value js_status_name(napi_env env, napi_callback_info info) {
    ARGS(1);
    int32_t s = 0;
    napi_value r;
    napi_get_value_int32(env, argv[0], &s);
    napi_create_string_utf8(env, wshub_status_str((wshub_status)s), NAPI_AUTO_LENGTH, &r);
    return r;
}

/* ---- stop(h, graceMs, done) ---- */

static void stop_execute(napi_env env, void *data) {
    hub_state *st = data;
    (void)env;
    if (st->hub) wshub_stop(st->hub, st->grace_ms);
    pthread_mutex_lock(&st->lock);
    st->stop_done = 1;
    pthread_cond_broadcast(&st->stopped);
    pthread_mutex_unlock(&st->lock);
}

static void stop_complete(napi_env env, napi_status status, void *data) {
    hub_state *st = data;
    napi_value cb, global, result;
    (void)status;
    napi_delete_async_work(env, st->work);
    st->work = NULL;
    /* No callback runs any more: free the hub, let the JS side run what is
     * left in the queue (the disconnects of the shutdown, acks that will
     * never come) through `done`, then release the threadsafe function so
     * the loop may end. */
    if (st->hub) {
        wshub_free(st->hub);
        st->hub = NULL;
    }
    if (st->cleanup_hook) {
        napi_remove_env_cleanup_hook(env, cleanup_hook, st);
        st->cleanup_hook = 0;
    }
    st->stopping = 0;
    napi_get_reference_value(env, st->stop_cb, &cb);
    napi_delete_reference(env, st->stop_cb);
    st->stop_cb = NULL;
    napi_get_global(env, &global);
    napi_call_function(env, global, cb, 0, NULL, &result);
    release_tsfn(st);
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
    ARGS(3);
    hub_state *st = get_state(env, argv[0]);
    double grace = 0;
    napi_value name;
    if (!st) return NULL;
    if (st->stopping || !st->hub) {
        napi_throw_error(env, NULL, "wshub: the hub is already stopping or stopped");
        return NULL;
    }
    napi_get_value_double(env, argv[1], &grace);
    st->grace_ms = clamp_u32(grace);
    CHECK(napi_create_reference(env, argv[2], 1, &st->stop_cb));
    napi_create_string_utf8(env, "wshub.stop", NAPI_AUTO_LENGTH, &name);
    CHECK(napi_create_async_work(env, NULL, name, stop_execute, stop_complete, st, &st->work));
    st->stopping = 1;
    update_ref(env, st); /* the async work holds the loop meanwhile */
    CHECK(napi_queue_async_work(env, st->work));
    return ret_undef(env);
}

/* drainNow(h): runs what is queued, synchronously (used by close's completion). */
static napi_value js_drain(napi_env env, napi_callback_info info) {
    ARGS(2);
    hub_state *st = get_state(env, argv[0]);
    if (!st) return NULL;
    drain(env, st, argv[1]);
    return ret_undef(env);
}

static napi_value js_test_panic(napi_env env, napi_callback_info info) {
    (void)info;
    return ret_int(env, wshub_test_panic());
}

#define FN(name, f) { name, NULL, f, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        FN("create", js_create),
        FN("start", js_start),
        FN("startHosted", js_start_hosted),
        FN("servesPath", js_serves_path),
        FN("adopt", js_adopt),
        FN("handleRequest", js_handle_request),
        FN("ref", js_ref),
        FN("registerNamespace", js_register),
        FN("setGuard", js_set_guard),
        FN("setResolver", js_set_resolver),
        FN("setRequestGuard", js_set_request_guard),
        FN("decide", js_decide),
        FN("refuse", js_refuse),
        FN("emit", js_emit),
        FN("emitTo", js_emit_to),
        FN("emitToSocket", js_emit_to_socket),
        FN("emitWithAck", js_emit_with_ack),
        FN("ack", js_ack),
        FN("join", js_join),
        FN("leave", js_leave),
        FN("disconnect", js_disconnect),
        FN("watchPackets", js_watch_packets),
        FN("socketInfo", js_socket_info),
        FN("sockets", js_sockets),
        FN("metrics", js_metrics),
        FN("lastError", js_last_error),
        FN("statusName", js_status_name),
        FN("stop", js_stop),
        FN("drain", js_drain),
        FN("testPanic", js_test_panic),
    };
    if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
