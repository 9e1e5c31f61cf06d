/* The floor for scripts/perf.sh's paced case (issue 20): the least CPU a client can spend
 * consuming a streamed benchmark's traffic. One thread, no runtime, level-triggered epoll,
 * one read() per readiness, no parsing: it sends the same request as infermeter on CONC
 * kept-alive connections (closed loop, REQUESTS in all) and only looks at the last bytes of
 * each read for the chunked body's terminator ("\r\n0\r\n\r\n") to know when to send the
 * next request. What it spends is the kernel's share of receiving the traffic (plus one
 * epoll_wait per wake-up), which infermeter's client CPU per event is compared with.
 *
 * Usage: floor-reader PORT PATH CONC REQUESTS BODY_FILE [--recvmsg]
 *   --recvmsg  read with recvmsg() and SO_TIMESTAMPNS, taking the kernel's stamp as
 *              infermeter does (the cost of the stamps, not part of the floor).
 * Prints one JSON line: CPU (user, sys) and wall time from the first connect to the last
 * response's end (getrusage deltas), reads, bytes, responses.
 * Build: cc -O2 -o floor-reader scripts/floor-reader.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (64 * 1024)
static const char END[] = "\r\n0\r\n\r\n";
#define END_LEN 7

struct conn {
    int fd;
    char tail[END_LEN];
    int tail_len;
};

static double tv(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static void die(const char *what) {
    fprintf(stderr, "floor-reader: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void send_all(int fd, const char *req, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, req + off, len - off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) die("write");
        off += (size_t)n;
    }
}

/* Keep the last END_LEN bytes seen on the connection; true when they are the terminator. */
static int ended(struct conn *c, const char *data, size_t n) {
    if (n >= END_LEN) {
        memcpy(c->tail, data + n - END_LEN, END_LEN);
        c->tail_len = END_LEN;
    } else {
        int keep = c->tail_len + (int)n > END_LEN ? END_LEN - (int)n : c->tail_len;
        memmove(c->tail, c->tail + c->tail_len - keep, keep);
        memcpy(c->tail + keep, data, n);
        c->tail_len = keep + (int)n;
    }
    return c->tail_len == END_LEN && memcmp(c->tail, END, END_LEN) == 0;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: floor-reader PORT PATH CONC REQUESTS BODY_FILE [--recvmsg]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    int conc = atoi(argv[3]);
    long requests = atol(argv[4]);
    int use_recvmsg = argc > 6 && strcmp(argv[6], "--recvmsg") == 0;
    if (port <= 0 || conc <= 0 || requests <= 0) {
        fprintf(stderr, "floor-reader: PORT, CONC and REQUESTS must be positive\n");
        return 2;
    }
    if (conc > requests) conc = (int)requests;

    FILE *f = fopen(argv[5], "rb");
    if (!f) die("open body file");
    static char body[1 << 20];
    size_t blen = fread(body, 1, sizeof body, f);
    fclose(f);
    static char req[(1 << 20) + 1024];
    int hlen = snprintf(req, 1024,
                        "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                        "Accept: text/event-stream\r\nContent-Length: %zu\r\n\r\n",
                        path, port, blen);
    memcpy(req + hlen, body, blen);
    size_t rlen = (size_t)hlen + blen;

    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double w0 = now_s();

    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)conc, sizeof *conns);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    long sent = 0;
    for (int i = 0; i < conc; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (use_recvmsg) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
        conns[i].fd = fd;
        send_all(fd, req, rlen);
        sent++;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }

    static char buf[BUF];
    struct epoll_event evs[1024];
    long reads = 0, responses = 0, wakeups = 0;
    unsigned long long bytes = 0, stamp_sum = 0;
    int active = conc;
    while (active > 0) {
        int k = epoll_wait(ep, evs, 1024, -1);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        wakeups++;
        for (int e = 0; e < k; e++) {
            struct conn *c = &conns[evs[e].data.u32];
            ssize_t n;
            if (use_recvmsg) {
                struct iovec iov = {.iov_base = buf, .iov_len = BUF};
                unsigned long long control[8];
                struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                     .msg_controllen = sizeof control};
                n = recvmsg(c->fd, &msg, MSG_DONTWAIT);
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); n > 0 && cm; cm = CMSG_NXTHDR(&msg, cm)) {
                    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;
                        memcpy(&ts, CMSG_DATA(cm), sizeof ts);
                        stamp_sum += (unsigned long long)ts.tv_nsec;
                    }
                }
            } else {
                n = read(c->fd, buf, BUF);
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n < 0) die("read");
            if (n == 0) {
                fprintf(stderr, "floor-reader: server closed a connection mid-response\n");
                return 1;
            }
            reads++;
            bytes += (unsigned long long)n;
            if (!ended(c, buf, (size_t)n)) continue;
            responses++;
            c->tail_len = 0;
            if (sent < requests) {
                send_all(c->fd, req, rlen);
                sent++;
            } else {
                close(c->fd);
                active--;
            }
        }
    }

    double w1 = now_s();
    getrusage(RUSAGE_SELF, &r1);
    double user = tv(r1.ru_utime) - tv(r0.ru_utime);
    double sys = tv(r1.ru_stime) - tv(r0.ru_stime);
    printf("{\"cpu_s\": %.6f, \"user_s\": %.6f, \"sys_s\": %.6f, \"wall_s\": %.6f, \"reads\": %ld, "
           "\"wakeups\": %ld, \"bytes\": %llu, \"responses\": %ld, \"stamps\": %s}\n",
           user + sys, user, sys, w1 - w0, reads, wakeups, bytes, responses, stamp_sum ? "true" : "false");
    return 0;
}
