#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

static void cfastcgi_wake_handler(int signal_number) { (void)signal_number; }

/* Installs a no-op handler for `signal_number` *without* SA_RESTART: delivering it to a worker thread
 * interrupts its blocking accept() with EINTR, and libfcgi then returns from FCGX_Accept_r for a request
 * initialised with FCGI_FAIL_ACCEPT_ON_INTR. Used to stop on an inherited listen socket, which must not be
 * shut down because it belongs to the supervisor (systemd) and outlives this process. */
static inline int cfastcgi_install_wake_signal(int signal_number) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cfastcgi_wake_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    return sigaction(signal_number, &action, NULL);
}

/* FCGX_Init installs libfcgi's own handlers for SIGTERM, SIGPIPE and SIGUSR1, replacing even SIG_IGN.
 * Signal dispositions belong to the program that embeds the server, not to this library: initialise
 * libfcgi and put back what the process had. */
static inline int cfastcgi_init_keeping_signals(void) {
    const int numbers[] = {SIGTERM, SIGINT, SIGPIPE, SIGUSR1};
    enum { count = sizeof numbers / sizeof numbers[0] };
    struct sigaction saved[count];
    for (int i = 0; i < count; i++) sigaction(numbers[i], NULL, &saved[i]);
    int result = FCGX_Init();
    for (int i = 0; i < count; i++) sigaction(numbers[i], &saved[i], NULL);
    return result;
}

/* Threads inherit their creator's signal mask, and Dispatch's worker threads block every signal:
 * a worker must unblock the wake signal itself. */
static inline int cfastcgi_unblock_signal(int signal_number) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* The parking lot's watch set: parked connections in an epoll set, each tagged with its request id.
 * Edge-triggered: a parked connection carries nothing more from nginx, so its turning readable or hung up
 * (nginx closed it: the client went away) is reported once. `struct epoll_event` is packed on x86-64,
 * so its fields stay on this side and Swift sees plain ids. */
static inline int cfastcgi_watch_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int cfastcgi_watch_add(int watch, int fd, uint64_t id) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.u64 = id;
    return epoll_ctl(watch, EPOLL_CTL_ADD, fd, &event);
}

static inline int cfastcgi_watch_remove(int watch, int fd) { return epoll_ctl(watch, EPOLL_CTL_DEL, fd, NULL); }

/* Waits up to `timeout_ms` and writes the ids of connections that ended to `ids` (at most `max`, <= 256);
 * returns how many, or -1 (errno set). */
static inline int cfastcgi_watch_wait(int watch, uint64_t *ids, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int ready = epoll_wait(watch, events, max, timeout_ms);
    for (int i = 0; i < ready; i++) ids[i] = events[i].data.u64;
    return ready;
}

static inline int cfastcgi_watch_close(int watch) { return close(watch); }
#endif
