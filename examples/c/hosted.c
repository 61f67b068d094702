/* A C program with an HTTP server of its own, and wshub inside it on the same
 * port. The server answers its own routes (/ and /health); what arrives under
 * the hub's paths it hands over: a WebSocket upgrade as the connected
 * descriptor plus the bytes already read (wshub_adopt: from then on the hub
 * owns it), any other request whole (wshub_handle_request: the hub answers
 * through a callback, later for a long-poll). Events are echoed as in echo.c.
 *
 * Build: make examples; run from the repository root:
 *   PORT=3000 target/examples/c-hosted
 * One thread per connection keeps the example short; a real server would use
 * its own event loop (wshub's calls may be made from any thread). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wshub.h"

#define MAX_HEAD 8192
#define MAX_BODY (1 << 20)
#define MAX_HEADERS 64

static wshub_t *hub;

static void on_any(void *userdata, const wshub_event *ev) {
    (void)userdata;
    if (ev->has_ack)
        wshub_ack(hub, ev->name_space, ev->socket_id, ev->ack_id, ev->args_json, ev->args_len, ev->attachments,
                  ev->attachment_count);
    else
        wshub_emit_to(hub, ev->name_space, ev->socket_id, ev->name, ev->args_json, ev->args_len, ev->attachments,
                      ev->attachment_count);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The hub's answer, copied out of the callback (its fields are borrowed). */
struct reply {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    int done;
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
};

static void on_response(void *userdata, const wshub_http_response *resp) {
    struct reply *r = userdata;
    size_t cap = 128, len;
    for (size_t i = 0; i < resp->header_count; i++)
        cap += strlen(resp->headers[i].name) + strlen(resp->headers[i].value) + 4;
    r->head = malloc(cap);
    len = (size_t)snprintf(r->head, cap, "HTTP/1.1 %u \r\nContent-Length: %zu\r\n", (unsigned)resp->status,
                           resp->body.len);
    for (size_t i = 0; i < resp->header_count; i++)
        len += (size_t)snprintf(r->head + len, cap - len, "%s: %s\r\n", resp->headers[i].name, resp->headers[i].value);
    snprintf(r->head + len, cap - len, "\r\n");
    r->body = malloc(resp->body.len + 1);
    if (resp->body.len) memcpy(r->body, resp->body.data, resp->body.len);
    r->body_len = resp->body.len;
    pthread_mutex_lock(&r->lock);
    r->done = 1;
    pthread_cond_signal(&r->ready);
    pthread_mutex_unlock(&r->lock);
}

static const char PAGE[] = "<!doctype html><title>hosted</title><p>This page is the C server's own; "
                           "wshub answers under /socket.io/ on the same port.";

/* Reads until `buf` holds `want` bytes; -1 when the peer closed first. */
static int read_until(int fd, char *buf, size_t *have, size_t want) {
    while (*have < want) {
        ssize_t n = recv(fd, buf + *have, want - *have, 0);
        if (n <= 0) return -1;
        *have += (size_t)n;
    }
    return 0;
}

/* Hands a request to the hub and writes its answer (blocking this thread,
 * which is the example's way: a long-poll may wait up to the ping interval). */
static int hand_over(int fd, wshub_http_request *req) {
    struct reply r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, NULL, 0};
    if (wshub_handle_request(hub, req, on_response, &r) != WSHUB_OK) {
        fprintf(stderr, "wshub_handle_request: %s\n", wshub_last_error());
        return -1;
    }
    pthread_mutex_lock(&r.lock);
    while (!r.done) pthread_cond_wait(&r.ready, &r.lock);
    pthread_mutex_unlock(&r.lock);
    int failed = write_all(fd, r.head, strlen(r.head)) || write_all(fd, r.body, r.body_len);
    free(r.head);
    free(r.body);
    return failed ? -1 : 0;
}

