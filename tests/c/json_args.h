/* Tiny helpers to read the few JSON arguments the C tests need.
 * Not a JSON parser: enough for strings without escapes other than \" and \\,
 * and numbers, at the front of an argument array. */
#ifndef WSHUB_TEST_JSON_ARGS_H
#define WSHUB_TEST_JSON_ARGS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Skips spaces. */
static const char *ja_ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

/* Reads a JSON string at p into out (size cap); returns the position after it or NULL. */
static const char *ja_string(const char *p, char *out, size_t cap) {
    size_t n = 0;
    p = ja_ws(p);
    if (*p != '"') return NULL;
    p++;
    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\' && *p) c = *p++;
        if (n + 1 < cap) out[n++] = c;
    }
    if (*p != '"') return NULL;
    out[n] = '\0';
    return p + 1;
}

/* Reads the first n string arguments of the array `json` into heads (each of
 * size cap) and writes the remaining arguments, as a JSON array, to rest. */
static int ja_split(const char *json, int n, char heads[][256], char *rest, size_t rest_cap) {
    const char *p = ja_ws(json);
    int i;
    if (*p != '[') return -1;
    p++;
    for (i = 0; i < n; i++) {
        p = ja_string(p, heads[i], 256);
        if (!p) return -1;
        p = ja_ws(p);
        if (*p == ',') p++;
    }
    p = ja_ws(p);
    if (*p == ']' || *p == '\0') {
        snprintf(rest, rest_cap, "[]");
    } else {
        snprintf(rest, rest_cap, "[%s", p);
    }
    return 0;
}

/* The first argument as a number (0 if absent). */
static long ja_first_number(const char *json) {
    const char *p = ja_ws(json);
    if (*p != '[') return 0;
    return strtol(p + 1, NULL, 10);
}

#endif
