/*
 * hints.c - the ROMIO hints a Ferry file honours, which ranks aggregate
 * for collective buffering, and what MPI_File_get_info reports.
 *
 *   romio_cb_read, romio_cb_write   enable | disable | automatic (default):
 *       collective buffering (two-phase I/O, coll.c); automatic uses it
 *       when the ranks' accesses interleave, as ROMIO does.
 *   cb_buffer_size                  bytes each aggregator moves per round
 *       (default 16 MiB; at least one strip).
 *   cb_nodes                        aggregators (default: as many as the
 *       file has servers, at most one per rank).
 *   cb_config_list                  where aggregators may run, ROMIO's
 *       syntax: "host:n,*:n" ("*" any other node, n or "*" ranks per
 *       node); default "*:*". Aggregators are spread over the nodes
 *       round-robin.
 *   romio_ds_read                   enable | disable | automatic (default):
 *       data sieving for independent reads (sieve.c); automatic sieves
 *       small pieces that lie close together.
 *   romio_ds_write                  enable | disable (default) |
 *       automatic (= disable): data sieving for independent writes; see
 *       sieve.c for the lock it takes and why it is off by default.
 *   ind_rd_buffer_size, ind_wr_buffer_size   sieving buffer sizes
 *       (defaults 4 MiB and 512 KiB, as ROMIO's).
 *   striping_unit, striping_factor  the layout of a file the open creates
 *       (file.c); get_info reports the layout the file has.
 *
 * Hints that steer collective behaviour must agree on every rank, so
 * rank 0's values are the file's (broadcast at open, set_info and
 * set_view, which are collective).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fy_internal.h"
#include "fy_gen.h"

#define DEFAULT_CB_BUFFER (16 << 20)
#define DEFAULT_IND_RD (4 << 20)
#define DEFAULT_IND_WR (512 << 10)

static int parse_switch(MPI_Info info, const char *key, int dflt) {
  char v[32];
  int flag = 0;
  if (info == MPI_INFO_NULL) return dflt;
  MPI_Info_get(info, key, (int)sizeof v - 1, v, &flag);
  if (!flag) return dflt;
  if (!strcmp(v, "enable") || !strcmp(v, "true")) return FY_HINT_ENABLE;
  if (!strcmp(v, "disable") || !strcmp(v, "false")) return FY_HINT_DISABLE;
  if (!strcmp(v, "automatic")) return FY_HINT_AUTO;
  return dflt;
}

static int64_t parse_size(MPI_Info info, const char *key, int64_t dflt) {
  char v[64];
  int flag = 0;
  if (info == MPI_INFO_NULL) return dflt;
  MPI_Info_get(info, key, (int)sizeof v - 1, v, &flag);
  if (!flag) return dflt;
  char *end;
  long long x = strtoll(v, &end, 10);
  return end != v && x > 0 ? (int64_t)x : dflt;
}

/* The node map: which node each rank is on (nodes numbered by their
 * lowest rank) and each node's name. Made once per file, at open. */
