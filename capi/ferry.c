/*
 * The public functions of ferry.h. Each is defined here with the header's
 * exact prototype (the compiler checks that the header and the library
 * agree) and calls the Go function exported as ferry_go_<name> (see
 * capi.go). cgo's own header (_cgo_export.h, and the libferry.h go build
 * writes next to the library) is internal: it is never installed.
 */
#define _GNU_SOURCE /* strerrordesc_np */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"
#include "_cgo_export.h"

/* The Go runtime under the library does not survive fork(): only the
 * forking thread is copied, and a call into Go in the child waits
 * forever for threads that are not there. In a child every call fails
 * at once with -ENXIO instead (see FORK in ferry.h). */
static volatile int forked;
static void in_child(void) { forked = 1; }
__attribute__((constructor)) static void watch_fork(void) { pthread_atfork(NULL, NULL, in_child); }
#define GO(call) (forked ? -ENXIO : (call))

const char *ferry_version(void) {
  static const char *version; /* kept for a child, which cannot ask Go */
  if (forked) return version ? version : "unknown (libferry after fork)";
  if (!version) version = ferry_go_version();
  return version;
}

int ferry_init(const char *config_path) { return GO(ferry_go_init((char *)config_path)); }
int ferry_finalize(void) { return GO(ferry_go_finalize()); }

int ferry_open(const char *path, int flags, mode_t mode) {
  return GO(ferry_go_open((char *)path, flags, mode, NULL));
}

int ferry_open_layout(const char *path, int flags, mode_t mode,
                      const struct ferry_layout *hints) {
  return GO(ferry_go_open((char *)path, flags, mode, (struct ferry_layout *)hints));
}

int ferry_close(int fh) { return GO(ferry_go_close(fh)); }

ssize_t ferry_pread(int fh, void *buf, size_t count, off_t offset) {
  return GO(ferry_go_pread(fh, buf, count, offset));
}

ssize_t ferry_pwrite(int fh, const void *buf, size_t count, off_t offset) {
  return GO(ferry_go_pwrite(fh, (void *)buf, count, offset));
}

ssize_t ferry_preadv(int fh, const struct iovec *iov, int iovcnt,
                     const struct ferry_segment *segs, int nsegs) {
  return GO(ferry_go_preadv(fh, (struct iovec *)iov, iovcnt, (struct ferry_segment *)segs, nsegs));
}

ssize_t ferry_pwritev(int fh, const struct iovec *iov, int iovcnt,
                      const struct ferry_segment *segs, int nsegs) {
  return GO(ferry_go_pwritev(fh, (struct iovec *)iov, iovcnt, (struct ferry_segment *)segs, nsegs));
}

ssize_t ferry_read(int fh, void *buf, size_t count) { return GO(ferry_go_read(fh, buf, count)); }

ssize_t ferry_write(int fh, const void *buf, size_t count) {
  return GO(ferry_go_write(fh, (void *)buf, count));
}

off_t ferry_lseek(int fh, off_t offset, int whence) { return GO(ferry_go_lseek(fh, offset, whence)); }
int ferry_fsync(int fh) { return GO(ferry_go_fsync(fh)); }
int ferry_ftruncate(int fh, off_t length) { return GO(ferry_go_ftruncate(fh, length)); }
int ferry_get_size(int fh, int64_t *size) { return GO(ferry_go_get_size(fh, size)); }

int ferry_fetch_add(int fh, int64_t delta, int64_t *old) {
  return GO(ferry_go_fetch_add(fh, delta, old));
}

int ferry_set_counter(int fh, int64_t value, int64_t *old) {
  return GO(ferry_go_set_counter(fh, value, old));
}

int ferry_counter_new(int fh, int64_t value, uint64_t *id) {
  return GO(ferry_go_counter_new(fh, value, id));
}

int ferry_counter_add(int fh, uint64_t id, int64_t delta, int64_t *old) {
  return GO(ferry_go_counter_add(fh, id, delta, old));
}

int ferry_counter_set(int fh, uint64_t id, int64_t value, int64_t *old) {
  return GO(ferry_go_counter_set(fh, id, value, old));
}

int ferry_counter_free(int fh, uint64_t id) { return GO(ferry_go_counter_free(fh, id)); }

int ferry_stat(const char *path, struct ferry_stat *st) { return GO(ferry_go_stat((char *)path, st)); }
int ferry_fstat(int fh, struct ferry_stat *st) { return GO(ferry_go_fstat(fh, st)); }
int ferry_unlink(const char *path) { return GO(ferry_go_unlink((char *)path)); }
int ferry_mkdir(const char *path, mode_t mode) { return GO(ferry_go_mkdir((char *)path, mode)); }
int ferry_rmdir(const char *path) { return GO(ferry_go_rmdir((char *)path)); }
int ferry_chmod(const char *path, mode_t mode) { return GO(ferry_go_chmod((char *)path, mode)); }
int ferry_chown(const char *path, uid_t owner, gid_t group) {
  return GO(ferry_go_chown((char *)path, owner, group));
}

int ferry_rename(const char *oldpath, const char *newpath) {
  return GO(ferry_go_rename((char *)oldpath, (char *)newpath));
}

int ferry_opendir(const char *path) { return GO(ferry_go_opendir((char *)path)); }
int ferry_readdir(int dh, struct ferry_dirent *ent) { return GO(ferry_go_readdir(dh, ent)); }
int ferry_closedir(int dh) { return GO(ferry_go_closedir(dh)); }
int ferry_statfs(struct ferry_statfs *st) { return GO(ferry_go_statfs(st)); }

/* ferry_strerror is plain C: it needs no Go and works before ferry_init.
 * strerrordesc_np (glibc >= 2.32) returns static strings and is
 * thread-safe, unlike strerror. */
const char *ferry_strerror(int err) {
  if (err == 0)
    return "Success";
  if (err < 0)
    err = -err;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *s = strerrordesc_np(err);
  return s ? s : "Unknown error";
#else
  switch (err) {
  case ENOENT: return "No such file or directory";
  case EBADF: return "Bad file descriptor";
  case EINVAL: return "Invalid argument";
  case EEXIST: return "File exists";
  case ENXIO: return "No such device or address";
  case EFAULT: return "Bad address";
  case EIO: return "Input/output error";
  default: return "Unknown error";
  }
#endif
}
