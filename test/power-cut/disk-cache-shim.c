// An LD_PRELOAD library that models a disk cache for a power-cut test: it
// keeps, beside the real files under DKV_POWERCUT_WATCH, a copy of what each
// file held at its last fsync/fdatasync (in DKV_POWERCUT_SHADOW). After every
// process is killed, power-cut.ts rebuilds the data dirs from those copies:
// what a machine that lost its power would find, every write that no fsync
// covered gone. A kill -9 alone keeps the page cache, so it never shows a
// missing fsync; this does.
//
// What it sees: SQLite (inside Bun) opens, writes and syncs through libc, so
// its writes are tracked by byte range. Bun's own node:fs opens and writes
// with raw system calls, which LD_PRELOAD cannot see, but it syncs through
// libc: a file it syncs is copied whole, and growth of a file SQLite wrote
// (an appended seal) is copied too. An overwrite in place by Bun of a file
// SQLite opened would be missed; dkv makes none. A directory's entries are
// as strict: what the directory listed at its last fsync (a file created or
// renamed since is gone after the cut, as POSIX allows; ext4 usually keeps it).
//
// Files are known by inode number and birth time, so a name may move and an
// inode number may be reused. With DKV_POWERCUT_FREEZE set, once that file
// exists syncs stop reaching the copies: a disk that lies about fsync, for the
// test that shows a lost write is caught. With DKV_POWERCUT_FAIL_SYNC set,
// once that file exists every fsync/fdatasync of a watched file fails with
// EIO and syncs nothing: a disk that reports an error. With
// DKV_POWERCUT_HANG_SYNC set, while that file exists every such sync waits:
// a disk that stops answering.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_FILES 256
#define COPY_CHUNK (256 * 1024)

struct tracked {
  unsigned long long ino, btime_ns;
  off_t lo, hi;  /* bytes written through libc since the last sync: [lo, hi) */
  off_t synced;  /* length at the last sync: growth past it is copied too (Bun appends a snapshot's seal with raw writes) */
  int used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked files[MAX_FILES];
static short fd_file[MAX_FDS]; /* 1 + index into files, 0 = not tracked */
static char watch[4096], shadow[4096], freeze[4096], fail_sync[4096], hang_sync[4096];
static size_t watch_len;
static int configured = -1;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void note_error(const char *what, const char *path) {
  char line[8400];
  int n = snprintf(line, sizeof line, "%s %s: %s\n", what, path, strerror(errno));
  char name[4200];
  snprintf(name, sizeof name, "%s/ERRORS", shadow);
  int fd = (int)syscall(SYS_openat, AT_FDCWD, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    if (syscall(SYS_write, fd, line, (size_t)n) < 0) { /* nothing more to do */ }
    syscall(SYS_close, fd);
  }
}

static void resolve(void) {
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_openat64 = dlsym(RTLD_NEXT, "openat64");
  real_close = dlsym(RTLD_NEXT, "close");
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
}

__attribute__((constructor)) static void init(void) {
  resolve();
  const char *w = getenv("DKV_POWERCUT_WATCH"), *s = getenv("DKV_POWERCUT_SHADOW"), *f = getenv("DKV_POWERCUT_FREEZE");
  configured = w != NULL && s != NULL && strlen(w) < sizeof watch && strlen(s) < sizeof shadow;
  if (!configured) return;
  strcpy(watch, w);
  strcpy(shadow, s);
  if (f != NULL && strlen(f) < sizeof freeze) strcpy(freeze, f);
  const char *e = getenv("DKV_POWERCUT_FAIL_SYNC");
  if (e != NULL && strlen(e) < sizeof fail_sync) strcpy(fail_sync, e);
  const char *h = getenv("DKV_POWERCUT_HANG_SYNC");
  if (h != NULL && strlen(h) < sizeof hang_sync) strcpy(hang_sync, h);
  watch_len = strlen(watch);
}

static int under_watch(int fd, char *path, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, size - 1);
  if (n < 0) return 0;
  path[n] = 0;
  return (size_t)n >= watch_len && strncmp(path, watch, watch_len) == 0 && (path[watch_len] == '/' || path[watch_len] == 0);
}