static int node_map(fy_file *f) {
  MPI_Comm nc;
  if (MPI_Comm_split_type(f->comm, MPI_COMM_TYPE_SHARED, f->rank, MPI_INFO_NULL, &nc) != MPI_SUCCESS)
    return -1;
  int leader = f->rank;
  MPI_Bcast(&leader, 1, MPI_INT, 0, nc);
  MPI_Comm_free(&nc);
  int *leaders = malloc(sizeof(int) * f->nprocs);
  char *names = calloc((size_t)f->nprocs, MPI_MAX_PROCESSOR_NAME);
  char me[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  f->node_of = malloc(sizeof(int) * f->nprocs);
  f->node_name = calloc((size_t)f->nprocs, sizeof(char *));
  if (!leaders || !names || !f->node_of || !f->node_name) {
    free(leaders);
    free(names);
    return -1;
  }
  MPI_Get_processor_name(me, &len);
  MPI_Allgather(&leader, 1, MPI_INT, leaders, 1, MPI_INT, f->comm);
  MPI_Allgather(me, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, f->comm);
  /* A leader is the lowest rank of its node: ranks in order meet each
   * node's leader first. */
  f->nnodes = 0;
  for (int r = 0; r < f->nprocs; r++) {
    if (leaders[r] == r) {
      f->node_name[f->nnodes] = strdup(names + (size_t)r * MPI_MAX_PROCESSOR_NAME);
      f->nnodes++;
    }
  }
  for (int r = 0; r < f->nprocs; r++) {
    int n = 0;
    for (int q = 0; q < leaders[r]; q++) n += leaders[q] == q;
    f->node_of[r] = n;
  }
  free(leaders);
  free(names);
  return 0;
}

/* per_node parses cb_config_list into the aggregators each node may
 * have (INT_MAX for "*"). Entries naming a node come first; "*" entries
 * cover the nodes no entry named. */
static void per_node(const fy_file *f, const char *list, int *cap) {
  for (int n = 0; n < f->nnodes; n++) cap[n] = -1;
  char buf[sizeof f->h.cb_config_list];
  for (int pass = 0; pass < 2; pass++) {
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
      while (*e == ' ') e++;
      char *colon = strrchr(e, ':');
      int n_per = 1;
      if (colon) {
        *colon = 0;
        n_per = !strcmp(colon + 1, "*") ? INT_MAX : atoi(colon + 1);
      }
      int star = !strcmp(e, "*");
      if (star != pass) continue;
      for (int n = 0; n < f->nnodes; n++)
        if (cap[n] < 0 && (star || !strcmp(e, f->node_name[n]))) cap[n] = n_per < 0 ? 0 : n_per;
    }
  }
  for (int n = 0; n < f->nnodes; n++)
    if (cap[n] < 0) cap[n] = 0;
}

/* choose_aggregators picks up to want ranks, round-robin over the nodes
 * (first rank of every node, then the second, ...), within each node's
 * allowance. */
static int choose_aggregators(fy_file *f, int want) {
  int *cap = malloc(sizeof(int) * f->nnodes), *aggr = malloc(sizeof(int) * f->nprocs);
  if (!cap || !aggr) {
    free(cap);
    free(aggr);
    return -1;
  }
  per_node(f, f->h.cb_config_list, cap);
  int total = 0;
  for (int n = 0; n < f->nnodes; n++) total += cap[n] > 0;
  if (!total) /* a list that names no node of this job: ROMIO's default */
    for (int n = 0; n < f->nnodes; n++) cap[n] = 1;
  int count = 0;
  for (int pass = 0; count < want; pass++) {
    int progress = 0;
    for (int n = 0; n < f->nnodes && count < want; n++) {
      if (pass >= cap[n]) continue;
      /* the pass-th rank of node n */
      int seen = 0;
      for (int r = 0; r < f->nprocs; r++)
        if (f->node_of[r] == n && seen++ == pass) {
          aggr[count++] = r;
          progress = 1;
          break;
        }
    }
    if (!progress) break;
  }
  free(cap);
  free(f->h.aggr);
  f->h.aggr = aggr;
  f->h.naggr = count;
  f->h.my_aggr = -1;
  for (int a = 0; a < count; a++)
    if (aggr[a] == f->rank) f->h.my_aggr = a;
  f->h.cb_nodes = count;
  return 0;
}

