/*
 * errors.c - errors as MPI expects them: codes of the standard classes
 * with messages that name the call and the file, passed through the
 * file's error handler; and the error handler calls themselves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

static MPI_Errhandler fy_default_eh = MPI_ERRORS_RETURN; /* set on MPI_FILE_NULL */
static int fy_default_eh_set;

/* User error handler functions, recorded at MPI_File_create_errhandler,
 * with the references Ferry files hold that the MPI library does not
 * count (fy_eh_hold). An entry whose handle the library hands out again
 * after freeing it is reused: by then held is 0 (see
 * MPI_Errhandler_free below). */
static struct {
  MPI_Errhandler eh;
  MPI_File_errhandler_function *fn;
  int held;
} fy_ehfns[256];
static int fy_n_ehfns;

/* eh_find_locked: eh's entry, or -1. */
static int eh_find_locked(MPI_Errhandler eh) {
  if (eh == MPI_ERRHANDLER_NULL) return -1;
  for (int i = 0; i < fy_n_ehfns; i++)
    if (fy_ehfns[i].eh == eh) return i;
  return -1;
}

MPI_Errhandler fy_default_errhandler(void) { return fy_default_eh; }

static int fy_verbose(void) {
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("FERRY_MPIIO_VERBOSE");
    v = e && *e && strcmp(e, "0");
  }
  return v;
}

/* dyn_codes_work: MPI_Add_error_code/MPI_Add_error_string give codes whose
 * MPI_Error_string is the string added. Not so in MPICH 4.0 for the
 * predefined classes (the string is garbage): there errors return the
 * class itself and fy_fail prints the message instead. */
static int dyn_codes_work = -1;

/* error_code: an error code of class cls whose string is msg, made once per
 * distinct message (MPI_Add_error_code), or cls itself when that fails. */
static int error_code(int cls, const char *msg) {
  if (!dyn_codes_work) return cls;
  static struct {
    int cls, code;
    char *msg;
  } cache[512];
  static int n;
  int code = cls;
  pthread_mutex_lock(&fy_lock);
  for (int i = 0; i < n; i++)
    if (cache[i].cls == cls && !strcmp(cache[i].msg, msg)) {
      code = cache[i].code;
      goto out;
    }
  if (n < (int)(sizeof cache / sizeof cache[0]) && MPI_Add_error_code(cls, &code) == MPI_SUCCESS &&
      MPI_Add_error_string(code, msg) == MPI_SUCCESS) {
    if (dyn_codes_work < 0) {
      char got[MPI_MAX_ERROR_STRING];
      int len = 0;
      got[0] = 0;
      MPI_Error_string(code, got, &len);
      dyn_codes_work = strstr(got, msg) != NULL;
      if (!dyn_codes_work) {
        code = cls;
        goto out;
      }
    }
    cache[n].cls = cls;
    cache[n].code = code;
    cache[n].msg = strdup(msg);
    n++;
  } else {
    code = cls;
  }
out:
  pthread_mutex_unlock(&fy_lock);
  return code;
}

/* fy_raise: pass code through f's error handler (or the default file one). */
int fy_raise(fy_file *f, int code) {
  if (code == MPI_SUCCESS) return code;
  MPI_Errhandler eh = f ? f->eh : fy_default_eh;
  if (eh == MPI_ERRORS_RETURN) return code;
  if (eh == MPI_ERRORS_ARE_FATAL
#ifdef MPI_ERRORS_ABORT
      || eh == MPI_ERRORS_ABORT
#endif
  ) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, s, &len);
    fprintf(stderr, "libferry-mpiio: fatal error on %s: %s\n", f ? f->path : "MPI_FILE_NULL", s);
    MPI_Abort(f ? f->comm : MPI_COMM_WORLD, code);
    return code;
  }
  MPI_File_errhandler_function *fn = NULL;
  pthread_mutex_lock(&fy_lock);
  int i = eh_find_locked(eh);
  if (i >= 0) fn = fy_ehfns[i].fn;
  pthread_mutex_unlock(&fy_lock);
  if (fn) {
    MPI_File h = f ? (MPI_File)(void *)f : MPI_FILE_NULL;
    int c = code;
    fn(&h, &c);
  }
  return code;
}

/* fy_fail: an error of class cls on f (NULL before open), described by
 * op, path and detail; goes through the error handler. */
int fy_fail(fy_file *f, int cls, const char *op, const char *path, const char *detail) {
  char msg[MPI_MAX_ERROR_STRING];
  snprintf(msg, sizeof msg, "%s(%s): %s", op, path ? path : (f ? f->path : "?"), detail);
  int code = error_code(cls, msg);
  if (fy_verbose() || (code == cls && cls == MPI_ERR_UNSUPPORTED_OPERATION))
    fprintf(stderr, "libferry-mpiio: %s\n", msg);
  return fy_raise(f, code);
}

static int errno_class(int err) {
  switch (err < 0 ? -err : err) {
  case ENOENT: return MPI_ERR_NO_SUCH_FILE;
  case EEXIST: return MPI_ERR_FILE_EXISTS;
  case EACCES:
  case EPERM: return MPI_ERR_ACCESS;
  case EROFS: return MPI_ERR_READ_ONLY;
  case ENOSPC: return MPI_ERR_NO_SPACE;
#ifdef EDQUOT
  case EDQUOT: return MPI_ERR_QUOTA;
#endif
  case EISDIR:
  case ENOTDIR:
  case ENAMETOOLONG: return MPI_ERR_BAD_FILE;
  case EINVAL: return MPI_ERR_ARG;
  case EBUSY:
  case ETXTBSY: return MPI_ERR_FILE_IN_USE;
  default: return MPI_ERR_IO;
  }
}