enum kind { KIND_ERROR = -1, KIND_FILE = 0, KIND_DIR = 1, KIND_OTHER = 2 };

/* What fd (or name inside the directory fd, when name is not "") is: its inode, birth time and length. */
static enum kind identify_at(int fd, const char *name, unsigned long long *ino, unsigned long long *btime_ns, off_t *size) {
  struct statx st;
  int flags = name[0] == 0 ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
  if (syscall(SYS_statx, fd, name, flags, STATX_INO | STATX_BTIME | STATX_SIZE | STATX_TYPE, &st) != 0) return KIND_ERROR;
  *ino = st.stx_ino;
  /* A file system without birth times gives 0: power-cut.ts then looks for "<inode>-0". */
  *btime_ns = (st.stx_mask & STATX_BTIME) ? (unsigned long long)st.stx_btime.tv_sec * 1000000000ULL + st.stx_btime.tv_nsec : 0;
  *size = (off_t)st.stx_size;
  return S_ISREG(st.stx_mode) ? KIND_FILE : S_ISDIR(st.stx_mode) ? KIND_DIR : KIND_OTHER;
}

static enum kind identify(int fd, unsigned long long *ino, unsigned long long *btime_ns, off_t *size) {
  return identify_at(fd, "", ino, btime_ns, size);
}

static void shadow_name(char *out, size_t size, unsigned long long ino, unsigned long long btime_ns) {
  snprintf(out, size, "%s/%llu-%llu", shadow, ino, btime_ns);
}

