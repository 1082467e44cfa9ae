/*
 * Origin servers and SOCKS5 load generator for bench/socks.ts (compiled there with gcc).
 *
 * Why C: a Node client loop tops out near 4,200 connections/s with no proxy at all, which
 * would hide the differences the benchmark is after. One epoll thread here does several times
 * that, and its direct rate is printed beside every proxy's so that the ceiling is visible.
 *
 *   socksbench origin [ECHO_PORTS]
 *       Listens on 127.0.0.1 (ephemeral ports) for
 *         - HTTP: `GET /<bytes>` answers <bytes> bytes of 'a' (Content-Length, then close);
 *         - echo, on ECHO_PORTS ports (default 1): writes back whatever it reads, closes
 *           after the client's FIN.
 *       Prints {"http":P,"echo":[Q,...]} on stdout, then serves until killed (or its parent dies).
 *       Several echo ports let each rate test use a destination no earlier test left TIME_WAIT
 *       sockets towards, without waiting the 60 s they last.
 *
 *   socksbench load PROXY_PORT TARGET_PORT CONCURRENCY SECONDS MAX_CYCLES SOURCE_IP [USER PASS]
 *       CONCURRENCY clients, each in a loop until SECONDS or MAX_CYCLES completed cycles:
 *         TCP connect from SOURCE_IP (client i from SOURCE_IP + i % 8: 8 addresses give
 *         8 × 28k ports, which ~14k direct connections/s need while each lasts 60 s in
 *         TIME_WAIT) -> greeting (username/password method) -> RFC 1929 auth
 *         -> CONNECT 127.0.0.1:TARGET_PORT -> 16-byte request, 16-byte reply -> close.
 *       With PROXY_PORT 0 it connects straight to the target (connect -> 16 bytes -> close).
 *       "Connect latency" is from connect() to the tunnel being usable: the CONNECT reply
 *       through a proxy, the completed TCP handshake direct.
 *       Prints one JSON line with completed cycles, errors, the rate and latency percentiles.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------------------------------------ */
/* origin                                                                                      */
/* ------------------------------------------------------------------------------------------ */

enum { K_HTTP_LISTEN = 1, K_ECHO_LISTEN, K_HTTP, K_ECHO };

struct oconn {
  int kind;
  int fd;
  /* HTTP: request bytes, then the header being sent and the body bytes still to send. */
  char req[1024];
  size_t req_len;
  char head[256];
  size_t head_len, head_off;
  uint64_t body_left;
  int sending;
  /* echo: bytes read but not yet written back (the peer's window was full). */
  char pend[65536];
  size_t pend_len, pend_off;
};

static char body_chunk[256 * 1024];

