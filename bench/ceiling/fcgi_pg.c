/*
 * The C responder ceiling for bench/run.sh: the most a threaded libfcgi + libpq responder can do for
 * workflowd's four hot requests on this machine. A measuring instrument, kept small: it is what
 * workflowd would cost if the Swift code between nginx and PostgreSQL cost nothing.
 *
 *   cc -O2 -pthread -I/usr/include/postgresql -o workflowd-bench-pg fcgi_pg.c -lfcgi -lpq
 *   workflowd-bench-pg SOCKET_PATH THREADS CONNINFO SQL_DIR
 *
 * Like workflowd: THREADS threads, each blocked in FCGX_Accept_r on one listening socket, each with
 * its own libpq connection and its statements prepared once. It serves
 *
 *   POST /api/v1/workflows                       create     (201, Location)
 *   GET  /api/v1/workflows/{id}                  get        (200; 404 when not the caller's)
 *   GET  /api/v1/workflows?limit=N               list       (200, first page, nextCursor)
 *   POST /api/v1/workflows/{id}/transitions      transition (200; the target the SQL was captured for)
 *   GET  /api/v1/health                          200
 *
 * with exactly workflowd's SQL: it holds none of its own. bench/ceiling/capture.py records, from
 * PostgreSQL's statement log, the statements workflowd itself runs for one request of each kind and
 * writes SQL_DIR/OP.sql (the text, prepared as is) and SQL_DIR/OP.params (one line per $n: "slot NAME"
 * for a value taken from the request, "lit VALUE" for a constant, "null"). So the SQL has one place,
 * the Swift repository, and a change there changes what this responder runs on the next bench.
 * SQL_DIR/actions.txt holds, per status, the allowedTransitions and allowedActions arrays workflowd
 * answered for an owning Participant (the transition table stays in Swift too).
 *
 * What it skips: JWT verification (the user id is the token payload's "sub", decoded, not verified),
 * request validation beyond what it needs to find its values, metrics, logging. The response is the
 * same JSON document, status and headers as workflowd's, built here from the same row (the columns of
 * PostgresWorkflowRepository.instanceColumns, in that order); refusals answer a short problem+json.
 * The binary's name contains "workflowd" so that scripts/stack.sh sweep stops leftovers.
 */
#include <ctype.h>
#include <fcgiapp.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_CREATE, OP_GET, OP_LIST, OP_TRANSITION, OP_COUNT };
static const char *op_names[OP_COUNT] = {"create", "get", "list", "transition"};

/* Where a bind value comes from (OP.params). */
enum slot { S_NULL, S_LIT, S_USER, S_ID, S_NEW_ID, S_DEFINITION, S_PARAMETERS, S_TO, S_LIMIT_PLUS_ONE };
struct param { enum slot slot; char *lit; };
struct statement { char *sql; int nparams; struct param params[64]; };
static struct statement statements[OP_COUNT];

/* allowedTransitions / allowedActions per status, as workflowd answered them. */
struct status_actions { char status[32]; char *transitions; char *actions; };
static struct status_actions actions[16];
static int nactions;

static int listen_fd;
static const char *conninfo;

/*
 * BENCH_PG_SPIN_US (bench/gap.sh): CPU microseconds burnt per request, half before the statement and half
 * after it, so that this responder costs the machine what workflowd costs it and everything else stays the
 * same. With it set to workflowd's extra CPU per request, what is left of the difference in throughput,
 * and in PostgreSQL's CPU per request, is not workflowd's own code. The thread's CPU clock is read every
 * 4000 loop iterations (~1 µs): it is a system call, and read every 200 the spin ran mostly in the kernel
 * (a 31 µs spin added 11 µs of user time and 42 µs in all; bench/README.md, bench/gap.sh).
 */
static long spin_ns;

