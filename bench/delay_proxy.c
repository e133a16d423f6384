/* A loopback TCP proxy that delays every byte by a fixed time in each direction (the C twin of
 * bench/delay_proxy.py, for loads where the Python proxy's own CPU and scheduling would count).
 *
 *   cc -O2 -o delay_proxy bench/delay_proxy.c && ./delay_proxy TARGET_PORT DELAY_MICROSECONDS
 *
 * Listens on 127.0.0.1 on a port chosen at start and prints it as its first line; forwards each
 * connection to 127.0.0.1:TARGET_PORT. A chunk read at time t is written at t + delay, after
 * every chunk read before it in the same direction. One thread, epoll, and a timerfd armed for
 * the earliest chunk due.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct chunk {
    struct chunk *next;
    uint64_t due;
    size_t length, sent;
    char bytes[];
};

/* One direction: bytes read from `from`, written to `to` once due. */
struct direction {
    int from, to;
    struct chunk *head, *tail;
    int eof;
    struct direction *peer;
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define MAX_DIRECTIONS 4096
static struct direction *directions[MAX_DIRECTIONS];
static int direction_count;
static uint64_t delay;
static int epoll_fd, timer_fd;

static void arm_timer(void) {
    uint64_t earliest = 0;
    for (int i = 0; i < direction_count; i++) {
        struct chunk *c = directions[i]->head;
        if (c && (earliest == 0 || c->due < earliest)) earliest = c->due;
    }
    struct itimerspec spec = {0};
    if (earliest) {
        spec.it_value.tv_sec = (time_t)(earliest / 1000000u);
        spec.it_value.tv_nsec = (long)(earliest % 1000000u) * 1000;
    }
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

static void close_pair(struct direction *d) {
    struct direction *pair[2] = {d, d->peer};
    close(d->from);
    close(d->to);
    for (int p = 0; p < 2; p++) {
        for (struct chunk *c = pair[p]->head; c;) {
            struct chunk *next = c->next;
            free(c);
            c = next;
        }
        for (int i = 0; i < direction_count; i++) {
            if (directions[i] == pair[p]) {
                directions[i] = directions[--direction_count];
                break;
            }
        }
        free(pair[p]);
    }
}

/* Writes what is due; returns -1 when the pair was closed. */
static int flush_due(struct direction *d, uint64_t now) {
    while (d->head && d->head->due <= now) {
        struct chunk *c = d->head;
        ssize_t n = write(d->to, c->bytes + c->sent, c->length - c->sent);
        if (n < 0) {
            if (errno == EAGAIN) return 0;
            close_pair(d);
            return -1;
        }
        c->sent += (size_t)n;
        if (c->sent < c->length) return 0;
        d->head = c->next;
        if (!d->head) d->tail = NULL;
        free(c);
    }
    if (!d->head && d->eof) {
        if (d->peer->eof && !d->peer->head) {
            close_pair(d);
            return -1;
        }
        shutdown(d->to, SHUT_WR);
    }
    return 0;
}

static void add_pair(int client, int server) {
    if (direction_count + 2 > MAX_DIRECTIONS) {
        close(client);
        close(server);
        return;
    }
    struct direction *up = calloc(1, sizeof *up), *down = calloc(1, sizeof *down);
    up->from = client, up->to = server, up->peer = down;
    down->from = server, down->to = client, down->peer = up;
    directions[direction_count++] = up;
    directions[direction_count++] = down;
    struct epoll_event e = {.events = EPOLLIN};
    e.data.ptr = up;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &e);
    e.data.ptr = down;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, server, &e);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TARGET_PORT DELAY_MICROSECONDS\n", argv[0]);
        return 2;
    }
    int target_port = atoi(argv[1]);
    delay = (uint64_t)atoll(argv[2]);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 128) != 0) {
        perror("listen");
        return 1;
    }
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    printf("%d\n", ntohs(address.sin_port));
    fflush(stdout);

    epoll_fd = epoll_create1(0);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct epoll_event e = {.events = EPOLLIN};
    e.data.ptr = &listener;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &e);
    e.data.ptr = &timer_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &e);
    static char buffer[65536];
    for (;;) {
        struct epoll_event events[64];
        int ready = epoll_wait(epoll_fd, events, 64, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < ready; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &listener) {
                int client = accept(listener, NULL, NULL);
                if (client < 0) continue;
                int server = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)target_port),
                                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                if (connect(server, (struct sockaddr *)&target, sizeof target) != 0) {
                    close(client);
                    close(server);
                    continue;
                }
                setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                add_pair(client, server);
            } else if (tag == &timer_fd) {
                uint64_t expirations;
                if (read(timer_fd, &expirations, sizeof expirations) < 0) { /* spurious */ }
            } else {
                struct direction *d = tag;
                ssize_t n = read(d->from, buffer, sizeof buffer);
                if (n > 0) {
                    struct chunk *c = malloc(sizeof *c + (size_t)n);
                    c->next = NULL, c->due = now_us() + delay, c->length = (size_t)n, c->sent = 0;
                    memcpy(c->bytes, buffer, (size_t)n);
                    if (d->tail) d->tail->next = c; else d->head = c;
                    d->tail = c;
                } else {
                    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, d->from, NULL);
                    d->eof = 1;
                    if (d->peer->eof && !d->head && !d->peer->head) {
                        close_pair(d);
                        continue;
                    }
                }
            }
        }
        uint64_t now = now_us();
        for (int i = 0; i < direction_count; i++) {
            if (flush_due(directions[i], now) < 0) i = -1; /* the list changed: start over */
        }
        arm_timer();
    }
}
