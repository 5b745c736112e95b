/*
 * mpiio_coll_test.c TAG SCRATCH - collective buffering, data sieving and
 * hints (run on 4 ranks).
 *
 * For each of a list of hint sets (defaults; collective buffering forced
 * on, off, with one and three aggregators and a small buffer; data
 * sieving on and off), the same MPI-IO program runs on a Ferry file and
 * on SCRATCH's local file (the MPI library's own driver: ROMIO with the
 * same hints for MPICH; see local_info for Open MPI), and rank 0 checks
 * the two hold the same bytes. The program:
 *   - collective writes through a vector view with holes, and through a
 *     subarray view with holes, after the file was filled with a pattern
 *     (so the holes hold known bytes on both);
 *   - the same through split and nonblocking collectives, from a memory
 *     type in large pieces (the list path) and in small ones (staged);
 *   - collective reads back through other views, checked value by value;
 *   - independent writes from every rank at once to interleaved 4-byte
 *     pieces (sieving ranges that overlap: with romio_ds_write enabled
 *     they must take the lock), checked value by value;
 *   - independent strided reads (sieved or not), checked value by value;
 *   - MPI_File_get_info reports the hints in effect (Ferry).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, np;

#define CHECK(c)                                                                          \
  do {                                                                                    \
    if (!(c)) {                                                                           \
      fprintf(stderr, "[%d] %s:%d: CHECK failed: %s (%s)\n", rank, __FILE__, __LINE__, #c, \
              cur_hints);                                                                 \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                       \
    }                                                                                     \
  } while (0)

#define CHECK_MPI(call)                                                                  \
  do {                                                                                   \
    int rc_ = (call);                                                                    \
    if (rc_ != MPI_SUCCESS) {                                                            \
      char s_[MPI_MAX_ERROR_STRING];                                                     \
      int l_ = 0;                                                                        \
      MPI_Error_string(rc_, s_, &l_);                                                    \
      fprintf(stderr, "[%d] %s:%d: %s: %s (%s)\n", rank, __FILE__, __LINE__, #call, s_, \
              cur_hints);                                                                \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                      \
    }                                                                                    \
  } while (0)

static const char *cur_hints = "";

/* Hint sets: key=value pairs separated by spaces. */
static const char *hint_sets[] = {
    "",
    "romio_cb_write=enable romio_cb_read=enable",
    "romio_cb_write=disable romio_cb_read=disable",
    "romio_cb_write=enable romio_cb_read=enable cb_nodes=1",
    "romio_cb_write=enable romio_cb_read=enable cb_nodes=3 cb_buffer_size=4096 cb_config_list=*:2",
    "romio_ds_read=enable romio_ds_write=enable ind_rd_buffer_size=1000 ind_wr_buffer_size=700",
    "romio_ds_read=disable romio_ds_write=disable",
    "romio_ds_read=automatic romio_cb_write=automatic romio_cb_read=automatic",
};

static MPI_Info make_info(const char *set) {
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "striping_unit", "8192");
  MPI_Info_set(info, "striping_factor", "4");
  char buf[512];
  snprintf(buf, sizeof buf, "%s", set);
  char *save = NULL;
  for (char *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(kv, '=');
    *eq = 0;
    MPI_Info_set(info, kv, eq + 1);
  }
  return info;
}

/* The value of the int at index g of a file written by this program. */
static int value(long g, int salt) { return (int)(g * 31 + 7 + salt * 100003); }
#define FILLER 0x5a5a5a5a

#define NINT 6144 /* ints in the file: 24 KiB, three strips of 8 KiB per server... */

static MPI_File open_file(const char *path, int amode, MPI_Info info) {
  MPI_File fh;
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, amode, info, &fh));
  return fh;
}

/* fill: the whole file holds FILLER (contiguous collective write). */
static void fill(MPI_File fh) {
  int per = NINT / np, *b = malloc(sizeof(int) * per);
  for (int i = 0; i < per; i++) b[i] = FILLER;
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_BYTE, MPI_BYTE, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_write_at_all(fh, (MPI_Offset)rank * per * 4, b, per, MPI_INT, MPI_STATUS_IGNORE));
  free(b);
}

/* Vector view with holes: rank r owns ints k*(4*np) + 4r .. +2 (3 of every 4
 * of its slot; one int of every slot, and nothing else, is a hole). */
#define VB 3
#define VSLOT 4
static long vector_index(int i);
/* local_info: the hints the local reference file gets. ROMIO (MPICH)
 * gets the same hints as Ferry. Open MPI's own driver (OMPIO) loses data
 * with the tiny cb_buffer_size here, and its ROMIO crashes in
 * MPI_File_iread_at_all: there the reference runs with the driver's
 * defaults (hints change how, never what, a program writes). */
