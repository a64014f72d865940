/*
 * The benchmark's initiator and its loopback ceiling (bench/README.md). Built by the bench itself:
 *   cc -O2 -o dist/bench/io-probe bench/io-probe.c -l:libiscsi.so.7
 * against Debian's libiscsi7 as installed (no libiscsi-dev: the few prototypes it needs are
 * declared below; they are libiscsi's stable ABI, the same the project's ctypes scripts use).
 *
 *   io-probe iscsi URL --op read|write --size BYTES --depth QD --pattern random|seq --seconds S
 *                      [--sessions N]
 *       Logs N sessions (default 1) in to URL (iscsi://HOST:PORT/IQN/LUN), header digest off,
 *       and keeps QD READ(16)/WRITE(16) commands of SIZE bytes outstanding on each for S seconds
 *       (random offsets aligned to SIZE over the whole LU, or sequential from LBA 0, wrapping;
 *       FUA off), then waits for the last ones and logs out.
 *   io-probe fill URL [--size BYTES] [--depth QD]
 *       Writes the whole LU once, sequentially (default 1 MiB at QD8).
 *   io-probe tcp-serve
 *       The loopback ceiling's server on 127.0.0.1: prints "port N", then serves one connection
 *       at a time. A request is a 48-byte header (an iSCSI basic header segment's size) naming
 *       read or write and SIZE; a write's SIZE bytes follow it; the answer is a 48-byte header,
 *       followed by SIZE bytes for a read.
 *   io-probe tcp HOST:PORT --op read|write --size BYTES --depth QD --seconds S
 *       The ceiling's client: QD such requests in flight on one connection for S seconds.
 *
 * Every mode but tcp-serve prints one JSON line: ops, bytes, seconds, iops, mibps, p50_us,
 * p99_us (per request, from handing it to libiscsi or the socket to its completion), errors,
 * first_error. Writes send one shared buffer (libiscsi sends from it without copying); reads
 * land in buffers libiscsi allocates and frees with the task, as iscsi-perf's do. Exit status 0
 * with the JSON line; 2 when the setup failed (bad arguments, no login).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- libiscsi (libiscsi.so.7) ------------------------------------------------------------- */

struct iscsi_context;
struct scsi_task {
  int status; /* the leading field of libiscsi's struct scsi_task */
};
struct scsi_readcapacity10 {
  uint32_t lba;
  uint32_t block_size;
};
typedef void (*iscsi_command_cb)(struct iscsi_context *, int status, void *command_data, void *private_data);

struct iscsi_context *iscsi_create_context(const char *initiator_name);
int iscsi_set_targetname(struct iscsi_context *, const char *targetname);
int iscsi_set_session_type(struct iscsi_context *, int session_type);
int iscsi_set_header_digest(struct iscsi_context *, int header_digest);
int iscsi_full_connect_sync(struct iscsi_context *, const char *portal, int lun);
const char *iscsi_get_error(struct iscsi_context *);
int iscsi_get_fd(struct iscsi_context *);
int iscsi_which_events(struct iscsi_context *);
int iscsi_service(struct iscsi_context *, int revents);
int iscsi_logout_sync(struct iscsi_context *);
int iscsi_destroy_context(struct iscsi_context *);
struct scsi_task *iscsi_readcapacity10_sync(struct iscsi_context *, int lun, int lba, int pmi);
void *scsi_datain_unmarshall(struct scsi_task *);
void scsi_free_scsi_task(struct scsi_task *);
struct scsi_task *iscsi_read16_task(struct iscsi_context *, int lun, uint64_t lba, uint32_t datalen, int blocksize,
                                    int rdprotect, int dpo, int fua, int fua_nv, int group_number,
                                    iscsi_command_cb cb, void *private_data);
struct scsi_task *iscsi_write16_task(struct iscsi_context *, int lun, uint64_t lba, unsigned char *data,
                                     uint32_t datalen, int blocksize, int wrprotect, int dpo, int fua, int fua_nv,
                                     int group_number, iscsi_command_cb cb, void *private_data);

#define ISCSI_SESSION_NORMAL 2
#define ISCSI_HEADER_DIGEST_NONE 0

/* ---- shared -------------------------------------------------------------------------------- */

#define HEADER 48

