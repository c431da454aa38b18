/* Power loss for tests: an LD_PRELOAD shim that journals, for every file under $POWERLOSS_ROOT,
 * what each write, truncate, create and rename replaced, and which of them a later fsync,
 * fdatasync or directory fsync made durable. After the process is killed (SIGKILL), the test runs
 * tests/pyharness/powerloss.py on the journal, which undoes, newest first, everything not yet
 * durable: the files are left as a machine that lost power at that instant would find them (in
 * the spirit of Jepsen's lazyfs, without FUSE). A server that acknowledges before fdatasync loses
 * acknowledged writes under it; `kill -9` alone cannot show that, since the page cache survives.
 *
 * The model, per path name:
 *   - data written (write, pwrite) or cut (truncate, ftruncate, O_TRUNC) is durable once the file
 *     is fsync'ed or fdatasync'ed under that name;
 *   - a file's creation, a rename and a deletion (unlink, remove) are durable once their directory
 *     is fsync'ed: a file deleted since its directory's last fsync comes back;
 *   - mkdir is durable at once;
 *   - no torn writes: an undone write is undone whole.
 *
 * Journal records (fields separated by tabs, then `len` raw bytes of saved content):
 *   C path                          the file did not exist before this open(O_CREAT)
 *   W path off oldsize len          a write at `off`; the bytes it overwrote below oldsize follow
 *   T path newsize oldsize len      a truncation; the bytes it cut follow
 *   S path                          file data synced
 *   D path                          directory synced
 *   R old new existed len           a rename; `new`'s previous content follows when it existed
 *   U path len                      a deletion; the file's content follows
 * Only the calls the storage layer makes are intercepted (open/openat/creat, write, pwrite,
 * truncate/ftruncate, fsync/fdatasync, rename, unlink/unlinkat/remove, close); writev and mmap
 * writes are not journalled. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FDS 65536

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int journal_fd = -1;

/* One operation and its journal records at a time: threads are ordered by `mu`, processes (a
 * child forked by a traced program shares the journal) by a POSIX lock on the journal, which
 * belongs to the process and is not inherited. pthread_atfork keeps a child from starting with
 * `mu` held by a thread it does not have. */
static void lock(void) {
  pthread_mutex_lock(&mu);
  if (journal_fd >= 0) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    while (fcntl(journal_fd, F_SETLKW, &fl) < 0 && errno == EINTR) {
    }
  }
}
static void unlock(void) {
  if (journal_fd >= 0) {
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
    fcntl(journal_fd, F_SETLK, &fl);
  }
  pthread_mutex_unlock(&mu);
}
static void before_fork(void) { pthread_mutex_lock(&mu); }
static void after_fork(void) { pthread_mutex_unlock(&mu); }
static char* fd_path[MAX_FDS];
static char root[PATH_MAX];
static size_t root_len;
static int initialized;

static int (*real_open)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static int (*real_truncate)(const char*, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char*, const char*);
static int (*real_unlink)(const char*);
static int (*real_unlinkat)(int, const char*, int);
static int (*real_remove)(const char*);
static int (*real_close)(int);

static void init(void) {
  if (initialized) return;
  real_open = dlsym(RTLD_NEXT, "open");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_truncate = dlsym(RTLD_NEXT, "truncate");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_rename = dlsym(RTLD_NEXT, "rename");
  real_unlink = dlsym(RTLD_NEXT, "unlink");
  real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
  real_remove = dlsym(RTLD_NEXT, "remove");
  real_close = dlsym(RTLD_NEXT, "close");
  const char* r = getenv("POWERLOSS_ROOT");
  const char* j = getenv("POWERLOSS_JOURNAL");
  if (r && j && strlen(r) < sizeof root) {
    strcpy(root, r);
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/') root[--root_len] = '\0';
    journal_fd = real_open(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (journal_fd < 0) {
      fprintf(stderr, "powerloss: cannot open journal %s: %s\n", j, strerror(errno));
      abort();
    }
  }
  pthread_atfork(before_fork, after_fork, after_fork);
  initialized = 1;
}

__attribute__((constructor)) static void powerloss_init(void) { init(); }

/* Absolute form of `path` (relative to the working directory or to `dirfd`), or NULL when it is
 * not under the root. The caller frees it. */
static char* tracked_path(int dirfd, const char* path) {
  if (journal_fd < 0 || !path) return NULL;
  char buf[PATH_MAX * 2];
  if (path[0] == '/') {
    snprintf(buf, sizeof buf, "%s", path);
  } else {
    char base[PATH_MAX];
    if (dirfd != AT_FDCWD && dirfd >= 0 && dirfd < MAX_FDS && fd_path[dirfd]) snprintf(base, sizeof base, "%s", fd_path[dirfd]);
    else if (!getcwd(base, sizeof base)) return NULL;
    snprintf(buf, sizeof buf, "%s/%s", base, path);
  }
  if (strncmp(buf, root, root_len) != 0 || (buf[root_len] != '/' && buf[root_len] != '\0')) return NULL;
  return strdup(buf);
}

static void journal_raw(const void* data, size_t n) {
  const char* p = data;
  while (n > 0) {
    ssize_t w = real_write(journal_fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "powerloss: journal write failed: %s\n", strerror(errno));
      abort();
    }
    p += w;
    n -= (size_t)w;
  }
}