static void spin(long ns) {
    if (ns <= 0) return;
    struct timespec start, now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    volatile unsigned long sink = 0;
    do {
        for (int i = 0; i < 4000; i++) sink += (unsigned long)i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < ns);
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "workflowd-bench-pg: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static char *read_file(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (fread(text, 1, (size_t)n, f) != (size_t)n) die("short read", path);
    text[n] = 0;
    fclose(f);
    return text;
}

static void load(const char *dir) {
    static const struct { const char *name; enum slot slot; } slots[] = {
        {"user", S_USER}, {"id", S_ID}, {"new_id", S_NEW_ID}, {"definition", S_DEFINITION},
        {"parameters", S_PARAMETERS}, {"to", S_TO}, {"limit_plus_one", S_LIMIT_PLUS_ONE}};
    char name[64];
    for (int op = 0; op < OP_COUNT; op++) {
        struct statement *s = &statements[op];
        snprintf(name, sizeof name, "%s.sql", op_names[op]);
        s->sql = read_file(dir, name);
        snprintf(name, sizeof name, "%s.params", op_names[op]);
        char *lines = read_file(dir, name), *save = NULL;
        for (char *line = strtok_r(lines, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (s->nparams == 64) die("too many parameters in", name);
            struct param *p = &s->params[s->nparams++];
            if (strcmp(line, "null") == 0) {
                p->slot = S_NULL;
            } else if (strncmp(line, "lit ", 4) == 0) {
                p->slot = S_LIT;
                p->lit = line + 4;
            } else if (strncmp(line, "slot ", 5) == 0) {
                size_t k;
                for (k = 0; k < sizeof slots / sizeof *slots && strcmp(slots[k].name, line + 5) != 0; k++) {}
                if (k == sizeof slots / sizeof *slots) die("unknown slot", line);
                p->slot = slots[k].slot;
            } else {
                die("bad line in .params", line);
            }
        }
    }
    char *lines = read_file(dir, "actions.txt"), *save = NULL;
    for (char *line = strtok_r(lines, "\n", &save); line && nactions < 16; line = strtok_r(NULL, "\n", &save)) {
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) die("bad line in actions.txt", line);
        *t1 = *t2 = 0;
        snprintf(actions[nactions].status, sizeof actions[nactions].status, "%s", line);
        actions[nactions].transitions = t1 + 1;
        actions[nactions++].actions = t2 + 1;
    }
}

/* ---- small text helpers (the request values this responder needs, nothing more) ---- */

struct buf { char *p; size_t len, cap; };
static void put(struct buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }
static void quoted(struct buf *b, const char *s) {
    puts_(b, "\"");
    for (; *s; s++) {
        char esc[8];
        switch (*s) {
            case '"': puts_(b, "\\\""); break;
            case '\\': puts_(b, "\\\\"); break;
            case '\n': puts_(b, "\\n"); break;
            case '\r': puts_(b, "\\r"); break;
            case '\t': puts_(b, "\\t"); break;
            default:
                if ((unsigned char)*s < 0x20) {
                    snprintf(esc, sizeof esc, "\\u%04x", *s);
                    puts_(b, esc);
                } else {
                    put(b, s, 1);
                }
        }
    }
    puts_(b, "\"");
}