static void die(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("setup: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct latencies {
  uint64_t *values;
  size_t count, capacity;
};

static void record(struct latencies *l, uint64_t ns) {
  if (l->count == l->capacity) {
    l->capacity = l->capacity ? l->capacity * 2 : 65536;
    l->values = realloc(l->values, l->capacity * sizeof(uint64_t));
    if (!l->values) die("out of memory for latencies");
  }
  l->values[l->count++] = ns;
}

static int by_value(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double percentile_us(struct latencies *l, double fraction) {
  size_t at = (size_t)(fraction * (double)l->count);
  if (at >= l->count) at = l->count - 1;
  return (double)l->values[at] / 1000.0;
}

static void print_summary(uint64_t ops, uint64_t size, double seconds, struct latencies *l, uint64_t errors,
                          const char *first_error) {
  printf("{\"ops\":%llu,\"bytes\":%llu,\"seconds\":%.4f,\"iops\":%.1f,\"mibps\":%.2f", (unsigned long long)ops,
         (unsigned long long)(ops * size), seconds, seconds > 0 ? (double)ops / seconds : 0,
         seconds > 0 ? (double)(ops * size) / seconds / 1048576.0 : 0);
  if (l->count > 0) {
    qsort(l->values, l->count, sizeof(uint64_t), by_value);
    printf(",\"p50_us\":%.1f,\"p99_us\":%.1f", percentile_us(l, 0.50), percentile_us(l, 0.99));
  } else {
    printf(",\"p50_us\":null,\"p99_us\":null");
  }
  printf(",\"errors\":%llu,\"first_error\":", (unsigned long long)errors);
  if (first_error) {
    putchar('"');
    for (const char *c = first_error; *c; c++) {
      if (*c == '"' || *c == '\\') putchar('\\');
      putchar((unsigned char)*c < 0x20 ? ' ' : *c);
    }
    putchar('"');
  } else {
    fputs("null", stdout);
  }
  puts("}");
  fflush(stdout);
}

/* ---- iSCSI ----------------------------------------------------------------------------------- */

struct session;
struct op {
  struct session *session;
  uint64_t started;
  struct op *next_free;
};
struct session {
  struct iscsi_context *ctx;
  int lun;
  int inflight;
  struct op *free_ops;
};

static struct {
  int write;
  int random;
  uint32_t size;
  uint32_t block_size;
  uint64_t per_op, slots, next_seq, rng;
  unsigned char *data;
  uint64_t ops, errors, issued, outstanding;
  char first_error[256];
  struct latencies latencies;
} run;

static void on_done(struct iscsi_context *ctx, int status, void *command_data, void *private_data) {
  struct op *op = private_data;
  record(&run.latencies, now_ns() - op->started);
  op->session->inflight--;
  run.outstanding--;
  if (status != 0) {
    if (run.errors++ == 0)
      snprintf(run.first_error, sizeof run.first_error, "status 0x%x: %s", (unsigned)status, iscsi_get_error(ctx));
  } else {
    run.ops++;
  }
  if (command_data) scsi_free_scsi_task(command_data);
  op->next_free = op->session->free_ops;
  op->session->free_ops = op;
}

static uint64_t next_slot(void) {
  if (!run.random) return run.next_seq++ % run.slots;
  /* xorshift64* */
  run.rng ^= run.rng >> 12;
  run.rng ^= run.rng << 25;
  run.rng ^= run.rng >> 27;
  return (run.rng * 2685821657736338717ull) % run.slots;
}

static void issue(struct session *s) {
  struct op *op = s->free_ops;
  s->free_ops = op->next_free;
  uint64_t lba = next_slot() * run.per_op;
  op->started = now_ns();
  struct scsi_task *task =
      run.write ? iscsi_write16_task(s->ctx, s->lun, lba, run.data, run.size, (int)run.block_size, 0, 0, 0, 0, 0,
                                     on_done, op)
                : iscsi_read16_task(s->ctx, s->lun, lba, run.size, (int)run.block_size, 0, 0, 0, 0, 0, on_done, op);
  if (!task) die("could not queue a command: %s", iscsi_get_error(s->ctx));
  s->inflight++;
  run.outstanding++;
  run.issued++;
}

static void connect_session(struct session *s, const char *url, int index, int depth) {
  char portal[256], iqn[512], name[128];
  int lun;
  if (sscanf(url, "iscsi://%255[^/]/%511[^/]/%d", portal, iqn, &lun) != 3)
    die("%s: write iscsi://HOST:PORT/IQN/LUN", url);
  snprintf(name, sizeof name, "iqn.2026-01.dev.collie.bench:probe-%d-%d", (int)getpid(), index);
  s->ctx = iscsi_create_context(name);
  if (!s->ctx) die("iscsi_create_context failed");
  iscsi_set_targetname(s->ctx, iqn);
  iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(s->ctx, ISCSI_HEADER_DIGEST_NONE);
  if (iscsi_full_connect_sync(s->ctx, portal, lun) != 0)
    die("cannot log in to %s: %s", url, iscsi_get_error(s->ctx));
  s->lun = lun;
  s->inflight = 0;
  s->free_ops = NULL;
  struct op *ops = calloc((size_t)depth, sizeof(struct op));
  if (!ops) die("out of memory");
  for (int i = 0; i < depth; i++) {
    ops[i].session = s;
    ops[i].next_free = s->free_ops;
    s->free_ops = &ops[i];
  }
}

static void read_capacity(struct session *s) {
  for (int attempt = 0; attempt < 8; attempt++) { /* the first commands may meet a UNIT ATTENTION */
    struct scsi_task *task = iscsi_readcapacity10_sync(s->ctx, s->lun, 0, 0);
    if (!task) die("READ CAPACITY(10): %s", iscsi_get_error(s->ctx));
    if (task->status == 0) {
      struct scsi_readcapacity10 *rc = scsi_datain_unmarshall(task);
      if (!rc) die("READ CAPACITY(10): cannot parse the answer");
      run.block_size = rc->block_size;
      uint64_t blocks = (uint64_t)rc->lba + 1;
      scsi_free_scsi_task(task);
      if (run.block_size == 0 || run.size % run.block_size != 0)
        die("--size %u is not a multiple of the block size %u", run.size, run.block_size);
      run.per_op = run.size / run.block_size;
      run.slots = blocks / run.per_op;
      if (run.slots == 0) die("the LU is smaller than one request");
      return;
    }
    scsi_free_scsi_task(task);
  }
  die("READ CAPACITY(10) kept failing");
}

/* seconds > 0: run that long; otherwise issue slots (the whole LU) once. */
static void run_iscsi(const char *url, int depth, double seconds, int sessions_count) {
  struct session *sessions = calloc((size_t)sessions_count, sizeof(struct session));
  struct pollfd *fds = calloc((size_t)sessions_count, sizeof(struct pollfd));
  if (!sessions || !fds) die("out of memory");
  for (int i = 0; i < sessions_count; i++) connect_session(&sessions[i], url, i, depth);
  read_capacity(&sessions[0]);
  run.data = malloc(run.size);
  if (!run.data) die("out of memory");
  for (uint32_t i = 0; i < run.size; i++) run.data[i] = (unsigned char)(i * 2654435761u >> 24);
  run.rng = 0x9E3779B97F4A7C15ull;
  uint64_t limit = seconds > 0 ? UINT64_MAX : run.slots;
  uint64_t began = now_ns();
  uint64_t deadline = seconds > 0 ? began + (uint64_t)(seconds * 1e9) : UINT64_MAX;
  int stopping = 0;
  for (int i = 0; i < sessions_count; i++)
    while (sessions[i].inflight < depth && run.issued < limit) issue(&sessions[i]);
  while (run.outstanding > 0) {
    for (int i = 0; i < sessions_count; i++) {
      fds[i].fd = iscsi_get_fd(sessions[i].ctx);
      fds[i].events = (short)iscsi_which_events(sessions[i].ctx);
      fds[i].revents = 0;
    }
    if (poll(fds, (nfds_t)sessions_count, 1000) < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (!stopping && (now_ns() >= deadline || run.issued >= limit)) stopping = 1;
    for (int i = 0; i < sessions_count; i++) {
      if (fds[i].revents == 0) continue;
      if (iscsi_service(sessions[i].ctx, fds[i].revents) < 0) {
        fprintf(stderr, "run: iscsi_service: %s\n", iscsi_get_error(sessions[i].ctx));
        exit(1);
      }
      if (!stopping)
        while (sessions[i].inflight < depth && run.issued < limit) issue(&sessions[i]);
    }
  }
  double elapsed = (double)(now_ns() - began) / 1e9;
  for (int i = 0; i < sessions_count; i++) {
    iscsi_logout_sync(sessions[i].ctx);
    iscsi_destroy_context(sessions[i].ctx);
  }
  print_summary(run.ops, run.size, elapsed, &run.latencies, run.errors, run.errors ? run.first_error : NULL);
}

/* ---- loopback ceiling ------------------------------------------------------------------------ */

static int recv_exact(int fd, unsigned char *into, size_t length) {
  size_t got = 0;
  while (got < length) {
    ssize_t n = recv(fd, into + got, length - got, 0);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)n;
  }
  return 0;
}

static int send_all(int fd, const unsigned char *from, size_t length) {
  size_t sent = 0;
  while (sent < length) {
    ssize_t n = send(fd, from + sent, length - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    sent += (size_t)n;
  }
  return 0;
}

static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void tcp_serve(void) {
  int server = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (server < 0 || bind(server, (struct sockaddr *)&address, sizeof address) < 0 || listen(server, 4) < 0 ||
      getsockname(server, (struct sockaddr *)&address, &length) < 0)
    die("tcp-serve: %s", strerror(errno));
  printf("port %d\n", ntohs(address.sin_port));
  fflush(stdout);
  unsigned char *buffer = NULL;
  size_t capacity = 0;
  for (;;) {
    int fd = accept(server, NULL, NULL);
    if (fd < 0) continue;
    no_delay(fd);
    for (;;) {
      unsigned char header[HEADER];
      if (recv_exact(fd, header, HEADER) < 0) break;
      uint32_t size = ntohl(*(uint32_t *)(header + 4));
      if (HEADER + (size_t)size > capacity) {
        capacity = HEADER + (size_t)size;
        buffer = realloc(buffer, capacity);
        if (!buffer) die("out of memory");
        memset(buffer, 0, capacity);
      }
      memcpy(buffer, header, HEADER);
      if (header[0] == 2) { /* write: take the data, answer with the header */
        if (recv_exact(fd, buffer + HEADER, size) < 0 || send_all(fd, buffer, HEADER) < 0) break;
      } else if (send_all(fd, buffer, HEADER + (size_t)size) < 0) {
        break;
      }
    }
    close(fd);
  }
}

static void run_tcp(const char *where, int depth, double seconds) {
  char host[128];
  int port;
  if (sscanf(where, "%127[^:]:%d", host, &port) != 2) die("%s: write HOST:PORT", where);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (fd < 0 || inet_pton(AF_INET, host, &address.sin_addr) != 1 ||
      connect(fd, (struct sockaddr *)&address, sizeof address) < 0)
    die("cannot connect to %s: %s", where, strerror(errno));
  no_delay(fd);
  size_t request_length = HEADER + (run.write ? run.size : 0);
  size_t answer_length = HEADER + (run.write ? 0 : run.size);
  unsigned char *request = calloc(1, request_length), *answer = malloc(answer_length);
  uint64_t *sent_at = malloc((size_t)depth * sizeof(uint64_t));
  if (!request || !answer || !sent_at) die("out of memory");
  request[0] = run.write ? 2 : 1;
  *(uint32_t *)(request + 4) = htonl(run.size);
  uint64_t began = now_ns(), deadline = began + (uint64_t)(seconds * 1e9);
  uint64_t sent = 0, received = 0;
  for (int i = 0; i < depth; i++) {
    sent_at[sent % (uint64_t)depth] = now_ns();
    if (send_all(fd, request, request_length) < 0) die("send: %s", strerror(errno));
    sent++;
  }
  while (received < sent) {
    if (recv_exact(fd, answer, answer_length) < 0) die("the server closed the connection");
    uint64_t now = now_ns();
    record(&run.latencies, now - sent_at[received % (uint64_t)depth]);
    received++;
    if (now < deadline) {
      sent_at[sent % (uint64_t)depth] = now_ns();
      if (send_all(fd, request, request_length) < 0) die("send: %s", strerror(errno));
      sent++;
    }
  }
  double elapsed = (double)(now_ns() - began) / 1e9;
  close(fd);
  print_summary(received, run.size, elapsed, &run.latencies, 0, NULL);
}

/* ---- command line ---------------------------------------------------------------------------- */

static const char *option(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 3; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  if (!fallback) die("%s is required (see bench/io-probe.c)", name);
  return fallback;
}

static long positive(const char *name, const char *text) {
  char *end;
  long value = strtol(text, &end, 10);
  if (*end != '\0' || value <= 0) die("%s must be a positive integer, not '%s'", name, text);
  return value;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "tcp-serve") == 0) {
    tcp_serve();
    return 0;
  }
  if (argc < 3) die("usage: io-probe iscsi|fill|tcp TARGET OPTIONS, or io-probe tcp-serve (see bench/io-probe.c)");
  const char *mode = argv[1], *target = argv[2];
  if (strcmp(mode, "fill") == 0) {
    run.write = 1;
    run.size = (uint32_t)positive("--size", option(argc, argv, "--size", "1048576"));
    run_iscsi(target, (int)positive("--depth", option(argc, argv, "--depth", "8")), 0, 1);
    return 0;
  }
  const char *op = option(argc, argv, "--op", NULL);
  if (strcmp(op, "read") != 0 && strcmp(op, "write") != 0) die("--op is read or write, not '%s'", op);
  run.write = strcmp(op, "write") == 0;
  run.size = (uint32_t)positive("--size", option(argc, argv, "--size", NULL));
  int depth = (int)positive("--depth", option(argc, argv, "--depth", NULL));
  double seconds = atof(option(argc, argv, "--seconds", NULL));
  if (!(seconds > 0)) die("--seconds must be positive");
  if (strcmp(mode, "iscsi") == 0) {
    const char *pattern = option(argc, argv, "--pattern", NULL);
    if (strcmp(pattern, "random") != 0 && strcmp(pattern, "seq") != 0)
      die("--pattern is random or seq, not '%s'", pattern);
    run.random = strcmp(pattern, "random") == 0;
    run_iscsi(target, depth, seconds, (int)positive("--sessions", option(argc, argv, "--sessions", "1")));
  } else if (strcmp(mode, "tcp") == 0) {
    run_tcp(target, depth, seconds);
  } else {
    die("unknown mode '%s'", mode);
  }
  return 0;
}