/* One record: a header line, then `len` bytes of the file at `path` from `from` (read through a
 * descriptor of our own: the caller's may be write-only). */
static void journal(const char* header, const char* path, off_t from, size_t len) {
  journal_raw(header, strlen(header));
  if (len == 0) return;
  int fd = real_open(path, O_RDONLY | O_CLOEXEC);
  char buf[65536];
  while (len > 0) {
    size_t chunk = len < sizeof buf ? len : sizeof buf;
    ssize_t r = fd >= 0 ? pread(fd, buf, chunk, from) : -1;
    if (r <= 0) {
      /* Cannot happen for bytes below the size just read; keep the journal well-formed. */
      memset(buf, 0, chunk);
      r = (ssize_t)chunk;
    }
    journal_raw(buf, (size_t)r);
    from += r;
    len -= (size_t)r;
  }
  if (fd >= 0) real_close(fd);
}

static off_t size_of_fd(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_size : 0;
}

static void remember(int fd, char* path) {
  if (fd < 0 || fd >= MAX_FDS) {
    free(path);
    return;
  }
  free(fd_path[fd]);
  fd_path[fd] = path;
}

static int do_open(int dirfd, const char* path, int flags, mode_t mode) {
  init();
  char* abs = tracked_path(dirfd, path);
  if (!abs) return dirfd == AT_FDCWD ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
  lock();
  struct stat st;
  int existed = stat(abs, &st) == 0;
  if ((flags & O_TRUNC) && existed && (flags & (O_WRONLY | O_RDWR)) && st.st_size > 0) {
    char header[PATH_MAX + 128];
    snprintf(header, sizeof header, "T\t%s\t0\t%lld\t%lld\n", abs, (long long)st.st_size, (long long)st.st_size);
    journal(header, abs, 0, (size_t)st.st_size);
  }
  int fd = dirfd == AT_FDCWD ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
  if (fd >= 0 && !existed && (flags & O_CREAT)) {
    char header[PATH_MAX + 16];
    snprintf(header, sizeof header, "C\t%s\n", abs);
    journal(header, abs, 0, 0);
  }
  if (fd >= 0) remember(fd, abs);
  else free(abs);
  unlock();
  return fd;
}

static mode_t mode_arg(int flags, va_list ap) { return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0; }

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, mode);
}
int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, mode);
}
int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(dirfd, path, flags, mode);
}
int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(dirfd, path, flags, mode);
}
int creat(const char* path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

static const char* path_of(int fd) { return fd >= 0 && fd < MAX_FDS ? fd_path[fd] : NULL; }

static void journal_write(int fd, const char* path, off_t off, size_t n) {
  off_t old = size_of_fd(fd);
  size_t keep = off < old ? (size_t)((off + (off_t)n < old ? off + (off_t)n : old) - off) : 0;
  char header[PATH_MAX + 128];
  snprintf(header, sizeof header, "W\t%s\t%lld\t%lld\t%zu\n", path, (long long)off, (long long)old, keep);
  journal(header, path, off, keep);
}

ssize_t write(int fd, const void* buf, size_t n) {
  init();
  const char* path = journal_fd >= 0 ? path_of(fd) : NULL;
  if (!path) return real_write(fd, buf, n);
  lock();
  int fl = fcntl(fd, F_GETFL);
  off_t off = (fl >= 0 && (fl & O_APPEND)) ? size_of_fd(fd) : lseek(fd, 0, SEEK_CUR);
  journal_write(fd, path, off, n);
  ssize_t r = real_write(fd, buf, n);
  unlock();
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  init();
  const char* path = journal_fd >= 0 ? path_of(fd) : NULL;
  if (!path) return real_pwrite(fd, buf, n, off);
  lock();
  journal_write(fd, path, off, n);
  ssize_t r = real_pwrite(fd, buf, n, off);
  unlock();
  return r;
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) { return pwrite(fd, buf, n, off); }

static void journal_truncate(int fd, const char* path, off_t len) {
  off_t old = size_of_fd(fd);
  if (len >= old) {
    char header[PATH_MAX + 128];
    snprintf(header, sizeof header, "T\t%s\t%lld\t%lld\t0\n", path, (long long)len, (long long)old);
    journal(header, path, 0, 0);
    return;
  }
  char header[PATH_MAX + 128];
  snprintf(header, sizeof header, "T\t%s\t%lld\t%lld\t%lld\n", path, (long long)len, (long long)old, (long long)(old - len));
  journal(header, path, len, (size_t)(old - len));
}

int ftruncate(int fd, off_t len) {
  init();
  const char* path = journal_fd >= 0 ? path_of(fd) : NULL;
  if (!path) return real_ftruncate(fd, len);
  lock();
  journal_truncate(fd, path, len);
  int r = real_ftruncate(fd, len);
  unlock();
  return r;
}
int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }

int truncate(const char* p, off_t len) {
  init();
  char* abs = tracked_path(AT_FDCWD, p);
  if (!abs) return real_truncate(p, len);
  lock();
  int rfd = real_open(abs, O_RDONLY | O_CLOEXEC);
  if (rfd >= 0) {
    journal_truncate(rfd, abs, len);  /* rfd only for the size */
    real_close(rfd);
  }
  int r = real_truncate(p, len);
  unlock();
  free(abs);
  return r;
}
int truncate64(const char* p, off_t len) { return truncate(p, len); }

static int do_sync(int fd, int data_only) {
  init();
  const char* path = journal_fd >= 0 ? path_of(fd) : NULL;
  int r = data_only ? real_fdatasync(fd) : real_fsync(fd);
  if (path && r == 0) {
    lock();
    struct stat st;
    char header[PATH_MAX + 16];
    snprintf(header, sizeof header, "%c\t%s\n", fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) ? 'D' : 'S', path);
    journal(header, path, 0, 0);
    unlock();
  }
  return r;
}
int fsync(int fd) { return do_sync(fd, 0); }
int fdatasync(int fd) { return do_sync(fd, 1); }

/* The whole content of the regular file at `path`, or NULL (no such file, or not a regular one).
 * It is kept in memory until the call that replaces or deletes the file is known to have run. */
static char* read_whole(const char* path, size_t* len) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  int rfd = real_open(path, O_RDONLY | O_CLOEXEC);
  if (rfd < 0) return NULL;
  char* saved = malloc(st.st_size ? (size_t)st.st_size : 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = pread(rfd, saved + got, (size_t)st.st_size - got, (off_t)got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  real_close(rfd);
  *len = got;
  return saved;
}

int rename(const char* from, const char* to) {
  init();
  char* a = tracked_path(AT_FDCWD, from);
  char* b = tracked_path(AT_FDCWD, to);
  if (!a && !b) return real_rename(from, to);
  lock();
  size_t len = 0;
  char* saved = b ? read_whole(b, &len) : NULL;
  int existed = saved != NULL;
  int r = real_rename(from, to);
  if (r == 0) {
    char header[PATH_MAX * 2 + 64];
    snprintf(header, sizeof header, "R\t%s\t%s\t%d\t%zu\n", a ? a : from, b ? b : to, existed, len);
    journal_raw(header, strlen(header));
    if (len) journal_raw(saved, len);
  }
  unlock();
  free(saved);
  free(a);
  free(b);
  return r;
}

/* A deletion through `del` (the real unlink, unlinkat or remove), journalled with the content the
 * file had, so that an undone deletion brings it back. Directories are not journalled. */
static int do_delete(int dirfd, const char* path, int (*del)(int, const char*)) {
  char* abs = tracked_path(dirfd, path);
  if (!abs) return del(dirfd, path);
  lock();
  size_t len = 0;
  char* saved = read_whole(abs, &len);
  int r = del(dirfd, path);
  if (r == 0 && saved) {
    char header[PATH_MAX + 64];
    snprintf(header, sizeof header, "U\t%s\t%zu\n", abs, len);
    journal_raw(header, strlen(header));
    if (len) journal_raw(saved, len);
  }
  unlock();
  free(saved);
  free(abs);
  return r;
}
static int call_unlink(int dirfd, const char* path) { (void)dirfd; return real_unlink(path); }
static int call_remove(int dirfd, const char* path) { (void)dirfd; return real_remove(path); }
static int call_unlinkat_file(int dirfd, const char* path) { return real_unlinkat(dirfd, path, 0); }

int unlink(const char* path) {
  init();
  return do_delete(AT_FDCWD, path, call_unlink);
}
int remove(const char* path) {
  init();
  return do_delete(AT_FDCWD, path, call_remove);
}
int unlinkat(int dirfd, const char* path, int flags) {
  init();
  if (flags & AT_REMOVEDIR) return real_unlinkat(dirfd, path, flags);
  return do_delete(dirfd, path, call_unlinkat_file);
}

int close(int fd) {
  init();
  if (fd >= 0 && fd < MAX_FDS && fd_path[fd]) {
    lock();
    free(fd_path[fd]);
    fd_path[fd] = NULL;
    unlock();
  }
  return real_close(fd);
}
