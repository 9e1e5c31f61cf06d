/* The floor for scripts/perf.sh's paced case (issue 20): the least CPU a client can spend
 * consuming a streamed benchmark's traffic. One thread, no runtime, level-triggered epoll,
 * one read() per readiness, no parsing: it sends the same request as infermeter on CONC
 * kept-alive connections (closed loop, REQUESTS in all) and only looks at the last bytes of
 * each read for the chunked body's terminator ("\r\n0\r\n\r\n") to know when to send the
 * next request. What it spends is the kernel's share of receiving the traffic (plus one
 * epoll_wait per wake-up), which infermeter's client CPU per event is compared with.
 *
 * Usage: floor-reader PORT PATH CONC REQUESTS BODY_FILE [--recvmsg] [--uring]
 *   --recvmsg  read with recvmsg() and SO_TIMESTAMPNS, taking the kernel's stamp as
 *              infermeter does (the cost of the stamps, not part of the floor).
 *   --uring    receive through io_uring instead of epoll + read: one multishot receive per
 *              connection (IORING_OP_RECV, or IORING_OP_RECVMSG with --recvmsg) into a
 *              registered buffer ring, the ring set up with DEFER_TASKRUN so the receives run
 *              in batches inside io_uring_enter, which waits for one completion at a time.
 *              The question it answers: can a client go below one system call per event?
 * Prints one JSON line: CPU (user, sys) and wall time from the first connect to the last
 * response's end (getrusage deltas), reads, bytes, responses.
 * Build: cc -O2 -o floor-reader scripts/floor-reader.c
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#define HAVE_URING 1
#endif

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

#ifdef HAVE_URING
/* A minimal io_uring: raw system calls, no liburing. */
struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, sq_pending;
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
};
#define NBUF 4096
#define BSZ 2048

static void ring_init(struct ring *r) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 16384;
    r->fd = (int)syscall(__NR_io_uring_setup, 1024, &p);
    if (r->fd < 0) die("io_uring_setup");
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        fprintf(stderr, "floor-reader: this kernel's io_uring lacks IORING_FEAT_SINGLE_MMAP\n");
        exit(1);
    }
    size_t len = sq_len > cq_len ? sq_len : cq_len;
    char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (m == MAP_FAILED) die("mmap rings");
    r->sq_tail = (unsigned *)(m + p.sq_off.tail);
    r->sq_mask = (unsigned *)(m + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(m + p.sq_off.array);
    r->cq_head = (unsigned *)(m + p.cq_off.head);
    r->cq_tail = (unsigned *)(m + p.cq_off.tail);
    r->cq_mask = (unsigned *)(m + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
    r->sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) die("mmap sqes");
    r->sq_pending = 0;
}

static struct io_uring_sqe *ring_sqe(struct ring *r) {
    unsigned tail = *r->sq_tail + r->sq_pending;
    unsigned i = tail & *r->sq_mask;
    r->sq_array[i] = i;
    r->sq_pending++;
    struct io_uring_sqe *e = &r->sqes[i];
    memset(e, 0, sizeof *e);
    return e;
}

static struct msghdr uring_msg; /* msg_controllen only: the layout of each recvmsg buffer */

static void arm(struct ring *r, int fd, unsigned idx, int stamps) {
    struct io_uring_sqe *e = ring_sqe(r);
    e->opcode = stamps ? IORING_OP_RECVMSG : IORING_OP_RECV;
    e->fd = fd;
    if (stamps) {
        e->addr = (unsigned long long)(uintptr_t)&uring_msg;
        e->len = 1;
    }
    e->ioprio = IORING_RECV_MULTISHOT;
    e->flags = IOSQE_BUFFER_SELECT;
    e->buf_group = 0;
    e->user_data = idx;
}

/* Hand buffer `bid` (back) to the kernel: it becomes visible at the next tail store. */
static void give_buf(struct io_uring_buf_ring *br, unsigned short *btail, char (*bufs)[BSZ], unsigned bid) {
    struct io_uring_buf *x = &br->bufs[*btail & (NBUF - 1)];
    x->addr = (unsigned long long)(uintptr_t)bufs[bid];
    x->len = BSZ;
    x->bid = (unsigned short)bid;
    (*btail)++;
}

