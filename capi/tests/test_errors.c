/* test_errors - every error path returns the negative errno ferry.h
 * documents: missing files, bad and closed handles, access modes, invalid
 * flags and hints, NULL pointers, bad offsets. Needs $FERRY_CONFIG. */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>

#include "check.h"

static char dir[64];

/* Every handle call on fh fails with -err. */
static void all_fail(int fh, int err) {
  char buf[8];
  int64_t v;
  struct ferry_stat st;
  CHECK_ERR(ferry_pread(fh, buf, sizeof buf, 0), err);
  CHECK_ERR(ferry_pwrite(fh, buf, sizeof buf, 0), err);
  CHECK_ERR(ferry_read(fh, buf, sizeof buf), err);
  CHECK_ERR(ferry_write(fh, buf, sizeof buf), err);
  CHECK_ERR(ferry_lseek(fh, 0, SEEK_SET), err);
  CHECK_ERR(ferry_fsync(fh), err);
  CHECK_ERR(ferry_ftruncate(fh, 0), err);
  CHECK_ERR(ferry_get_size(fh, &v), err);
  CHECK_ERR(ferry_fetch_add(fh, 1, &v), err);
  CHECK_ERR(ferry_set_counter(fh, 1, &v), err);
  uint64_t id;
  CHECK_ERR(ferry_counter_new(fh, 0, &id), err);
  CHECK_ERR(ferry_counter_add(fh, 1, 1, &v), err);
  CHECK_ERR(ferry_counter_set(fh, 1, 1, &v), err);
  CHECK_ERR(ferry_counter_free(fh, 1), err);
  CHECK_ERR(ferry_fstat(fh, &st), err);
  CHECK_ERR(ferry_close(fh), err);
}