static MPI_Info local_info(MPI_Info info) {
#ifdef OPEN_MPI
  (void)info;
  return MPI_INFO_NULL;
#else
  return info;
#endif
}

static MPI_Datatype vector_view(void) {
  MPI_Datatype t, ft;
  MPI_Type_vector(NINT / (VSLOT * np), VB, VSLOT * np, MPI_INT, &t);
  MPI_Type_create_resized(t, 0, (MPI_Aint)NINT * 4, &ft);
  MPI_Type_commit(&ft);
  MPI_Type_free(&t);
  return ft;
}
static int vector_count(void) { return NINT / (VSLOT * np) * VB; }
static long vector_index(int i) { /* the file index of the i-th int of my view */
  return (long)(i / VB) * VSLOT * np + rank * VSLOT + i % VB;
}

/* Subarray view with holes: the file as a [rows][cols] array, rank r owns
 * the r-th quarter of the columns of the rows 1..rows-2 (rows 0 and
 * rows-1 are holes). */
#define COLS 64
static MPI_Datatype subarray_view(int *count) {
  int rows = NINT / COLS;
  int sizes[2] = {rows, COLS}, sub[2] = {rows - 2, COLS / np}, starts[2] = {1, rank * (COLS / np)};
  MPI_Datatype ft;
  MPI_Type_create_subarray(2, sizes, sub, starts, MPI_ORDER_C, MPI_INT, &ft);
  MPI_Type_commit(&ft);
  *count = (rows - 2) * (COLS / np);
  return ft;
}
static long subarray_index(int i) {
  int w = COLS / np;
  return (long)(1 + i / w) * COLS + rank * w + i % w;
}

/* expect: the file index g after the program's writes with salt. */
static int expect_vector(long g, int salt) {
  long slot = g % (VSLOT * np);
  return slot % VSLOT < VB ? value(g, salt) : FILLER;
}
static int expect_subarray(long g, int salt) {
  long row = g / COLS;
  return row >= 1 && row < NINT / COLS - 1 ? value(g, salt) : FILLER;
}

static void compare(const char *a, const char *b);

/* collective_writes: vector view (write_all from a contiguous buffer,
 * then read_all back and checked), subarray view through a split
 * collective from a memory type in large pieces, and through a
 * nonblocking collective from a memory type in small pieces. */