/* fy_fail_errno: a negative Ferry return as an MPI error. */
int fy_fail_errno(fy_file *f, int err, const char *op, const char *path) {
  return fy_fail(f, errno_class(err), op, path, ferry_strerror(err));
}

int fy_unsupported(MPI_File fh, const char *fn) {
  char msg[MPI_MAX_ERROR_STRING];
  snprintf(msg, sizeof msg, "%s is not supported on Ferry files by libferry-mpiio", fn);
  int code = error_code(MPI_ERR_UNSUPPORTED_OPERATION, msg);
  if (fy_verbose() || code == MPI_ERR_UNSUPPORTED_OPERATION) fprintf(stderr, "libferry-mpiio: %s\n", msg);
  return fy_raise(FY(fh), code);
}
/* ---- error handlers ---------------------------------------------------- */

int fy_all_File_create_errhandler(MPI_File_errhandler_function *fn, MPI_Errhandler *errhandler) {
  int rc = fy_pmpi_File_create_errhandler(fn, errhandler);
  if (rc == MPI_SUCCESS) {
    pthread_mutex_lock(&fy_lock);
    int i = eh_find_locked(*errhandler);
    if (i < 0 && fy_n_ehfns < (int)(sizeof fy_ehfns / sizeof fy_ehfns[0])) i = fy_n_ehfns++;
    if (i >= 0) {
      fy_ehfns[i].eh = *errhandler;
      fy_ehfns[i].fn = fn;
      fy_ehfns[i].held = 0;
    }
    pthread_mutex_unlock(&fy_lock);
  }
  return rc;
}

static int predefined(MPI_Errhandler eh) {
  return eh == MPI_ERRORS_RETURN || eh == MPI_ERRORS_ARE_FATAL
#ifdef MPI_ERRORS_ABORT
         || eh == MPI_ERRORS_ABORT
#endif
      ;
}

void fy_eh_hold(MPI_Errhandler eh) {
  pthread_mutex_lock(&fy_lock);
  int i = eh_find_locked(eh);
  /* Predefined handlers are counted too: Open MPI counts references to
   * them, and a free of one that MPI_File_get_errhandler handed out
   * would take one the library holds (it crashes in MPI_Finalize). */
  if (i < 0 && predefined(eh) && fy_n_ehfns < (int)(sizeof fy_ehfns / sizeof fy_ehfns[0])) {
    i = fy_n_ehfns++;
    fy_ehfns[i].eh = eh;
    fy_ehfns[i].fn = NULL;
    fy_ehfns[i].held = 0;
  }
  if (i >= 0) fy_ehfns[i].held++;
  pthread_mutex_unlock(&fy_lock);
}

typedef int errhandler_free_fn(MPI_Errhandler *);

static errhandler_free_fn *real_errhandler_free(void) {
  static errhandler_free_fn *fn;
  if (!fn) fn = (errhandler_free_fn *)fy_resolve("PMPI_Errhandler_free");
  return fn;
}

/* drop_held: takes one of the references Ferry counts on eh, if it has
 * any, and says whether it did; known: whether eh is in the table. */
static int drop_held(MPI_Errhandler eh, int *known) {
  pthread_mutex_lock(&fy_lock);
  int i = eh_find_locked(eh), held = i >= 0 && fy_ehfns[i].held > 0;
  if (held) fy_ehfns[i].held--;
  pthread_mutex_unlock(&fy_lock);
  if (known) *known = i >= 0;
  return held;
}

void fy_eh_release(MPI_Errhandler eh) {
  int known;
  /* the last reference Ferry counted is gone while the user's own frees
   * were absorbed: this one is the library's (a predefined handler never
   * goes, and Ferry's references to it were never the library's) */
  if (!drop_held(eh, &known) && known && !predefined(eh)) real_errhandler_free()(&eh);
}

/* MPI_Errhandler_free: a free of a handler Ferry files still refer to
 * drops one of those references instead, and the handler lives on (the
 * library's own count would reach zero, or below, while a Ferry file
 * holds it: MPICH asserts, Open MPI crashes). Every other handle is the
 * library's business. */
static int errhandler_free(MPI_Errhandler *errhandler) {
  if (errhandler && drop_held(*errhandler, NULL)) {
    *errhandler = MPI_ERRHANDLER_NULL;
    return MPI_SUCCESS;
  }
  return real_errhandler_free()(errhandler);
}

FY_EXPORT int MPI_Errhandler_free(MPI_Errhandler *errhandler) { return errhandler_free(errhandler); }
FY_EXPORT int PMPI_Errhandler_free(MPI_Errhandler *errhandler) { return errhandler_free(errhandler); }

int fy_all_File_set_errhandler(MPI_File file, MPI_Errhandler errhandler) {
  if (fy_is_ferry(file)) {
    fy_file *f = FY(file);
    fy_eh_hold(errhandler);
    MPI_Errhandler old = f->eh;
    f->eh = errhandler;
    fy_eh_release(old);
    return MPI_SUCCESS;
  }
  int rc = fy_pmpi_File_set_errhandler(file, errhandler);
  if (rc == MPI_SUCCESS && file == MPI_FILE_NULL) {
    fy_default_eh = errhandler;
    fy_default_eh_set = 1;
  }
  return rc;
}

int fy_File_get_errhandler(MPI_File file, MPI_Errhandler *errhandler) {
  *errhandler = FY(file)->eh;
  fy_eh_hold(*errhandler);
  return MPI_SUCCESS;
}

int fy_File_call_errhandler(MPI_File fh, int errorcode) {
  fy_raise(FY(fh), errorcode);
  return MPI_SUCCESS;
}
