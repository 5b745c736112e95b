/* test_namespace - mkdir, directory listings, rename, unlink, rmdir, stat
 * of directories. Needs $FERRY_CONFIG. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"

int main(void) {
  CHECK_OK(ferry_init(NULL));
  char dir[64], p[160], q[160];
  test_dir(dir, sizeof dir, "test_namespace");

  struct ferry_stat st;
  CHECK_OK(ferry_stat(dir, &st));
  CHECK_EQ(st.mode, S_IFDIR | 0755);
  CHECK_EQ(st.size, 0);
  CHECK_EQ(st.strip_size, 0);
  CHECK_EQ(st.server_count, 0);

  /* Empty directory: no entries, and 0 again after the end. */
  int dh = ferry_opendir(dir);
  CHECK_OK(dh);
  struct ferry_dirent ent;
  CHECK_EQ(ferry_readdir(dh, &ent), 0);
  CHECK_EQ(ferry_readdir(dh, &ent), 0);
  CHECK_OK(ferry_closedir(dh));

  /* Files c, a and directory b: listed in name order with their types. */
  const char *files[] = {"c", "a"};
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    int fh = ferry_open(p, O_CREAT | O_WRONLY, 0600);
    CHECK_OK(fh);
    CHECK_EQ(ferry_pwrite(fh, files[i], 1, 0), 1);
    CHECK_OK(ferry_close(fh));
  }
  snprintf(p, sizeof p, "%s/b", dir);
  CHECK_OK(ferry_mkdir(p, 0700));
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.mode, S_IFDIR | 0700);

  dh = ferry_opendir(dir);
  CHECK_OK(dh);
  /* Changes after opendir do not show in the listing. */
  snprintf(q, sizeof q, "%s/d", dir);
  CHECK_OK(ferry_mkdir(q, 0755));
  const char *want[] = {"a", "b", "c"};
  int types[] = {FERRY_DT_REG, FERRY_DT_DIR, FERRY_DT_REG};
  for (int i = 0; i < 3; i++) {
    memset(&ent, 0x7F, sizeof ent);
    CHECK_EQ(ferry_readdir(dh, &ent), 1);
    CHECK(strcmp(ent.name, want[i]) == 0);
    CHECK_EQ(ent.type, types[i]);
  }
  CHECK_EQ(ferry_readdir(dh, &ent), 0);
  CHECK_OK(ferry_closedir(dh));
  CHECK_OK(ferry_rmdir(q));

  /* A long name comes back whole. */
  char name[FERRY_NAME_MAX + 1];
  memset(name, 'z', FERRY_NAME_MAX);
  name[FERRY_NAME_MAX] = 0;
  char longp[400];
  snprintf(longp, sizeof longp, "%s/b/%s", dir, name);
  int fh = ferry_open(longp, O_CREAT | O_RDWR, 0644);
  CHECK_OK(fh);
  CHECK_OK(ferry_close(fh));
  snprintf(p, sizeof p, "%s/b", dir);
  dh = ferry_opendir(p);
  CHECK_OK(dh);
  CHECK_EQ(ferry_readdir(dh, &ent), 1);
  CHECK_EQ(strlen(ent.name), FERRY_NAME_MAX);
  CHECK(strcmp(ent.name, name) == 0);
  CHECK_OK(ferry_closedir(dh));
  CHECK_OK(ferry_unlink(longp));
  {
    /* One byte more is ENAMETOOLONG. */
    char toolong[FERRY_NAME_MAX + 2];
    memset(toolong, 'z', FERRY_NAME_MAX + 1);
    toolong[FERRY_NAME_MAX + 1] = 0;
    snprintf(longp, sizeof longp, "%s/b/%s", dir, toolong);
    CHECK_ERR(ferry_open(longp, O_CREAT | O_RDWR, 0644), ENAMETOOLONG);
    struct ferry_stat st2;
    CHECK_ERR(ferry_stat(longp, &st2), ENAMETOOLONG);
  }

  /* Rename: a file moves; a file at the target is replaced. */
  snprintf(p, sizeof p, "%s/a", dir);
  snprintf(q, sizeof q, "%s/b/a2", dir);
  CHECK_OK(ferry_rename(p, q));
  CHECK_ERR(ferry_stat(p, &st), ENOENT);
  CHECK_OK(ferry_stat(q, &st));
  CHECK_EQ(st.size, 1);
  snprintf(p, sizeof p, "%s/c", dir);
  CHECK_OK(ferry_rename(q, p)); /* replaces c */
  char buf[4] = {0};
  fh = ferry_open(p, O_RDONLY, 0);
  CHECK_OK(fh);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 0), 1);
  CHECK_EQ(buf[0], 'a');
  CHECK_OK(ferry_close(fh));
  /* a directory renames too */
  snprintf(q, sizeof q, "%s/b", dir);
  char r[160];
  snprintf(r, sizeof r, "%s/b2", dir);
  CHECK_OK(ferry_rename(q, r));
  CHECK_OK(ferry_stat(r, &st));
  CHECK_EQ(st.mode & S_IFMT, S_IFDIR);

  /* Clean up: the directory is empty only when everything is gone. */
  CHECK_ERR(ferry_rmdir(dir), ENOTEMPTY);
  CHECK_OK(ferry_unlink(p));
  CHECK_OK(ferry_rmdir(r));
  CHECK_OK(ferry_rmdir(dir));
  CHECK_ERR(ferry_stat(dir, &st), ENOENT);

  /* statfs: a sum over the servers that holds together. */
  struct ferry_statfs fs;
  memset(&fs, 0x7F, sizeof fs);
  CHECK_OK(ferry_statfs(&fs));
  CHECK(fs.servers > 0);
  CHECK(fs.bytes > 0);
  CHECK(fs.bytes_free <= fs.bytes);
  CHECK(fs.bytes_avail <= fs.bytes_free);
  CHECK(fs.files_free <= fs.files);
  CHECK_EQ(fs.reserved0, 0);
  CHECK_EQ(fs.reserved[0], 0);
  CHECK_ERR(ferry_statfs(NULL), EFAULT);

  CHECK_OK(ferry_finalize());
  CHECK_ERR(ferry_statfs(&fs), ENXIO);
  printf("test_namespace: ok\n");
  return 0;
}