/* RFC 3339 in UTC with milliseconds, from epoch microseconds (as workflowd's RFC3339.utcMilliseconds). */
static void timestamp(struct buf *b, const char *micros_text) {
    long long micros = atoll(micros_text);
    long long millis = ((micros % 1000000) + 1000000) % 1000000 / 1000;
    long long secs = (micros - millis * 1000);
    secs = secs >= 0 ? secs / 1000000 : -((-secs + 999999) / 1000000);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char out[96];
    snprintf(out, sizeof out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    puts_(b, out);
}

static int base64url_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

/* The "sub" of "Bearer header.payload.signature", unverified: 36 characters into out. */
static int token_user(const char *authorization, char out[37]) {
    if (!authorization || strncmp(authorization, "Bearer ", 7) != 0) return 0;
    const char *payload = strchr(authorization + 7, '.');
    if (!payload) return 0;
    payload++;
    char decoded[2048];
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *c = payload; *c && *c != '.' && n + 1 < sizeof decoded; c++) {
        int v = base64url_value((unsigned char)*c);
        if (v < 0) return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            decoded[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    decoded[n] = 0;
    const char *sub = strstr(decoded, "\"sub\":\"");
    if (!sub || strlen(sub + 7) < 36) return 0;
    memcpy(out, sub + 7, 36);
    out[36] = 0;
    return 1;
}

/* Where the value of "key" starts in a JSON body (the first such key; the bench's bodies are flat). */
static const char *json_value(const char *body, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(body, pattern);
    if (!at) return NULL;
    at += strlen(pattern);
    while (isspace((unsigned char)*at) || *at == ':') at++;
    return at;
}

/* The string value of "key", into out. */
static int json_string(const char *body, const char *key, char *out, size_t size) {
    const char *at = json_value(body, key);
    if (!at || *at != '"') return 0;
    const char *end = strchr(++at, '"');
    if (!end || (size_t)(end - at) >= size) return 0;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = 0;
    return 1;
}

/* The object value of "key" (balanced braces, strings skipped), as text into out. */
static int json_object(const char *body, const char *key, char *out, size_t size) {
    const char *at = json_value(body, key);
    if (!at || *at != '{') return 0;
    int depth = 0, in_string = 0;
    const char *c;
    for (c = at; *c; c++) {
        if (in_string) {
            if (*c == '\\' && c[1]) c++;
            else if (*c == '"') in_string = 0;
        } else if (*c == '"') {
            in_string = 1;
        } else if (*c == '{') {
            depth++;
        } else if (*c == '}' && --depth == 0) {
            break;
        }
    }
    if (!*c || (size_t)(c - at + 1) >= size) return 0;
    memcpy(out, at, (size_t)(c - at + 1));
    out[c - at + 1] = 0;
    return 1;
}

static int is_uuid(const char *s, size_t n) {
    if (n != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static void random_uuid(char out[37]) {
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) die("getrandom failed", NULL);
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
             r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* ---- the instance JSON, from a row of instanceColumns (as JSONWriter.instance writes it) ---- */

enum { C_ID, C_DEF, C_USER, C_STATUS, C_STEP, C_TOTAL, C_CONTEXT, C_STEP_DATA, C_VERSION, C_CREATED, C_UPDATED,
       C_AWAITING, C_SCHEMA, C_OUTPUT, C_DUE, C_DECIDED, C_STATUS_CHANGED, C_RETRY_OF, C_RETRIED_AS, C_ATTEMPT,
       C_START_STEP, INSTANCE_COLUMNS };

static void instance_json(struct buf *b, PGresult *res, int row) {
#define V(c) PQgetvalue(res, row, (c))
#define NUL(c) PQgetisnull(res, row, (c))
    const char *status = V(C_STATUS), *transitions = "[]", *allowed = "[]";
    for (int k = 0; k < nactions; k++) {
        if (strcmp(actions[k].status, status) == 0) {
            transitions = actions[k].transitions;
            allowed = actions[k].actions;
        }
    }
    puts_(b, "{\"id\":\""); puts_(b, V(C_ID));
    puts_(b, "\",\"workflowDefinitionId\":"); quoted(b, V(C_DEF));
    puts_(b, ",\"userId\":\""); puts_(b, V(C_USER));
    puts_(b, "\",\"status\":\""); puts_(b, status);
    puts_(b, "\",\"currentStep\":"); puts_(b, V(C_STEP));
    puts_(b, ",\"totalSteps\":"); puts_(b, V(C_TOTAL));
    puts_(b, ",\"context\":"); puts_(b, V(C_CONTEXT));
    puts_(b, ",\"stepData\":"); puts_(b, V(C_STEP_DATA));
    puts_(b, ",\"allowedTransitions\":"); puts_(b, transitions);
    puts_(b, ",\"allowedActions\":"); puts_(b, allowed);
    /* A wait is passed on as stored (the bench's instances have none; workflowd adds its counts). */
    puts_(b, ",\"awaiting\":"); puts_(b, NUL(C_AWAITING) ? "null" : V(C_AWAITING));
    puts_(b, ",\"version\":"); puts_(b, V(C_VERSION));
    puts_(b, ",\"createdAt\":"); timestamp(b, V(C_CREATED));
    puts_(b, ",\"updatedAt\":"); timestamp(b, V(C_UPDATED));
    puts_(b, ",\"statusChangedAt\":"); timestamp(b, V(C_STATUS_CHANGED));
    puts_(b, ",\"retryOf\":");
    if (NUL(C_RETRY_OF)) puts_(b, "null"); else quoted(b, V(C_RETRY_OF));
    puts_(b, ",\"retriedAs\":");
    if (NUL(C_RETRIED_AS)) puts_(b, "null"); else quoted(b, V(C_RETRIED_AS));
    puts_(b, ",\"attempt\":"); puts_(b, V(C_ATTEMPT));
    puts_(b, "}");
#undef V
#undef NUL
}

/* ---- one request ---- */

struct request_values {
    char user[37], id[37], new_id[37], definition[80], to[40], limit_plus_one[8];
    char parameters[8192];
};

static PGresult *run(PGconn *conn, int op, struct request_values *v) {
    const char *values[64];
    const struct statement *s = &statements[op];
    for (int k = 0; k < s->nparams; k++) {
        switch (s->params[k].slot) {
            case S_NULL: values[k] = NULL; break;
            case S_LIT: values[k] = s->params[k].lit; break;
            case S_USER: values[k] = v->user; break;
            case S_ID: values[k] = v->id; break;
            case S_NEW_ID: values[k] = v->new_id; break;
            case S_DEFINITION: values[k] = v->definition; break;
            case S_PARAMETERS: values[k] = v->parameters; break;
            case S_TO: values[k] = v->to; break;
            case S_LIMIT_PLUS_ONE: values[k] = v->limit_plus_one; break;
        }
    }
    return PQexecPrepared(conn, op_names[op], s->nparams, values, NULL, NULL, 0);
}

static void respond(FCGX_Request *r, int status, const char *content_type, const char *etag, const char *location,
                    const struct buf *body) {
    const char *reason = status == 200 ? "OK" : status == 201 ? "Created" : status == 400 ? "Bad Request"
                       : status == 401 ? "Unauthorized" : status == 404 ? "Not Found"
                       : status == 405 ? "Method Not Allowed" : status == 409 ? "Conflict" : "Internal Server Error";
    const char *request_id = FCGX_GetParam("HTTP_X_REQUEST_ID", r->envp);
    char head[1024];
    int n = snprintf(head, sizeof head, "Status: %d %s\r\n", status, reason);
    if (etag) n += snprintf(head + n, sizeof head - (size_t)n, "ETag: \"%s\"\r\n", etag);
    if (location) n += snprintf(head + n, sizeof head - (size_t)n, "Location: /api/v1/workflows/%s\r\n", location);
    n += snprintf(head + n, sizeof head - (size_t)n,
                  "Content-Type: %s\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\nContent-Length: %zu\r\n\r\n",
                  content_type, request_id ? request_id : "-", body->len);
    FCGX_PutStr(head, n, r->out);
    FCGX_PutStr(body->p, (int)body->len, r->out);
}

static void problem(FCGX_Request *r, int status, const char *detail, struct buf *body) {
    body->len = 0;
    puts_(body, "{\"status\":");
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    puts_(body, code);
    puts_(body, ",\"detail\":");
    quoted(body, detail);
    puts_(body, "}");
    respond(r, status, "application/problem+json", NULL, NULL, body);
}

static void serve(FCGX_Request *r, PGconn *conn, struct buf *body, struct buf *in) {
    struct request_values v;
    memset(&v, 0, sizeof v);
    const char *method = FCGX_GetParam("REQUEST_METHOD", r->envp);
    const char *uri = FCGX_GetParam("REQUEST_URI", r->envp);
    in->len = 0;
    char chunk[4096];
    int got;
    while ((got = FCGX_GetStr(chunk, sizeof chunk, r->in)) > 0) put(in, chunk, (size_t)got);
    puts_(in, "");
    body->len = 0;
    if (!method || !uri) return problem(r, 400, "no method or URI", body);
    if (strcmp(uri, "/api/v1/health") == 0) {
        puts_(body, "{\"status\":\"ok\"}");
        return respond(r, 200, "application/json", NULL, NULL, body);
    }
    if (!token_user(FCGX_GetParam("HTTP_AUTHORIZATION", r->envp), v.user)) return problem(r, 401, "no token", body);

    const char *prefix = "/api/v1/workflows";
    size_t plen = strlen(prefix);
    if (strncmp(uri, prefix, plen) != 0) return problem(r, 404, "not served by the ceiling", body);
    const char *rest = uri + plen;
    int op;
    if (*rest == 0 || *rest == '?') {
        if (strcmp(method, "POST") == 0 && *rest == 0) {
            op = OP_CREATE;
            random_uuid(v.new_id);
            if (!json_string(in->p, "workflowId", v.definition, sizeof v.definition))
                return problem(r, 400, "workflowId is required", body);
            if (!json_object(in->p, "parameters", v.parameters, sizeof v.parameters)) strcpy(v.parameters, "{}");
        } else if (strcmp(method, "GET") == 0) {
            op = OP_LIST;
            int limit = 20;
            const char *l = strstr(rest, "limit=");
            if (l) limit = atoi(l + 6);
            if (limit < 1 || limit > 100) return problem(r, 400, "limit must be 1 to 100", body);
            snprintf(v.limit_plus_one, sizeof v.limit_plus_one, "%d", limit + 1);
        } else {
            return problem(r, 405, "method", body);
        }
    } else if (*rest == '/' && is_uuid(rest + 1, strcspn(rest + 1, "/?"))) {
        memcpy(v.id, rest + 1, 36);
        const char *tail = rest + 37;
        if (strcmp(method, "GET") == 0 && (*tail == 0 || *tail == '?')) {
            op = OP_GET;
        } else if (strcmp(method, "POST") == 0 && strcmp(tail, "/transitions") == 0) {
            op = OP_TRANSITION;
            if (!json_string(in->p, "to", v.to, sizeof v.to)) return problem(r, 400, "to is required", body);
        } else {
            return problem(r, 404, "not served by the ceiling", body);
        }
    } else {
        return problem(r, 404, "not served by the ceiling", body);
    }

    PGresult *res = run(conn, op, &v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "workflowd-bench-pg: %s: %s", op_names[op], PQerrorMessage(conn));
        PQclear(res);
        return problem(r, 500, "database error", body);
    }
    int rows = PQntuples(res);
    switch (op) {
        case OP_GET:
            /* workflowd checks ownership after the read: another user's instance is not found */
            if (rows == 0 || strcmp(PQgetvalue(res, 0, C_USER), v.user) != 0) {
                problem(r, 404, "no such workflow instance", body);
                break;
            }
            instance_json(body, res, 0);
            respond(r, 200, "application/json", PQgetvalue(res, 0, C_VERSION), NULL, body);
            break;
        case OP_CREATE:
            if (rows == 0) { problem(r, 400, "unknown workflow definition", body); break; }
            instance_json(body, res, 0);
            respond(r, 201, "application/json", PQgetvalue(res, 0, C_VERSION), PQgetvalue(res, 0, C_ID), body);
            break;
        case OP_TRANSITION:
            /* outcomeSelect: the instance columns are NULL when the change was refused */
            if (rows == 0) { problem(r, 404, "no such workflow instance", body); break; }
            if (PQgetisnull(res, 0, C_ID)) { problem(r, 409, "transition refused", body); break; }
            instance_json(body, res, 0);
            respond(r, 200, "application/json", PQgetvalue(res, 0, C_VERSION), NULL, body);
            break;
        case OP_LIST: {
            int limit = atoi(v.limit_plus_one) - 1, shown = rows < limit ? rows : limit;
            puts_(body, "{\"items\":[");
            for (int k = 0; k < shown; k++) {
                if (k) puts_(body, ",");
                instance_json(body, res, k);
            }
            puts_(body, "],\"nextCursor\":");
            if (rows > limit) {
                /* base64url (unpadded) of "i1:<created µs>:<id>" of the last item shown, as CursorCoding */
                static const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                char text[128], out[200];
                int n = snprintf(text, sizeof text, "i1:%s:%s", PQgetvalue(res, shown - 1, C_CREATED),
                                 PQgetvalue(res, shown - 1, C_ID));
                int o = 0;
                for (int k = 0; k < n; k += 3) {
                    unsigned a = (unsigned char)text[k], bb = k + 1 < n ? (unsigned char)text[k + 1] : 0,
                             c = k + 2 < n ? (unsigned char)text[k + 2] : 0, w = a << 16 | bb << 8 | c;
                    out[o++] = alphabet[w >> 18 & 63];
                    out[o++] = alphabet[w >> 12 & 63];
                    if (k + 1 < n) out[o++] = alphabet[w >> 6 & 63];
                    if (k + 2 < n) out[o++] = alphabet[w & 63];
                }
                out[o] = 0;
                quoted(body, out);
            } else {
                puts_(body, "null");
            }
            puts_(body, "}");
            respond(r, 200, "application/json", NULL, NULL, body);
            break;
        }
    }
    PQclear(res);
}

static PGconn *connect_and_prepare(void) {
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) die("cannot connect", PQerrorMessage(conn));
    for (int op = 0; op < OP_COUNT; op++) {
        PGresult *res = PQprepare(conn, op_names[op], statements[op].sql, statements[op].nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) die("cannot prepare", PQerrorMessage(conn));
        PQclear(res);
        /* the response is built from the columns of instanceColumns: refuse SQL that returns fewer */
        res = PQdescribePrepared(conn, op_names[op]);
        if (PQnfields(res) < INSTANCE_COLUMNS || strcmp(PQfname(res, C_ID), "id") != 0 ||
            strcmp(PQfname(res, C_STATUS), "status") != 0 || strcmp(PQfname(res, C_VERSION), "version") != 0)
            die("the captured SQL does not return instanceColumns first", op_names[op]);
        PQclear(res);
    }
    return conn;
}

static void *worker(void *arg) {
    PGconn *conn = arg;
    FCGX_Request request;
    struct buf body = {0}, in = {0};
    if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
    while (FCGX_Accept_r(&request) >= 0) {
        spin(spin_ns / 2);
        serve(&request, conn, &body, &in);
        spin(spin_ns - spin_ns / 2);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s SOCKET_PATH THREADS CONNINFO SQL_DIR\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int threads = atoi(argv[2]);
    if (threads < 1 || threads > 1024) die("THREADS must be 1..1024", NULL);
    conninfo = argv[3];
    const char *spin_us = getenv("BENCH_PG_SPIN_US");
    spin_ns = spin_us ? (long)(atof(spin_us) * 1000) : 0;
    load(argv[4]);
    PGconn **conns = calloc((size_t)threads, sizeof *conns);
    for (int i = 0; i < threads; i++) conns[i] = connect_and_prepare();

    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) die("FCGX_Init failed", NULL);
    /* FCGX_Init makes SIGTERM only set a flag (threads stay blocked in accept): end at once instead */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    unlink(path);
    listen_fd = FCGX_OpenSocket(path, 1024); /* same backlog as workflowd */
    if (listen_fd < 0) die("cannot listen on", path);
    chmod(path, 0666);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, worker, conns[i]);
    fprintf(stderr, "workflowd-bench-pg: %d threads, a libpq connection each, on %s, %ld ns spun per request\n", threads, path, spin_ns);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    return 0;
}