/* Copies [lo, hi) of fd's file into the shadow file and sets its length to size. */
static int copy_range(int fd, const char *name, off_t lo, off_t hi, off_t size, int whole) {
  /* fd may be write-only (a file opened with "w"): read through a descriptor of our own. */
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int in = (int)syscall(SYS_openat, AT_FDCWD, link, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  int out = (int)syscall(SYS_openat, AT_FDCWD, name, O_WRONLY | O_CREAT | O_CLOEXEC | (whole ? O_TRUNC : 0), 0644);
  if (out < 0) {
    syscall(SYS_close, in);
    return -1;
  }
  static char buffer[COPY_CHUNK];
  int rc = 0;
  if (hi > size) hi = size;
  for (off_t at = lo; at < hi && rc == 0;) {
    size_t want = (size_t)(hi - at) < sizeof buffer ? (size_t)(hi - at) : sizeof buffer;
    ssize_t got = (ssize_t)syscall(SYS_pread64, in, buffer, want, at);
    if (got == 0) break; /* shrunk meanwhile: the length below decides */
    if (got < 0 || syscall(SYS_pwrite64, out, buffer, (size_t)got, at) != got) rc = -1;
    at += got;
  }
  if (rc == 0) rc = (int)syscall(SYS_ftruncate, out, size);
  syscall(SYS_close, out);
  syscall(SYS_close, in);
  return rc;
}

static struct tracked *find(unsigned long long ino, unsigned long long btime_ns) {
  for (int i = 0; i < MAX_FILES; i++)
    if (files[i].used && files[i].ino == ino && files[i].btime_ns == btime_ns) return &files[i];
  return NULL;
}

/* A file SQLite opened: written through libc from now on, tracked by range. */
static void opened(int fd) {
  if (configured != 1 || fd < 0 || fd >= MAX_FDS) return;
  char path[4096];
  if (!under_watch(fd, path, sizeof path)) return;
  unsigned long long ino, btime_ns;
  off_t size;
  if (identify(fd, &ino, &btime_ns, &size) != KIND_FILE) return;
  pthread_mutex_lock(&lock);
  struct tracked *t = find(ino, btime_ns);
  if (t == NULL) {
    for (int i = 0; i < MAX_FILES && t == NULL; i++)
      if (!files[i].used) t = &files[i];
    if (t == NULL) {
      errno = ENOSPC;
      note_error("too many files to track", path);
    } else {
      /*
       * The file may hold writes of an earlier process that no sync covered
       * (it was killed, the machine stayed up): the page cache still has
       * them, and this process's first sync makes them durable. So the first
       * sync copies the whole file; ranges count from then on.
       */
      *t = (struct tracked){ino, btime_ns, 0, size, size, 1};
    }
  }
  if (t != NULL) fd_file[fd] = (short)(1 + (t - files));
  pthread_mutex_unlock(&lock);
}

static void wrote(int fd, off_t at, ssize_t n) {
  if (n <= 0 || fd < 0 || fd >= MAX_FDS || fd_file[fd] == 0) return;
  pthread_mutex_lock(&lock);
  struct tracked *t = &files[fd_file[fd] - 1];
  if (t->lo == t->hi) {
    t->lo = at;
    t->hi = at + n;
  } else {
    if (at < t->lo) t->lo = at;
    if (at + n > t->hi) t->hi = at + n;
  }
  pthread_mutex_unlock(&lock);
}

/* A directory's entries as of its fsync: "name<TAB>f|d<TAB>inode-birthtime" lines in dir-<its key>. */
static void record_listing(int fd, const char *path, unsigned long long ino, unsigned long long btime_ns) {
  int dirfd = (int)syscall(SYS_openat, fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    note_error("open of directory", path);
    return;
  }
  char final[4200], temporary[4300];
  snprintf(final, sizeof final, "%s/dir-%llu-%llu", shadow, ino, btime_ns);
  snprintf(temporary, sizeof temporary, "%s.%ld.tmp", final, (long)syscall(SYS_gettid));
  int out = (int)syscall(SYS_openat, AT_FDCWD, temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    note_error("create of listing for", path);
    syscall(SYS_close, dirfd);
    return;
  }
  char entries[16384];
  for (;;) {
    long n = syscall(SYS_getdents64, dirfd, entries, sizeof entries);
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      struct { unsigned long long d_ino; long long d_off; unsigned short d_reclen; unsigned char d_type; char d_name[]; } *e = (void *)(entries + at);
      at += e->d_reclen;
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      unsigned long long child_ino, child_btime;
      off_t size;
      enum kind kind = identify_at(dirfd, e->d_name, &child_ino, &child_btime, &size);
      if (kind != KIND_FILE && kind != KIND_DIR) continue; /* gone meanwhile, or neither */
      char line[600];
      int len = snprintf(line, sizeof line, "%s\t%c\t%llu-%llu\n", e->d_name, kind == KIND_DIR ? 'd' : 'f', child_ino, child_btime);
      if (syscall(SYS_write, out, line, (size_t)len) != len) note_error("write of listing for", path);
    }
  }
  syscall(SYS_close, out);
  syscall(SYS_close, dirfd);
  if (syscall(SYS_rename, temporary, final) != 0) note_error("rename of listing for", path);
}

/* After a real sync succeeded: the file's contents (a directory's entries) now are what the disk holds. */
static void synced(int fd) {
  if (configured != 1) return;
  if (freeze[0] != 0 && access(freeze, F_OK) == 0) return;
  char path[4096];
  if (!under_watch(fd, path, sizeof path)) return;
  unsigned long long ino, btime_ns;
  off_t size;
  enum kind kind = identify(fd, &ino, &btime_ns, &size);
  if (kind == KIND_ERROR) note_error("statx of", path);
  if (kind == KIND_DIR) {
    pthread_mutex_lock(&lock);
    record_listing(fd, path, ino, btime_ns);
    pthread_mutex_unlock(&lock);
  }
  if (kind != KIND_FILE) return;
  char name[4200];
  shadow_name(name, sizeof name, ino, btime_ns);
  pthread_mutex_lock(&lock);
  struct tracked *t = find(ino, btime_ns);
  int rc;
  if (t != NULL) {
    rc = copy_range(fd, name, t->lo, t->hi, size, 0);
    if (rc == 0 && size > t->synced) rc = copy_range(fd, name, t->synced, size, size, 0);
    t->lo = t->hi = 0;
    t->synced = size;
  } else {
    rc = copy_range(fd, name, 0, size, size, 1); /* written by raw system calls we did not see */
  }
  pthread_mutex_unlock(&lock);
  if (rc != 0) note_error("copy after sync of", path);
}