int fy_hints_apply(fy_file *f) {
  if (!f->node_of && node_map(f)) return -1;
  struct {
    int cb_read, cb_write, ds_read, ds_write, cb_nodes;
    int64_t cb_buffer_size, ind_rd, ind_wr;
    char list[sizeof f->h.cb_config_list];
  } v;
  memset(&v, 0, sizeof v);
  if (f->rank == 0) {
    MPI_Info in = f->info;
    v.cb_read = parse_switch(in, "romio_cb_read", FY_HINT_AUTO);
    v.cb_write = parse_switch(in, "romio_cb_write", FY_HINT_AUTO);
    v.ds_read = parse_switch(in, "romio_ds_read", FY_HINT_AUTO);
    v.ds_write = parse_switch(in, "romio_ds_write", FY_HINT_DISABLE);
    v.cb_buffer_size = parse_size(in, "cb_buffer_size", DEFAULT_CB_BUFFER);
    v.ind_rd = parse_size(in, "ind_rd_buffer_size", DEFAULT_IND_RD);
    v.ind_wr = parse_size(in, "ind_wr_buffer_size", DEFAULT_IND_WR);
    v.cb_nodes = (int)parse_size(in, "cb_nodes", 0);
    char list[sizeof v.list];
    int flag = 0;
    if (in != MPI_INFO_NULL) MPI_Info_get(in, "cb_config_list", (int)sizeof list - 1, list, &flag);
    snprintf(v.list, sizeof v.list, "%s", flag ? list : "*:*");
  }
  MPI_Bcast(&v, (int)sizeof v, MPI_BYTE, 0, f->comm);
  if (v.ds_write == FY_HINT_ENABLE) fy_lock_init(f); /* collective; leaves lock_ok 0 where it cannot */
  fy_hints *h = &f->h;
  h->cb_read = v.cb_read;
  h->cb_write = v.cb_write;
  h->ds_read = v.ds_read;
  h->ds_write = v.ds_write == FY_HINT_ENABLE && f->lock_ok ? FY_HINT_ENABLE : FY_HINT_DISABLE;
  h->ind_rd_buffer_size = v.ind_rd;
  h->ind_wr_buffer_size = v.ind_wr;
  memcpy(h->cb_config_list, v.list, sizeof v.list);
  /* At least one strip per round, in whole strips: an aggregator's
   * round then covers whole strips of its servers. */
  int64_t s = h->strip_size > 0 ? h->strip_size : 1;
  h->cb_buffer_size = v.cb_buffer_size < s ? s : v.cb_buffer_size / s * s;
  int want = v.cb_nodes > 0 ? v.cb_nodes : (h->server_count > 0 ? h->server_count : 1);
  if (want > f->nprocs) want = f->nprocs;
  return choose_aggregators(f, want);
}

void fy_hints_free(fy_file *f) {
  free(f->h.aggr);
  f->h.aggr = NULL;
  free(f->node_of);
  f->node_of = NULL;
  if (f->node_name)
    for (int n = 0; n < f->nnodes; n++) free(f->node_name[n]);
  free(f->node_name);
  f->node_name = NULL;
}

static const char *switch_name(int v) {
  return v == FY_HINT_ENABLE ? "enable" : v == FY_HINT_DISABLE ? "disable" : "automatic";
}

void fy_hints_report(const fy_file *f, MPI_Info info) {
  const fy_hints *h = &f->h;
  char v[64];
  MPI_Info_set(info, "romio_cb_read", switch_name(h->cb_read));
  MPI_Info_set(info, "romio_cb_write", switch_name(h->cb_write));
  MPI_Info_set(info, "romio_ds_read", switch_name(h->ds_read));
  MPI_Info_set(info, "romio_ds_write", switch_name(h->ds_write));
  snprintf(v, sizeof v, "%lld", (long long)h->cb_buffer_size);
  MPI_Info_set(info, "cb_buffer_size", v);
  snprintf(v, sizeof v, "%d", h->cb_nodes);
  MPI_Info_set(info, "cb_nodes", v);
  MPI_Info_set(info, "cb_config_list", h->cb_config_list);
  snprintf(v, sizeof v, "%lld", (long long)h->ind_rd_buffer_size);
  MPI_Info_set(info, "ind_rd_buffer_size", v);
  snprintf(v, sizeof v, "%lld", (long long)h->ind_wr_buffer_size);
  MPI_Info_set(info, "ind_wr_buffer_size", v);
  /* the aggregators, as ranks of the file's communicator */
  char list[1024];
  size_t at = 0;
  list[0] = 0;
  for (int a = 0; a < h->naggr && at + 12 < sizeof list; a++)
    at += (size_t)snprintf(list + at, sizeof list - at, a ? " %d" : "%d", h->aggr[a]);
  MPI_Info_set(info, "romio_aggregator_list", list);
}