static int listen_on(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static void oclose(struct oconn *c) {
  close(c->fd);
  free(c);
}

static void watch(int ep, int op, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  if (epoll_ctl(ep, op, fd, &ev) < 0) die("epoll_ctl");
}

/* Sends the header then the body; returns 1 when done, 0 when the socket is full, -1 on error. */
static int http_send(struct oconn *c) {
  while (c->head_off < c->head_len) {
    ssize_t n = write(c->fd, c->head + c->head_off, c->head_len - c->head_off);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->head_off += (size_t)n;
  }
  while (c->body_left > 0) {
    size_t want = c->body_left < sizeof body_chunk ? (size_t)c->body_left : sizeof body_chunk;
    ssize_t n = write(c->fd, body_chunk, want);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->body_left -= (uint64_t)n;
  }
  return 1;
}

static void on_http(int ep, struct oconn *c) {
  if (!c->sending) {
    ssize_t n = read(c->fd, c->req + c->req_len, sizeof c->req - 1 - c->req_len);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      return oclose(c);
    }
    c->req_len += (size_t)n;
    c->req[c->req_len] = 0;
    if (!strstr(c->req, "\r\n\r\n")) {
      if (c->req_len >= sizeof c->req - 1) oclose(c);
      return;
    }
    unsigned long long bytes = 0;
    if (sscanf(c->req, "GET /%llu", &bytes) != 1) return oclose(c);
    c->body_left = bytes;
    c->head_len = (size_t)snprintf(c->head, sizeof c->head,
                                   "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                   "Content-Length: %llu\r\nConnection: close\r\n\r\n",
                                   bytes);
    c->sending = 1;
    watch(ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
  }
  int r = http_send(c);
  if (r != 0) oclose(c);
}

static void on_echo(int ep, struct oconn *c, uint32_t events) {
  if (c->pend_len > c->pend_off) {
    if (!(events & EPOLLOUT)) return;
    ssize_t n = write(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
    if (n < 0) {
      if (errno != EAGAIN) oclose(c);
      return;
    }
    c->pend_off += (size_t)n;
    if (c->pend_off < c->pend_len) return;
    c->pend_len = c->pend_off = 0;
    watch(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
    return;
  }
  ssize_t n = read(c->fd, c->pend, sizeof c->pend);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return;
    return oclose(c); /* the client's FIN (or an error): close our side too */
  }
  ssize_t w = write(c->fd, c->pend, (size_t)n);
  if (w < 0 && errno != EAGAIN) return oclose(c);
  if (w < 0) w = 0;
  if (w < n) {
    c->pend_len = (size_t)n;
    c->pend_off = (size_t)w;
    watch(ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
  }
}

#define MAX_ECHO_PORTS 256

static __attribute__((noreturn)) void run_origin(int echo_ports) {
  memset(body_chunk, 'a', sizeof body_chunk);
  if (echo_ports < 1 || echo_ports > MAX_ECHO_PORTS) echo_ports = 1;
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  int port;
  static struct oconn http_l = {.kind = K_HTTP_LISTEN}, echo_l[MAX_ECHO_PORTS];
  http_l.fd = listen_on(&port);
  watch(ep, EPOLL_CTL_ADD, http_l.fd, EPOLLIN, &http_l);
  printf("{\"http\":%d,\"echo\":[", port);
  for (int i = 0; i < echo_ports; i++) {
    echo_l[i].kind = K_ECHO_LISTEN;
    echo_l[i].fd = listen_on(&port);
    watch(ep, EPOLL_CTL_ADD, echo_l[i].fd, EPOLLIN, &echo_l[i]);
    printf("%s%d", i ? "," : "", port);
  }
  printf("]}\n");
  fflush(stdout);

  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct oconn *c = evs[i].data.ptr;
      if (c->kind == K_HTTP_LISTEN || c->kind == K_ECHO_LISTEN) {
        for (;;) {
          int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          set_nodelay(fd);
          struct oconn *nc = calloc(1, sizeof *nc);
          if (!nc) die("calloc");
          nc->fd = fd;
          nc->kind = c->kind == K_HTTP_LISTEN ? K_HTTP : K_ECHO;
          watch(ep, EPOLL_CTL_ADD, fd, EPOLLIN, nc);
        }
      } else if (c->kind == K_HTTP) {
        on_http(ep, c);
      } else {
        on_echo(ep, c, evs[i].events);
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* load generator                                                                              */
/* ------------------------------------------------------------------------------------------ */

enum { S_IDLE, S_CONNECTING, S_METHOD, S_AUTH, S_REPLY, S_ECHO };
enum { E_CONNECT, E_REFUSED_AUTH, E_REPLY, E_EOF, E_TIMEOUT, E_IO, E_KINDS };
static const char *error_names[E_KINDS] = {"connect", "auth", "reply", "eof", "timeout", "io"};

#define PAYLOAD_LEN 16
#define SOURCE_SPREAD 8
#define CYCLE_TIMEOUT_NS 5000000000ull

struct client {
  int fd;
  int state;
  uint32_t gen;
  uint64_t t0;
  uint32_t connect_us;
  unsigned char buf[300];
  size_t got;
};

static struct {
  int direct;
  struct sockaddr_in proxy, target, source[SOURCE_SPREAD];
  unsigned char greeting[3], auth[600], request[10];
  size_t auth_len;
  uint32_t *latency_us;
  uint64_t completed, max_completed, errors[E_KINDS];
  int ep;
  int stopping;
} L;

static struct client *clients;
static int nclients;

static const unsigned char payload[PAYLOAD_LEN] = "0123456789abcdef";

static void start_client(struct client *c);

static void end_client(struct client *c, int error) {
  close(c->fd);
  c->fd = -1;
  c->state = S_IDLE;
  c->gen++;
  if (error >= 0) L.errors[error]++;
  if (!L.stopping) start_client(c);
}

static void watch_client(struct client *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events};
  ev.data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - clients);
  if (epoll_ctl(L.ep, op, c->fd, &ev) < 0) die("epoll_ctl");
}

static void start_client(struct client *c) {
  if (L.completed >= L.max_completed) {
    L.stopping = 1;
    return;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  int one = 1;
  /* A source other than 127.0.0.1 keeps our ports apart from the proxy's outbound ones;
   * NO_PORT lets connect() pick the port per destination (and reuse TIME_WAIT ones). */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in *from = &L.source[(c - clients) % SOURCE_SPREAD];
  if (bind(fd, (struct sockaddr *)from, sizeof *from) < 0) die("bind source address");
  set_nodelay(fd);
  c->fd = fd;
  c->got = 0;
  c->t0 = now_ns();
  struct sockaddr_in *to = L.direct ? &L.target : &L.proxy;
  int r = connect(fd, (struct sockaddr *)to, sizeof *to);
  if (r < 0 && errno != EINPROGRESS) {
    L.errors[E_CONNECT]++;
    close(fd);
    c->fd = -1;
    c->state = S_IDLE; /* retried on the next loop turn, not recursively */
    return;
  }
  c->state = S_CONNECTING;
  watch_client(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static int send_all(struct client *c, const void *buf, size_t len) {
  ssize_t n = write(c->fd, buf, len);
  return n == (ssize_t)len ? 0 : -1;
}

/* Kept on the client until its cycle completes: only completed cycles count. */
static void record_latency(struct client *c) {
  uint64_t ns = now_ns() - c->t0;
  c->connect_us = ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ns / 1000);
}

/* Reads into c->buf until it holds `want` bytes; returns 1 when it does, 0 to wait, -1 on EOF/error. */
static int fill(struct client *c, size_t want) {
  while (c->got < want) {
    ssize_t n = read(c->fd, c->buf + c->got, want - c->got);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->got += (size_t)n;
  }
  return 1;
}

static void on_client(struct client *c) {
  int r;
  switch (c->state) {
    case S_CONNECTING: {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return end_client(c, E_CONNECT);
      watch_client(c, EPOLLIN, EPOLL_CTL_MOD);
      if (L.direct) {
        record_latency(c);
        c->state = S_ECHO;
        if (send_all(c, payload, PAYLOAD_LEN)) return end_client(c, E_IO);
      } else {
        c->state = S_METHOD;
        if (send_all(c, L.greeting, sizeof L.greeting)) return end_client(c, E_IO);
      }
      return;
    }
    case S_METHOD:
      if ((r = fill(c, 2)) <= 0) return r < 0 ? end_client(c, E_EOF) : (void)0;
      if (c->buf[0] != 5 || c->buf[1] != 2) return end_client(c, E_REFUSED_AUTH);
      c->got = 0;
      c->state = S_AUTH;
      if (send_all(c, L.auth, L.auth_len)) return end_client(c, E_IO);
      return;
    case S_AUTH:
      if ((r = fill(c, 2)) <= 0) return r < 0 ? end_client(c, E_EOF) : (void)0;
      if (c->buf[1] != 0) return end_client(c, E_REFUSED_AUTH);
      c->got = 0;
      c->state = S_REPLY;
      if (send_all(c, L.request, sizeof L.request)) return end_client(c, E_IO);
      return;
    case S_REPLY: {
      /* VER REP RSV ATYP, then a bound address whose length depends on ATYP, then the port. */
      if ((r = fill(c, 5)) <= 0) return r < 0 ? end_client(c, E_EOF) : (void)0;
      if (c->buf[1] != 0) return end_client(c, E_REPLY);
      size_t total = c->buf[3] == 1 ? 10 : c->buf[3] == 4 ? 22 : (size_t)7 + c->buf[4];
      if ((r = fill(c, total)) <= 0) return r < 0 ? end_client(c, E_EOF) : (void)0;
      record_latency(c);
      c->got = 0;
      c->state = S_ECHO;
      if (send_all(c, payload, PAYLOAD_LEN)) return end_client(c, E_IO);
      return;
    }
    case S_ECHO:
      if ((r = fill(c, PAYLOAD_LEN)) <= 0) return r < 0 ? end_client(c, E_EOF) : (void)0;
      if (memcmp(c->buf, payload, PAYLOAD_LEN) != 0) return end_client(c, E_IO);
      if (L.completed < L.max_completed) L.latency_us[L.completed] = c->connect_us;
      L.completed++;
      return end_client(c, -1);
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(const uint32_t *sorted, uint64_t n, double p) {
  if (n == 0) return 0;
  uint64_t i = (uint64_t)(p * (double)(n - 1) + 0.5);
  return sorted[i] / 1000.0;
}

static int set_addr(struct sockaddr_in *a, const char *ip, int port) {
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, ip, &a->sin_addr);
}

static int run_load(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: socksbench load PROXY_PORT TARGET_PORT CONCURRENCY SECONDS MAX_CYCLES SOURCE_IP [USER PASS]\n");
    return 2;
  }
  int proxy_port = atoi(argv[2]), target_port = atoi(argv[3]);
  nclients = atoi(argv[4]);
  double seconds = atof(argv[5]);
  L.max_completed = strtoull(argv[6], NULL, 10);
  const char *source = argv[7];
  const char *user = argc > 8 ? argv[8] : "bench", *pass = argc > 9 ? argv[9] : "";
  size_t ulen = strlen(user), plen = strlen(pass);
  if (nclients < 1 || seconds <= 0 || L.max_completed < 1 || ulen > 255 || plen > 255) return 2;

  L.direct = proxy_port == 0;
  set_addr(&L.proxy, "127.0.0.1", proxy_port);
  set_addr(&L.target, "127.0.0.1", target_port);
  if (set_addr(&L.source[0], source, 0) != 1) return 2;
  for (int i = 1; i < SOURCE_SPREAD; i++) {
    L.source[i] = L.source[0];
    L.source[i].sin_addr.s_addr = htonl(ntohl(L.source[0].sin_addr.s_addr) + (uint32_t)i);
  }
  memcpy(L.greeting, "\x05\x01\x02", 3);
  L.auth[0] = 1;
  L.auth[1] = (unsigned char)ulen;
  memcpy(L.auth + 2, user, ulen);
  L.auth[2 + ulen] = (unsigned char)plen;
  memcpy(L.auth + 3 + ulen, pass, plen);
  L.auth_len = 3 + ulen + plen;
  unsigned char req[10] = {5, 1, 0, 1, 127, 0, 0, 1, (unsigned char)(target_port >> 8), (unsigned char)target_port};
  memcpy(L.request, req, sizeof req);
  L.latency_us = malloc(L.max_completed * sizeof *L.latency_us);
  clients = calloc((size_t)nclients, sizeof *clients);
  if (!L.latency_us || !clients) die("malloc");
  L.ep = epoll_create1(0);
  if (L.ep < 0) die("epoll_create1");

  uint64_t start = now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
  for (int i = 0; i < nclients; i++) {
    clients[i].fd = -1;
    start_client(&clients[i]);
  }
  struct epoll_event evs[512];
  uint64_t now = start;
  while (!L.stopping) {
    int n = epoll_wait(L.ep, evs, 512, 20);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      uint32_t idx = (uint32_t)evs[i].data.u64, gen = (uint32_t)(evs[i].data.u64 >> 32);
      struct client *c = &clients[idx];
      if (c->gen != gen || c->fd < 0) continue; /* an event for a socket closed earlier in this batch */
      on_client(c);
    }
    now = now_ns();
    if (now >= deadline) break;
    /* Restart clients whose connect() failed at once, and cut cycles stuck for too long. */
    for (int i = 0; i < nclients && !L.stopping; i++) {
      struct client *c = &clients[i];
      if (c->state == S_IDLE) start_client(c);
      else if (now - c->t0 > CYCLE_TIMEOUT_NS) end_client(c, E_TIMEOUT);
    }
    uint64_t errors = 0;
    for (int k = 0; k < E_KINDS; k++) errors += L.errors[k];
    if (L.completed == 0 && errors > 10000) break; /* nothing works: stop early, the JSON says why */
  }
  double elapsed = (double)(now - start) / 1e9;
  /* In-flight cycles at the deadline are abandoned, not counted. */
  L.stopping = 1;
  for (int i = 0; i < nclients; i++)
    if (clients[i].fd >= 0) close(clients[i].fd);

  uint64_t n = L.completed < L.max_completed ? L.completed : L.max_completed;
  qsort(L.latency_us, n, sizeof *L.latency_us, cmp_u32);
  double sum = 0;
  for (uint64_t i = 0; i < n; i++) sum += L.latency_us[i];
  printf("{\"completed\":%llu,\"seconds\":%.3f,\"rate\":%.1f,\"connectMs\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
         "\"p99\":%.3f,\"max\":%.3f},\"errors\":{",
         (unsigned long long)L.completed, elapsed, (double)L.completed / elapsed, n ? sum / (double)n / 1000.0 : 0,
         pct(L.latency_us, n, 0.50), pct(L.latency_us, n, 0.90), pct(L.latency_us, n, 0.99),
         n ? L.latency_us[n - 1] / 1000.0 : 0);
  for (int k = 0; k < E_KINDS; k++) printf("%s\"%s\":%llu", k ? "," : "", error_names[k], (unsigned long long)L.errors[k]);
  printf("}}\n");
  return 0;
}

int main(int argc, char **argv) {
  /* Never outlive the bench that started us. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && strcmp(argv[1], "origin") == 0) run_origin(argc > 2 ? atoi(argv[2]) : 1);
  if (argc >= 2 && strcmp(argv[1], "load") == 0) return run_load(argc, argv);
  fprintf(stderr, "usage: socksbench origin | socksbench load ...\n");
  return 2;
}