static void collective_writes(const char *path, MPI_Info info, int ferry) {
  MPI_File fh = open_file(path, MPI_MODE_CREATE | MPI_MODE_RDWR, info);
  CHECK_MPI(MPI_File_set_size(fh, 0));
  fill(fh);
  MPI_Datatype ft = vector_view();
  int n = vector_count(), *b = malloc(sizeof(int) * n), *r = malloc(sizeof(int) * n);
  for (int i = 0; i < n; i++) b[i] = value(vector_index(i), 1);
  CHECK_MPI(MPI_File_set_view(fh, (MPI_Offset)rank * VSLOT * 4, MPI_INT, ft, "native", MPI_INFO_NULL));
  MPI_Status st;
  CHECK_MPI(MPI_File_write_all(fh, b, n, MPI_INT, &st));
  int cnt;
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == n);
  memset(r, 0, sizeof(int) * n);
  CHECK_MPI(MPI_File_read_at_all(fh, 0, r, n, MPI_INT, &st));
  for (int i = 0; i < n; i++) {
    if (r[i] != b[i]) fprintf(stderr, "[%d] %s: int %ld of the view is %d, want %d\n", rank, path, vector_index(i), r[i], b[i]);
    CHECK(r[i] == b[i]);
  }
  /* the whole file, by another decomposition (contiguous quarters) */
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_INT, MPI_INT, "native", MPI_INFO_NULL));
  int per = NINT / np, *q = malloc(sizeof(int) * per);
  CHECK_MPI(MPI_File_read_at_all(fh, (MPI_Offset)rank * per, q, per, MPI_INT, &st));
  for (int i = 0; i < per; i++) CHECK(q[i] == expect_vector((long)rank * per + i, 1));
  free(q);
  free(b);
  free(r);
  MPI_Type_free(&ft);
  CHECK_MPI(MPI_File_close(&fh));
  (void)ferry;

  /* subarray view, salt 2: split collective, memory in 8 pieces of n/8
   * ints, n/8 ints apart (the list path) */
  fh = open_file(path, MPI_MODE_RDWR, info);
  ft = subarray_view(&n);
  CHECK(n % 8 == 0);
  int bl = n / 8, *big = malloc(sizeof(int) * 2 * (size_t)n);
  MPI_Datatype mt;
  MPI_Type_vector(8, bl, 2 * bl, MPI_INT, &mt);
  MPI_Type_commit(&mt);
  for (int i = 0; i < 2 * n; i++) big[i] = -1;
  for (int i = 0; i < n; i++) big[(i / bl) * 2 * bl + i % bl] = value(subarray_index(i), 2);
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_INT, ft, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_write_all_begin(fh, big, 1, mt));
  CHECK_MPI(MPI_File_write_all_end(fh, big, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == n);
  /* read back into small pieces (every other int: staged), nonblocking */
  int *small = malloc(sizeof(int) * 2 * n);
  MPI_Datatype st2;
  MPI_Type_vector(n, 1, 2, MPI_INT, &st2);
  MPI_Type_commit(&st2);
  for (int i = 0; i < 2 * n; i++) small[i] = -7;
  MPI_Request req;
  CHECK_MPI(MPI_File_iread_at_all(fh, 0, small, 1, st2, &req));
  CHECK_MPI(MPI_Wait(&req, &st));
  MPI_Get_count(&st, st2, &cnt);
  CHECK(cnt == 1);
  for (int i = 0; i < n; i++) CHECK(small[2 * i] == value(subarray_index(i), 2) && small[2 * i + 1] == -7);
  /* the whole file, every rank, independently */
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_INT, MPI_INT, "native", MPI_INFO_NULL));
  int *all = malloc(sizeof(int) * NINT);
  CHECK_MPI(MPI_File_read_at(fh, 0, all, NINT, MPI_INT, &st));
  for (long g = 0; g < NINT; g++) {
    long row = g / COLS;
    int want = row >= 1 && row < NINT / COLS - 1 ? value(g, 2) : expect_vector(g, 1);
    CHECK(all[g] == want);
  }
  free(all);
  MPI_Type_free(&st2);
  free(small);
  MPI_Type_free(&mt);
  free(big);
  MPI_Type_free(&ft);
  CHECK_MPI(MPI_File_close(&fh));
}

/* independent: every rank at once writes its interleaved 4-byte pieces
 * (int k*np + r) through a view, without synchronizing, a few times;
 * then strided reads. */
static void independent(const char *path, MPI_Info info) {
  MPI_File fh = open_file(path, MPI_MODE_CREATE | MPI_MODE_RDWR, info);
  CHECK_MPI(MPI_File_set_size(fh, 0));
  fill(fh);
  MPI_Datatype t, ft;
  MPI_Type_vector(NINT / np, 1, np, MPI_INT, &t);
  MPI_Type_create_resized(t, 0, (MPI_Aint)NINT * 4, &ft);
  MPI_Type_commit(&ft);
  MPI_Type_free(&t);
  CHECK_MPI(MPI_File_set_view(fh, (MPI_Offset)rank * 4, MPI_INT, ft, "native", MPI_INFO_NULL));
  int n = NINT / np, *b = malloc(sizeof(int) * n);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < n; i++) b[i] = value((long)i * np + rank, 3 + round);
    /* in pieces, so that ranks' writes interleave in time as well */
    for (int at = 0; at < n; at += n / 4) CHECK_MPI(MPI_File_write_at(fh, at, b + at, n / 4, MPI_INT, MPI_STATUS_IGNORE));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* strided independent read of another rank's pieces */
  int other = (rank + 1) % np, *r = malloc(sizeof(int) * n);
  CHECK_MPI(MPI_File_set_view(fh, (MPI_Offset)other * 4, MPI_INT, ft, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_read_at(fh, 0, r, n, MPI_INT, MPI_STATUS_IGNORE));
  for (int i = 0; i < n; i++) CHECK(r[i] == value((long)i * np + other, 5));
  free(r);
  free(b);
  MPI_Type_free(&ft);
  CHECK_MPI(MPI_File_close(&fh));
}

