/*
 * split.c - split collective accesses (_begin / _end). The access is done
 * at _begin; _end reports it. One split collective may be active per
 * file, as MPI requires.
 */
#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

static int split_begin(MPI_File fh, const char *op, int wr, int how, MPI_Offset off, const void *buf,
                       MPI_Count count, MPI_Datatype dt) {
  fy_file *f = FY(fh);
  if (f->split_active) return fy_fail(f, MPI_ERR_OTHER, op, NULL, "a split collective is already active");
  f->split_active = 1;
  f->split_bytes = 0;
  f->split_rc = fy_data_io(f, op, wr, how, off, (void *)buf, count, dt, 1, &f->split_bytes);
  return f->split_rc;
}

static int split_end(MPI_File fh, const char *op, MPI_Status *st) {
  fy_file *f = FY(fh);
  if (!f->split_active) return fy_fail(f, MPI_ERR_OTHER, op, NULL, "no split collective is active");
  f->split_active = 0;
  if (f->split_rc == MPI_SUCCESS) fy_set_status(st, f->split_bytes);
  return f->split_rc;
}

static int ordered_begin(MPI_File fh, const char *op, int wr, const void *buf, MPI_Count count,
                         MPI_Datatype dt) {
  fy_file *f = FY(fh);
  if (f->split_active) return fy_fail(f, MPI_ERR_OTHER, op, NULL, "a split collective is already active");
  MPI_Status st;
  f->split_active = 1;
  f->split_rc = fy_do_ordered(fh, op, wr, buf, count, dt, &st);
  MPI_Count n = 0;
  if (f->split_rc == MPI_SUCCESS) MPI_Get_elements_x(&st, MPI_BYTE, &n);
  f->split_bytes = n;
  return f->split_rc;
}

/* CT: the count type; S: the name suffix ("" or "_c"). */
#define FY_SPLIT_FUNCS(CT, S)                                                                                \
  int fy_File_read_at_all_begin##S(MPI_File fh, MPI_Offset offset, void *buf, CT count,                      \
                                   MPI_Datatype datatype) {                                                  \
    return split_begin(fh, "MPI_File_read_at_all_begin" #S, 0, POS_EXPLICIT, offset, buf, count, datatype);  \
  }                                                                                                          \
  int fy_File_write_at_all_begin##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,               \
                                    MPI_Datatype datatype) {                                                 \
    return split_begin(fh, "MPI_File_write_at_all_begin" #S, 1, POS_EXPLICIT, offset, buf, count, datatype); \
  }                                                                                                          \
  int fy_File_read_all_begin##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype) {                   \
    return split_begin(fh, "MPI_File_read_all_begin" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype);        \
  }                                                                                                          \
  int fy_File_write_all_begin##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype) {            \
    return split_begin(fh, "MPI_File_write_all_begin" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype);       \
  }                                                                                                          \
  int fy_File_read_ordered_begin##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype) {               \
    return ordered_begin(fh, "MPI_File_read_ordered_begin" #S, 0, buf, count, datatype);                     \
  }                                                                                                          \
  int fy_File_write_ordered_begin##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype) {        \
    return ordered_begin(fh, "MPI_File_write_ordered_begin" #S, 1, buf, count, datatype);                    \
  }

FY_SPLIT_FUNCS(int, )
#if FY_HAVE_LARGE_COUNT
FY_SPLIT_FUNCS(MPI_Count, _c)
#endif

int fy_File_read_at_all_end(MPI_File fh, void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_read_at_all_end", status);
}
int fy_File_write_at_all_end(MPI_File fh, const void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_write_at_all_end", status);
}
int fy_File_read_all_end(MPI_File fh, void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_read_all_end", status);
}
int fy_File_write_all_end(MPI_File fh, const void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_write_all_end", status);
}
int fy_File_read_ordered_end(MPI_File fh, void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_read_ordered_end", status);
}
int fy_File_write_ordered_end(MPI_File fh, const void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_write_ordered_end", status);
}