static int run_uring(struct conn *conns, int conc, long requests, const char *req, size_t rlen, int stamps,
                     long *sent, long *reads, long *responses, long *wakeups, unsigned long long *bytes,
                     unsigned long long *stamp_sum) {
    struct ring r;
    ring_init(&r);
    struct io_uring_buf_ring *br = mmap(0, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED) die("mmap buffer ring");
    static char bufs[NBUF][BSZ];
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long long)(uintptr_t)br;
    reg.ring_entries = NBUF;
    reg.bgid = 0;
    if (syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
        die("io_uring_register(PBUF_RING)");
    unsigned short btail = 0;
    for (unsigned b = 0; b < NBUF; b++) give_buf(br, &btail, bufs, b);
    __atomic_store_n(&br->tail, btail, __ATOMIC_RELEASE);
    uring_msg.msg_controllen = 32;
    for (int i = 0; i < conc; i++) arm(&r, conns[i].fd, (unsigned)i, stamps);
    int active = conc;
    while (active > 0) {
        unsigned submit = r.sq_pending;
        __atomic_store_n(r.sq_tail, *r.sq_tail + submit, __ATOMIC_RELEASE);
        r.sq_pending = 0;
        if (syscall(__NR_io_uring_enter, r.fd, submit, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
            if (errno == EINTR) continue;
            die("io_uring_enter");
        }
        (*wakeups)++;
        unsigned head = *r.cq_head, tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *c = &r.cqes[head & *r.cq_mask];
            unsigned idx = (unsigned)c->user_data;
            int res = c->res;
            unsigned flags = c->flags;
            struct conn *cn = &conns[idx];
            if (res == -ENOBUFS) {
                arm(&r, cn->fd, idx, stamps);
                continue;
            }
            if (res < 0) {
                errno = -res;
                die("multishot receive");
            }
            if (res == 0 || !(flags & IORING_CQE_F_BUFFER)) {
                fprintf(stderr, "floor-reader: server closed a connection mid-response\n");
                return 1;
            }
            unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
            char *data = bufs[bid];
            size_t n = (size_t)res;
            if (stamps) {
                struct io_uring_recvmsg_out *o = (struct io_uring_recvmsg_out *)data;
                struct cmsghdr *cm = (struct cmsghdr *)(data + sizeof *o);
                if (o->controllen >= sizeof *cm + sizeof(struct timespec) && cm->cmsg_level == SOL_SOCKET &&
                    cm->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(cm), sizeof ts);
                    *stamp_sum += (unsigned long long)ts.tv_nsec;
                }
                n = o->payloadlen;
                data += sizeof *o + uring_msg.msg_controllen;
            }
            (*reads)++;
            *bytes += n;
            int end = ended(cn, data, n);
            give_buf(br, &btail, bufs, bid);
            if (!(flags & IORING_CQE_F_MORE)) arm(&r, cn->fd, idx, stamps);
            if (!end) continue;
            (*responses)++;
            cn->tail_len = 0;
            if (*sent < requests) {
                send_all(cn->fd, req, rlen);
                (*sent)++;
            } else {
                active--;
            }
        }
        __atomic_store_n(&br->tail, btail, __ATOMIC_RELEASE);
        __atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
    }
    for (int i = 0; i < conc; i++) close(conns[i].fd);
    return 0;
}
#endif

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: floor-reader PORT PATH CONC REQUESTS BODY_FILE [--recvmsg]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    int conc = atoi(argv[3]);
    long requests = atol(argv[4]);
    int use_recvmsg = 0, use_uring = 0;
    for (int a = 6; a < argc; a++) {
        if (strcmp(argv[a], "--recvmsg") == 0) use_recvmsg = 1;
        else if (strcmp(argv[a], "--uring") == 0) use_uring = 1;
        else {
            fprintf(stderr, "floor-reader: unknown option %s\n", argv[a]);
            return 2;
        }
    }
#ifndef HAVE_URING
    if (use_uring) {
        fprintf(stderr, "floor-reader: built without <linux/io_uring.h>\n");
        return 2;
    }
#endif
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
        if (use_uring) continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }

    static char buf[BUF];
    struct epoll_event evs[1024];
    long reads = 0, responses = 0, wakeups = 0;
    unsigned long long bytes = 0, stamp_sum = 0;
    int active = use_uring ? 0 : conc;
#ifdef HAVE_URING
    if (use_uring && run_uring(conns, conc, requests, req, rlen, use_recvmsg, &sent, &reads, &responses, &wakeups,
                               &bytes, &stamp_sum) != 0)
        return 1;
#endif
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