static int open_mode(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(args, int) : 0;
}

int open(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = open_mode(flags, args);
  va_end(args);
  if (real_open == NULL) resolve();
  int fd = real_open(path, flags, mode);
  opened(fd);
  return fd;
}

int open64(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = open_mode(flags, args);
  va_end(args);
  if (real_open64 == NULL) resolve();
  int fd = real_open64(path, flags, mode);
  opened(fd);
  return fd;
}

int openat(int dir, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = open_mode(flags, args);
  va_end(args);
  if (real_openat == NULL) resolve();
  int fd = real_openat(dir, path, flags, mode);
  opened(fd);
  return fd;
}

int openat64(int dir, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = open_mode(flags, args);
  va_end(args);
  if (real_openat64 == NULL) resolve();
  int fd = real_openat64(dir, path, flags, mode);
  opened(fd);
  return fd;
}

int close(int fd) {
  if (real_close == NULL) resolve();
  if (fd >= 0 && fd < MAX_FDS) fd_file[fd] = 0;
  return real_close(fd);
}

ssize_t pwrite64(int fd, const void *buffer, size_t n, off_t at) {
  if (real_pwrite64 == NULL) resolve();
  ssize_t done = real_pwrite64(fd, buffer, n, at);
  wrote(fd, at, done);
  return done;
}

ssize_t pwrite(int fd, const void *buffer, size_t n, off_t at) {
  if (real_pwrite == NULL) resolve();
  ssize_t done = real_pwrite(fd, buffer, n, at);
  wrote(fd, at, done);
  return done;
}

ssize_t write(int fd, const void *buffer, size_t n) {
  if (real_write == NULL) resolve();
  ssize_t done = real_write(fd, buffer, n);
  if (done > 0 && fd >= 0 && fd < MAX_FDS && fd_file[fd] != 0) wrote(fd, lseek(fd, 0, SEEK_CUR) - done, done);
  return done;
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
  if (real_writev == NULL) resolve();
  ssize_t done = real_writev(fd, iov, count);
  if (done > 0 && fd >= 0 && fd < MAX_FDS && fd_file[fd] != 0) wrote(fd, lseek(fd, 0, SEEK_CUR) - done, done);
  return done;
}

/* True when syncs are to fail and fd is a watched file or directory. */
static int sync_fails(int fd) {
  if (configured != 1 || fail_sync[0] == 0 || access(fail_sync, F_OK) != 0) return 0;
  char path[4096];
  return under_watch(fd, path, sizeof path);
}

/* Waits while syncs are to hang and fd is a watched file or directory. */
static void hang_while_asked(int fd) {
  if (configured != 1 || hang_sync[0] == 0) return;
  char path[4096];
  if (!under_watch(fd, path, sizeof path)) return;
  while (access(hang_sync, F_OK) == 0) usleep(10 * 1000);
}

int fsync(int fd) {
  if (real_fsync == NULL) resolve();
  hang_while_asked(fd);
  if (sync_fails(fd)) {
    errno = EIO;
    return -1;
  }
  int rc = real_fsync(fd);
  if (rc == 0) synced(fd);
  return rc;
}

int fdatasync(int fd) {
  if (real_fdatasync == NULL) resolve();
  hang_while_asked(fd);
  if (sync_fails(fd)) {
    errno = EIO;
    return -1;
  }
  int rc = real_fdatasync(fd);
  if (rc == 0) synced(fd);
  return rc;
}
