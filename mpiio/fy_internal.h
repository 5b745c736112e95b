/* fy_internal.h - shared between ferry_mpiio.c and the generated entry
 * points (fy_gen.c). Nothing here is exported. */
#ifndef FY_INTERNAL_H
#define FY_INTERNAL_H

#include <mpi.h>

#define FY_HIDDEN __attribute__((visibility("hidden")))
#define FY_EXPORT __attribute__((visibility("default")))

/* fy_is_ferry: fh is a live Ferry handle (in the registry). */
int fy_is_ferry(MPI_File fh) FY_HIDDEN;

/* fy_unsupported: MPI_ERR_UNSUPPORTED_OPERATION through fh's error
 * handler, with a message naming fn. */
int fy_unsupported(MPI_File fh, const char *fn) FY_HIDDEN;

/* fy_resolve: the next definition of sym after this library (the MPI
 * library's original); aborts if there is none. */
void *fy_resolve(const char *sym) FY_HIDDEN;

/* Every MPI_File_* name of the mpi.h this library was built against. */
extern const char *const fy_file_function_names[] FY_HIDDEN;

#endif
