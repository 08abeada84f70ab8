/*
 * The libfcgi ceiling for bench/run.sh: the least a threaded libfcgi responder can do per request,
 * with the same threading model as workflowd (N threads, each blocked in FCGX_Accept_r on the same
 * listening socket, one request at a time each): read the params and the body, answer a fixed JSON
 * document (bench/ceiling/response.json, ~600 bytes, like a workflow instance) with the headers
 * workflowd sends (Content-Type, ETag, X-Request-Id, Content-Length). No database, no JSON, no JWT.
 *
 *   cc -O2 -pthread -o workflowd-bench-ceiling fcgi_ceiling.c -lfcgi
 *   workflowd-bench-ceiling SOCKET_PATH THREADS RESPONSE_FILE
 *
 * The binary's name contains "workflowd" on purpose: scripts/run.sh sweep stops leftovers whose pid
 * file names a process with "workflowd" in its command line. SIGTERM/SIGINT end it at once.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd;
static char *body;
static size_t body_len;

static void *worker(void *arg) {
    (void)arg;
    FCGX_Request request;
    char buffer[16384];
    char head[512];
    if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
    while (FCGX_Accept_r(&request) >= 0) {
        /* Drain the body, as workflowd reads it before answering. */
        while (FCGX_GetStr(buffer, sizeof buffer, request.in) > 0) {
        }
        const char *method = FCGX_GetParam("REQUEST_METHOD", request.envp);
        const char *request_id = FCGX_GetParam("HTTP_X_REQUEST_ID", request.envp);
        int created = method && strcmp(method, "POST") == 0;
        int n = snprintf(head, sizeof head,
                         "Status: %s\r\nContent-Type: application/json\r\nETag: \"3\"\r\n"
                         "X-Request-Id: %s\r\nContent-Length: %zu\r\n\r\n",
                         created ? "201 Created" : "200 OK", request_id ? request_id : "-", body_len);
        FCGX_PutStr(head, n, request.out);
        FCGX_PutStr(body, (int)body_len, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET_PATH THREADS RESPONSE_FILE\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int threads = atoi(argv[2]);
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "THREADS must be 1..1024\n");
        return 2;
    }
    FILE *f = fopen(argv[3], "rb");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    body = malloc(65536);
    body_len = fread(body, 1, 65536, f);
    fclose(f);
    while (body_len > 0 && (body[body_len - 1] == '\n' || body[body_len - 1] == '\r')) body_len--;

    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) {
        fprintf(stderr, "FCGX_Init failed\n");
        return 1;
    }
    /* FCGX_Init makes SIGTERM only set a flag (the threads would stay blocked in accept):
     * end at once instead, like workflowd's stop but without draining. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    unlink(path);
    listen_fd = FCGX_OpenSocket(path, 1024); /* same backlog as workflowd */
    if (listen_fd < 0) {
        fprintf(stderr, "cannot listen on %s\n", path);
        return 1;
    }
    chmod(path, 0666);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, worker, NULL);
    fprintf(stderr, "fcgi ceiling: %d threads on %s, %zu-byte body\n", threads, path, body_len);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    return 0;
}