int main(void) {
  CHECK_OK(ferry_init(NULL));
  test_dir(dir, sizeof dir, "test_errors");
  char p[128], missing[128], sub[160];
  snprintf(p, sizeof p, "%s/f", dir);
  snprintf(missing, sizeof missing, "%s/missing", dir);
  char buf[64];
  struct ferry_stat st;

  /* Missing files. */
  CHECK_ERR(ferry_open(missing, O_RDONLY, 0), ENOENT);
  CHECK_ERR(ferry_open(missing, O_RDWR, 0), ENOENT);
  CHECK_ERR(ferry_open("/no-such-dir/f", O_CREAT | O_RDWR, 0644), ENOENT);
  CHECK_ERR(ferry_stat(missing, &st), ENOENT);
  CHECK_ERR(ferry_unlink(missing), ENOENT);
  CHECK_ERR(ferry_rmdir(missing), ENOENT);
  CHECK_ERR(ferry_opendir(missing), ENOENT);
  CHECK_ERR(ferry_rename(missing, p), ENOENT);

  /* Bad handles: never opened, negative, huge. */
  all_fail(-1, EBADF);
  all_fail(12345, EBADF);
  all_fail(INT_MAX, EBADF);

  /* Closed handle. */
  int fh = ferry_open(p, O_CREAT | O_RDWR, 0644);
  CHECK_OK(fh);
  CHECK_OK(ferry_close(fh));
  all_fail(fh, EBADF);

  /* Invalid flags. */
  CHECK_ERR(ferry_open(p, O_RDONLY | O_DIRECT, 0), EINVAL);
  CHECK_ERR(ferry_open(p, O_RDWR | O_SYNC, 0), EINVAL);
  CHECK_ERR(ferry_open(p, O_RDONLY | O_DIRECTORY, 0), EINVAL);
  CHECK_ERR(ferry_open(p, O_ACCMODE, 0), EINVAL); /* not one of the three */
  CHECK_ERR(ferry_open(p, O_RDONLY | 0x40000000, 0), EINVAL);
  CHECK_ERR(ferry_open(p, O_RDONLY | O_TRUNC, 0), EINVAL);
  fh = ferry_open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0); /* ignored flags */
  CHECK_OK(fh);
  CHECK_OK(ferry_close(fh));
  {
    /* Flags as fcntl(F_GETFL) reports them: the kernel's O_LARGEFILE bit
     * on 64-bit systems, where <fcntl.h> defines O_LARGEFILE as 0. */
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    int fl = fcntl(fd, F_GETFL);
    close(fd);
    fh = ferry_open(p, fl & ~O_NONBLOCK, 0);
    CHECK_OK(fh);
    CHECK_OK(ferry_close(fh));
  }

  /* A trailing "/" names a directory. */
  snprintf(sub, sizeof sub, "%s/", p);
  CHECK_ERR(ferry_open(sub, O_RDONLY, 0), ENOTDIR);
  CHECK_ERR(ferry_open(sub, O_CREAT | O_RDWR, 0644), EISDIR);
  CHECK_ERR(ferry_stat(sub, &st), ENOTDIR);
  CHECK_ERR(ferry_unlink(sub), ENOTDIR);
  CHECK_ERR(ferry_chmod(sub, 0600), ENOTDIR);
  CHECK_ERR(ferry_rename(sub, missing), ENOTDIR);
  snprintf(sub, sizeof sub, "%s/", missing);
  CHECK_ERR(ferry_open(sub, O_CREAT | O_RDWR, 0644), EISDIR);
  CHECK_ERR(ferry_rename(p, sub), ENOTDIR);
  CHECK_ERR(ferry_stat(missing, &st), ENOENT); /* nothing was made */
  snprintf(sub, sizeof sub, "%s/", dir);
  CHECK_OK(ferry_stat(sub, &st)); /* a directory: fine */
  CHECK_OK(ferry_stat(p, &st)); /* the file is still there */

  /* Existing names, directories. */
  CHECK_ERR(ferry_open(p, O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
  CHECK_ERR(ferry_open(dir, O_RDONLY, 0), EISDIR);
  CHECK_ERR(ferry_open(dir, O_CREAT | O_RDWR, 0644), EISDIR);
  snprintf(sub, sizeof sub, "%s/x", p);
  CHECK_ERR(ferry_open(sub, O_CREAT | O_RDWR, 0644), ENOTDIR);

  /* Bad paths. */
  CHECK_ERR(ferry_open("relative/f", O_CREAT | O_RDWR, 0644), EINVAL);
  CHECK_ERR(ferry_open("", O_RDONLY, 0), EINVAL);
  CHECK_ERR(ferry_open("/a/../b", O_RDONLY, 0), EINVAL);
  CHECK_ERR(ferry_stat("nope", &st), EINVAL);
  CHECK_ERR(ferry_mkdir("nope", 0755), EINVAL);
  char longname[300];
  memset(longname, 'n', sizeof longname);
  longname[0] = '/';
  longname[sizeof longname - 1] = 0;
  CHECK_ERR(ferry_open(longname, O_CREAT | O_RDWR, 0644), ENAMETOOLONG); /* a name over 255 bytes */

  /* Bad layout hints. */
  struct ferry_layout l = {4096, 1000, 0};
  CHECK_ERR(ferry_open_layout(missing, O_CREAT | O_RDWR, 0644, &l), EINVAL);
  l = (struct ferry_layout){-1, 0, 0};
  CHECK_ERR(ferry_open_layout(missing, O_CREAT | O_RDWR, 0644, &l), EINVAL);
  l = (struct ferry_layout){3, 0, 0};
  CHECK_ERR(ferry_open_layout(missing, O_CREAT | O_RDWR, 0644, &l), EINVAL);
  l = (struct ferry_layout){0, -2, 0};
  CHECK_ERR(ferry_open_layout(missing, O_CREAT | O_RDWR, 0644, &l), EINVAL);
  l = (struct ferry_layout){0, 0, 1};
  CHECK_ERR(ferry_open_layout(missing, O_CREAT | O_RDWR, 0644, &l), EINVAL);
  CHECK_ERR(ferry_stat(missing, &st), ENOENT); /* none of them created it */

  /* NULL pointers. */
  CHECK_ERR(ferry_open(NULL, O_RDONLY, 0), EFAULT);
  CHECK_ERR(ferry_open_layout(NULL, O_RDONLY, 0, NULL), EFAULT);
  CHECK_ERR(ferry_stat(NULL, &st), EFAULT);
  CHECK_ERR(ferry_stat(p, NULL), EFAULT);
  CHECK_ERR(ferry_unlink(NULL), EFAULT);
  CHECK_ERR(ferry_mkdir(NULL, 0755), EFAULT);
  CHECK_ERR(ferry_rmdir(NULL), EFAULT);
  CHECK_ERR(ferry_rename(NULL, p), EFAULT);
  CHECK_ERR(ferry_rename(p, NULL), EFAULT);
  CHECK_ERR(ferry_opendir(NULL), EFAULT);
  fh = ferry_open(p, O_RDWR, 0);
  CHECK_OK(fh);
  CHECK_ERR(ferry_pread(fh, NULL, 10, 0), EFAULT);
  CHECK_ERR(ferry_pwrite(fh, NULL, 10, 0), EFAULT);
  CHECK_ERR(ferry_read(fh, NULL, 10), EFAULT);
  CHECK_ERR(ferry_write(fh, NULL, 10), EFAULT);
  CHECK_EQ(ferry_pread(fh, NULL, 0, 0), 0); /* count 0: NULL is fine */
  CHECK_EQ(ferry_pwrite(fh, NULL, 0, 0), 0);
  CHECK_ERR(ferry_fstat(fh, NULL), EFAULT);
  CHECK_ERR(ferry_get_size(fh, NULL), EFAULT);
  CHECK_OK(ferry_fetch_add(fh, 1, NULL)); /* old may be NULL */

  /* Offsets, sizes, whence. */
  CHECK_ERR(ferry_pread(fh, buf, sizeof buf, -1), EINVAL);
  CHECK_ERR(ferry_pwrite(fh, buf, sizeof buf, -1), EINVAL);
  CHECK_ERR(ferry_pread(fh, buf, (size_t)SSIZE_MAX + 1, 0), EINVAL);
  CHECK_ERR(ferry_ftruncate(fh, -1), EINVAL);
  CHECK_ERR(ferry_ftruncate(fh, (off_t)1 << 62), EFBIG);
  CHECK_ERR(ferry_pwrite(fh, buf, 10, ((off_t)1 << 50) - 5), EFBIG); /* ends past 1 PiB */
  CHECK_ERR(ferry_lseek(fh, 0, 42), EINVAL);
  CHECK_ERR(ferry_lseek(fh, -1, SEEK_SET), EINVAL);
  CHECK_EQ(ferry_lseek(fh, 10, SEEK_SET), 10);
  CHECK_ERR(ferry_lseek(fh, -11, SEEK_CUR), EINVAL);
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_CUR), 10); /* unchanged by the failures */
  CHECK_ERR(ferry_lseek(fh, INT64_MAX, SEEK_CUR), EOVERFLOW);
  CHECK_OK(ferry_close(fh));

  /* Access modes. */
  int ro = ferry_open(p, O_RDONLY, 0), wo = ferry_open(p, O_WRONLY, 0);
  CHECK_OK(ro);
  CHECK_OK(wo);
  CHECK_ERR(ferry_pread(wo, buf, sizeof buf, 0), EBADF);
  CHECK_ERR(ferry_read(wo, buf, sizeof buf), EBADF);
  CHECK_ERR(ferry_pwrite(ro, buf, sizeof buf, 0), EBADF);
  CHECK_ERR(ferry_write(ro, buf, sizeof buf), EBADF);
  CHECK_ERR(ferry_ftruncate(ro, 0), EINVAL);
  CHECK_EQ(ferry_pwrite(wo, "ok", 2, 0), 2);
  CHECK_EQ(ferry_pread(ro, buf, sizeof buf, 0), 2);
  CHECK_OK(ferry_fsync(ro)); /* allowed on any mode */
  CHECK_OK(ferry_close(ro));
  CHECK_OK(ferry_close(wo));

  /* Namespace errors. */
  CHECK_ERR(ferry_mkdir(dir, 0755), EEXIST);
  CHECK_ERR(ferry_mkdir(p, 0755), EEXIST);
  CHECK_ERR(ferry_mkdir(sub, 0755), ENOTDIR);
  CHECK_ERR(ferry_unlink(dir), EISDIR);
  CHECK_ERR(ferry_rmdir(p), ENOTDIR);
  CHECK_ERR(ferry_rmdir(dir), ENOTEMPTY);
  CHECK_ERR(ferry_rmdir("/"), EBUSY);
  CHECK_ERR(ferry_opendir(p), ENOTDIR);

  /* Directory handles. */
  struct ferry_dirent ent;
  CHECK_ERR(ferry_readdir(-1, &ent), EBADF);
  CHECK_ERR(ferry_readdir(777, &ent), EBADF);
  CHECK_ERR(ferry_closedir(777), EBADF);
  int dh = ferry_opendir(dir);
  CHECK_OK(dh);
  CHECK_ERR(ferry_readdir(dh, NULL), EFAULT);
  CHECK_OK(ferry_closedir(dh));
  CHECK_ERR(ferry_readdir(dh, &ent), EBADF);
  CHECK_ERR(ferry_closedir(dh), EBADF);

  /* ferry_strerror. */
  CHECK(strcmp(ferry_strerror(0), "Success") == 0);
  CHECK(strcmp(ferry_strerror(-ENOENT), "No such file or directory") == 0);
  CHECK(strcmp(ferry_strerror(ENOENT), ferry_strerror(-ENOENT)) == 0);
  CHECK(strcmp(ferry_strerror(-EBADF), "Bad file descriptor") == 0);
  CHECK(strcmp(ferry_strerror(-99999), "Unknown error") == 0);
  CHECK(strcmp(ferry_strerror(INT_MIN), "Unknown error") == 0);

  CHECK_OK(ferry_unlink(p));
  CHECK_OK(ferry_finalize());
  printf("test_errors: ok\n");
  return 0;
}
