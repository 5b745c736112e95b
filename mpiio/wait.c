/*
 * wait.c - the collectives of the data path, waited for without taking
 * the CPU from the ranks and servers still working.
 *
 * MPI implementations busy-poll inside a blocking collective (MPICH and
 * Open MPI both do by default). Where ranks have a core each, that costs
 * nothing; where they share cores with each other or with Ferry's
 * servers and client threads (an oversubscribed node, a laptop, a CI
 * machine), a rank that reaches a collective first spins on the core a
 * slower rank, or the server it waits on, needs, and every collective
 * costs scheduler time slices. Ferry's collective accesses start the
 * nonblocking collective and test it: spinning for a few microseconds
 * first, so that a collective all ranks reach together is as fast as the
 * blocking one, then sleeping in short steps. The MPI library's own
 * waits (and ROMIO's) are unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "fy_internal.h"

/* Spin for about SPIN_NS before the first sleep (FERRY_MPIIO_SPIN_US
 * changes it: nodes with a core per rank and nothing else on them may
 * prefer to spin); sleep NAP_NS between tests after that (the kernel's
 * timer slack, 50 us by default, rounds short sleeps up anyway). */
#define SPIN_NS 20000
#define NAP_NS 20000

static int64_t spin_ns(void) {
  static int64_t v = -1; /* the environment does not change under us: a race only repeats the read */
  if (v < 0) {
    const char *e = getenv("FERRY_MPIIO_SPIN_US");
    char *end;
    long long us = e ? strtoll(e, &end, 10) : -1;
    v = e && end != e && *end == 0 && us >= 0 && us < INT64_MAX / 1000 ? (int64_t)us * 1000 : SPIN_NS;
  }
  return v;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void fy_wait(MPI_Request *req) {
  int done = 0;
  int64_t until = now_ns() + spin_ns();
  do {
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return;
  } while (now_ns() < until);
  const struct timespec nap = {0, NAP_NS};
  for (;;) {
    nanosleep(&nap, NULL);
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return;
  }
}

void fy_barrier(MPI_Comm comm) {
  MPI_Request r;
  MPI_Ibarrier(comm, &r);
  fy_wait(&r);
}

void fy_allreduce(const void *in, void *out, int n, MPI_Datatype t, MPI_Op op, MPI_Comm comm) {
  MPI_Request r;
  MPI_Iallreduce(in, out, n, t, op, comm, &r);
  fy_wait(&r);
}

void fy_allgather(const void *in, int n, MPI_Datatype t, void *out, MPI_Comm comm) {
  MPI_Request r;
  MPI_Iallgather(in, n, t, out, n, t, comm, &r);
  fy_wait(&r);
}

void fy_alltoall(const void *in, int n, MPI_Datatype t, void *out, MPI_Comm comm) {
  MPI_Request r;
  MPI_Ialltoall(in, n, t, out, n, t, comm, &r);
  fy_wait(&r);
}

void fy_alltoallv(const void *in, const int *sc, const int *sd, MPI_Datatype st, void *out, const int *rc,
                  const int *rd, MPI_Datatype rt, MPI_Comm comm) {
  MPI_Request r;
  MPI_Ialltoallv(in, sc, sd, st, out, rc, rd, rt, comm, &r);
  fy_wait(&r);
}