/* info_reports: MPI_File_get_info shows the hints that were set. */
static void info_reports(const char *path, MPI_Info info, const char *set) {
  MPI_File fh = open_file(path, MPI_MODE_RDONLY, info);
  MPI_Info got;
  CHECK_MPI(MPI_File_get_info(fh, &got));
  const char *keys[] = {"romio_cb_read", "romio_cb_write", "romio_ds_read", "romio_ds_write", "cb_buffer_size",
                        "cb_nodes", "cb_config_list", "ind_rd_buffer_size", "ind_wr_buffer_size",
                        "striping_unit", "striping_factor"};
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    char v[256];
    int flag = 0;
    MPI_Info_get(got, keys[k], (int)sizeof v - 1, v, &flag);
    CHECK(flag);
    /* a value set explicitly is reported as set (but cb_buffer_size,
     * rounded to whole strips, and cb_nodes, at most what cb_config_list
     * and the ranks allow) */
    char want[300];
    snprintf(want, sizeof want, "%s=", keys[k]);
    const char *p = strstr(set, want);
    if (!p || !strcmp(keys[k], "cb_buffer_size")) continue;
    p += strlen(want);
    if (!strcmp(keys[k], "cb_nodes")) {
      int asked = atoi(p), got_n = atoi(v);
      CHECK(got_n >= 1 && got_n <= asked && got_n <= np);
      if (!strstr(set, "cb_config_list=")) CHECK(got_n == (asked < np ? asked : np));
      continue;
    }
    size_t len = strcspn(p, " ");
    CHECK(strlen(v) == len && !strncmp(v, p, len));
  }
  char v[64];
  int flag = 0;
  MPI_Info_get(got, "striping_unit", (int)sizeof v - 1, v, &flag);
  CHECK(flag && !strcmp(v, "8192"));
  MPI_Info_get(got, "cb_buffer_size", (int)sizeof v - 1, v, &flag);
  CHECK(flag && atoll(v) >= 8192 && atoll(v) % 8192 == 0);
  MPI_Info_free(&got);
  CHECK_MPI(MPI_File_close(&fh));
}

static char *read_all_bytes(const char *path, MPI_Offset *size) {
  MPI_File fh;
  CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_get_size(fh, size));
  char *b = malloc((size_t)*size + 1);
  CHECK_MPI(MPI_File_read_at(fh, 0, b, (int)*size, MPI_BYTE, MPI_STATUS_IGNORE));
  CHECK_MPI(MPI_File_close(&fh));
  return b;
}

static void compare(const char *a, const char *b) {
  if (rank == 0) {
    MPI_Offset sa, sb;
    char *ba = read_all_bytes(a, &sa), *bb = read_all_bytes(b, &sb);
    if (sa != sb || memcmp(ba, bb, (size_t)sa)) {
      fprintf(stderr, "%s (%lld bytes) and %s (%lld bytes) differ (%s)\n", a, (long long)sa, b, (long long)sb,
              cur_hints);
      for (MPI_Offset i = 0; i + 4 <= sa && i + 4 <= sb; i += 4) {
        int x, y;
        memcpy(&x, ba + i, 4);
        memcpy(&y, bb + i, 4);
        if (x != y) fprintf(stderr, "  int %lld: %d vs %d\n", (long long)i / 4, x, y);
      }
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    free(ba);
    free(bb);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  if (argc < 3 || NINT % (VSLOT * np) || COLS % np) {
    fprintf(stderr, "usage: mpiio_coll_test TAG SCRATCH (on 1, 2 or 4 ranks)\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  char fer[512], loc[512];
  snprintf(fer, sizeof fer, "ferry:/coll-%s.dat", argv[1]);
  snprintf(loc, sizeof loc, "%s/coll-%s.dat", argv[2], argv[1]);
  for (size_t h = 0; h < sizeof hint_sets / sizeof hint_sets[0]; h++) {
    cur_hints = hint_sets[h];
    MPI_Info info = make_info(hint_sets[h]);
    double t[6];
    t[0] = MPI_Wtime();
    collective_writes(fer, info, 1);
    t[1] = MPI_Wtime();
    collective_writes(loc, local_info(info), 0);
    t[2] = MPI_Wtime();
    compare(fer, loc);
    independent(fer, info);
    t[3] = MPI_Wtime();
    independent(loc, local_info(info));
    t[4] = MPI_Wtime();
    compare(fer, loc);
    info_reports(fer, info, hint_sets[h]);
    t[5] = MPI_Wtime();
    if (rank == 0 && getenv("MPIIO_TEST_VERBOSE"))
      printf("[%s] collective: ferry %.3fs local %.3fs; independent: ferry %.3fs local %.3fs; total %.3fs\n",
             hint_sets[h], t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[0]);
    MPI_Info_free(&info);
  }
  if (rank == 0) {
    MPI_File_delete(fer, MPI_INFO_NULL);
    MPI_File_delete(loc, MPI_INFO_NULL);
    printf("mpiio_coll_test %s: OK (%d ranks, %zu hint sets)\n", argv[1], np,
           sizeof hint_sets / sizeof hint_sets[0]);
  }
  MPI_Finalize();
  return 0;
}
