/* Slow or failing fsync for fault runs: an LD_PRELOAD shim over fsync and fdatasync, steered at
 * run time through a control file so a nemesis can turn a disk slow or broken and back while the
 * process runs.
 *
 *   FSYNC_FAULT_CONTROL=<path>   the control file; missing or empty means no fault. Its content:
 *     delay <ms>                 every fsync/fdatasync waits <ms> before it runs (a slow disk)
 *     fail                       every fsync/fdatasync fails with EIO without syncing (a dying
 *                                disk; Conclave must stop rather than acknowledge)
 *
 * The file is read again at most every 20 ms (on the monotonic clock, which costs no system
 * call), so steering it does not add a read to every sync. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { NONE, DELAY, FAIL };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum mode current = NONE;
static long delay_ms = 0;
static long long read_at_ns = -1;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The fault in force, re-reading the control file when the last read is older than 20 ms. */
static enum mode fault(long* ms) {
  const char* path = getenv("FSYNC_FAULT_CONTROL");
  if (!path) return NONE;
  pthread_mutex_lock(&mu);
  long long t = now_ns();
  if (read_at_ns < 0 || t - read_at_ns > 20000000LL) {
    read_at_ns = t;
    current = NONE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[64];
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      if (n > 0) {
        buf[n] = '\0';
        if (strncmp(buf, "fail", 4) == 0) {
          current = FAIL;
        } else if (strncmp(buf, "delay ", 6) == 0) {
          current = DELAY;
          delay_ms = strtol(buf + 6, NULL, 10);
        }
      }
    }
  }
  enum mode m = current;
  *ms = delay_ms;
  pthread_mutex_unlock(&mu);
  return m;
}

/* 0 to go on with the real call, -1 (errno set) to fail it. */
static int before_sync(void) {
  long ms = 0;
  switch (fault(&ms)) {
    case FAIL:
      errno = EIO;
      return -1;
    case DELAY: {
      struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
      while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
      }
      return 0;
    }
    default:
      return 0;
  }
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (before_sync() < 0) return -1;
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  if (before_sync() < 0) return -1;
  return real(fd);
}
