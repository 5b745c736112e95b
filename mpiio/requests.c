/*
 * requests.c - nonblocking accesses (MPI_File_i*). The access is done
 * when the call starts; the request is a generalized request completed
 * before it is returned, so waiting on it only reads its status.
 */
#include <stdlib.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

static int greq_query(void *extra, MPI_Status *st) {
  fy_set_status(st, *(MPI_Count *)extra);
  return MPI_SUCCESS;
}
static int greq_free(void *extra) {
  free(extra);
  return MPI_SUCCESS;
}
static int greq_cancel(void *extra, int complete) {
  (void)extra, (void)complete;
  return MPI_SUCCESS;
}

static int do_irw(MPI_File fh, const char *op, int wr, int how, MPI_Offset off, const void *buf,
                  MPI_Count count, MPI_Datatype dt, MPI_Request *req, int coll) {
  fy_file *f = FY(fh);
  MPI_Count *moved = malloc(sizeof *moved);
  if (!moved) return fy_fail(f, MPI_ERR_NO_MEM, op, NULL, "out of memory");
  int rc = fy_data_io(f, op, wr, how, off, (void *)buf, count, dt, coll, moved);
  if (rc != MPI_SUCCESS) {
    free(moved);
    *req = MPI_REQUEST_NULL;
    return rc;
  }
  MPI_Grequest_start(greq_query, greq_free, greq_cancel, moved, req);
  MPI_Grequest_complete(*req);
  return MPI_SUCCESS;
}

/* CT: the count type; S: the name suffix ("" or "_c"). */
#define FY_IREQ_FUNCS(CT, S)                                                                                   \
  int fy_File_iread_at##S(MPI_File fh, MPI_Offset offset, void *buf, CT count, MPI_Datatype datatype,          \
                          MPI_Request *request) {                                                              \
    return do_irw(fh, "MPI_File_iread_at" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, request, 0);      \
  }                                                                                                            \
  int fy_File_iwrite_at##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,                          \
                           MPI_Datatype datatype, MPI_Request *request) {                                      \
    return do_irw(fh, "MPI_File_iwrite_at" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, request, 0);     \
  }                                                                                                            \
  int fy_File_iread_at_all##S(MPI_File fh, MPI_Offset offset, void *buf, CT count,                             \
                              MPI_Datatype datatype, MPI_Request *request) {                                   \
    return do_irw(fh, "MPI_File_iread_at_all" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, request, 1);  \
  }                                                                                                            \
  int fy_File_iwrite_at_all##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,                      \
                               MPI_Datatype datatype, MPI_Request *request) {                                  \
    return do_irw(fh, "MPI_File_iwrite_at_all" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, request, 1); \
  }                                                                                                            \
  int fy_File_iread##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype, MPI_Request *request) {        \
    return do_irw(fh, "MPI_File_iread" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, request, 0);            \
  }                                                                                                            \
  int fy_File_iwrite##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,                         \
                        MPI_Request *request) {                                                                \
    return do_irw(fh, "MPI_File_iwrite" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, request, 0);           \
  }                                                                                                            \
  int fy_File_iread_all##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,                            \
                           MPI_Request *request) {                                                             \
    return do_irw(fh, "MPI_File_iread_all" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, request, 1);        \
  }                                                                                                            \
  int fy_File_iwrite_all##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,                     \
                            MPI_Request *request) {                                                            \
    return do_irw(fh, "MPI_File_iwrite_all" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, request, 1);       \
  }                                                                                                            \
  int fy_File_iread_shared##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,                         \
                              MPI_Request *request) {                                                          \
    return do_irw(fh, "MPI_File_iread_shared" #S, 0, POS_SHARED, 0, buf, count, datatype, request, 0);         \
  }                                                                                                            \
  int fy_File_iwrite_shared##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,                  \
                               MPI_Request *request) {                                                         \
    return do_irw(fh, "MPI_File_iwrite_shared" #S, 1, POS_SHARED, 0, buf, count, datatype, request, 0);        \
  }

FY_IREQ_FUNCS(int, )
#if FY_HAVE_LARGE_COUNT
FY_IREQ_FUNCS(MPI_Count, _c)
#endif