/* Serves one connection: requests until it closes, or until it is handed to the hub. */
static void *serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(MAX_HEAD + 1), *head = malloc(MAX_HEAD + 1), *body = NULL;
    size_t have = 0;
    char peer[64] = "";
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0 && sa.sin_family == AF_INET) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
        snprintf(peer, sizeof peer, "%s:%u", ip, (unsigned)ntohs(sa.sin_port));
    }
    for (;;) {
        char *end;
        while (buf[have] = '\0', (end = strstr(buf, "\r\n\r\n")) == NULL) {
            /* Closed, or a head too large for this small server. */
            ssize_t n = have < MAX_HEAD ? recv(fd, buf + have, MAX_HEAD - have, 0) : 0;
            if (n <= 0) goto done;
            have += (size_t)n;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        /* Parse a copy: `buf` keeps the bytes as read, for wshub_adopt. */
        memcpy(head, buf, head_len);
        head[head_len] = '\0';
        char *line_end = strstr(head, "\r\n"), *method = head, *url = strchr(head, ' '), *version;
        *line_end = '\0';
        if (!url || !(version = strchr(url + 1, ' '))) goto done;
        *url++ = '\0';
        *version = '\0';
        wshub_header headers[MAX_HEADERS];
        size_t header_count = 0, body_len = 0;
        int upgrade = 0, close_after = 0;
        for (char *h = line_end + 2; *h && strncmp(h, "\r\n", 2) && header_count < MAX_HEADERS;) {
            char *next = strstr(h, "\r\n"), *colon = strchr(h, ':');
            *next = '\0';
            if (colon) {
                *colon = '\0';
                char *value = colon + 1;
                while (*value == ' ' || *value == '\t') value++;
                headers[header_count++] = (wshub_header){h, value};
                if (!strcasecmp(h, "upgrade") && !strcasecmp(value, "websocket")) upgrade = 1;
                if (!strcasecmp(h, "content-length")) body_len = strtoul(value, NULL, 10);
                if (!strcasecmp(h, "connection") && strstr(value, "close")) close_after = 1;
            }
            h = next + 2;
        }
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(url, "?"), url);
        bool hubs = false;
        if (wshub_serves_path(hub, path, &hubs) != WSHUB_OK) goto done;
        if (hubs && upgrade) {
            /* The descriptor and every byte read from it go to the hub, which
             * owns the connection from here on (even if this call fails). */
            if (wshub_adopt(hub, fd, (const uint8_t *)buf, have) != WSHUB_OK)
                fprintf(stderr, "wshub_adopt: %s\n", wshub_last_error());
            fd = -1;
            goto done;
        }
        if (body_len > MAX_BODY) goto done;
        body = realloc(body, (have > head_len + body_len ? have : head_len + body_len) + 1);
        memcpy(body, buf, have);
        if (read_until(fd, body, &have, head_len + body_len) < 0) goto done;
        if (hubs) {
            wshub_http_request req = {method,           url, headers, header_count,
                                      {(const uint8_t *)body + head_len, body_len}, peer[0] ? peer : NULL};
            if (hand_over(fd, &req) < 0) goto done;
        } else if (!strcmp(path, "/health")) {
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
            if (write_all(fd, ok, sizeof ok - 1)) goto done;
        } else {
            int found = !strcmp(path, "/");
            char resp[256];
            int n = snprintf(resp, sizeof resp, "HTTP/1.1 %s\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n\r\n",
                             found ? "200 OK" : "404 Not Found", found ? sizeof PAGE - 1 : (size_t)9);
            if (write_all(fd, resp, (size_t)n) || write_all(fd, found ? PAGE : "Not Found", found ? sizeof PAGE - 1 : 9))
                goto done;
        }
        if (close_after) goto done;
        /* Keep what came after this request (pipelining) for the next one. */
        size_t used = head_len + body_len, rest = have > used ? have - used : 0;
        memmove(buf, body + used, rest);
        have = rest;
    }
done:
    if (fd >= 0) close(fd);
    free(buf);
    free(head);
    free(body);
    return NULL;
}

int main(void) {
    const char *port = getenv("PORT");
    wshub_config cfg = wshub_config_default();
    if (wshub_new(&cfg, &hub) != WSHUB_OK || wshub_on(hub, NULL, NULL, on_any, NULL, NULL) != WSHUB_OK ||
        wshub_start_hosted(hub) != WSHUB_OK) {
        fprintf(stderr, "wshub: %s\n", wshub_last_error());
        return 1;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port ? (uint16_t)atoi(port) : 3000)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 128) ||
        getsockname(lfd, (struct sockaddr *)&addr, &len)) {
        perror("listen");
        return 1;
    }
    printf("LISTENING %u\nC server with wshub inside on http://127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port),
           (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
}
