// Keeping libfabric's verbs provider from scanning /proc/kallsyms.
//
// libfabric's first fi_getinfo runs the init function of every built-in
// provider, whichever one was asked for. The verbs provider's (1.17:
// vrb_os_mem_support in VERBS_INI) reads the whole of /proc/kallsyms twice,
// looking for two kernel symbols that say whether GPU memory can be
// registered through peer memory or dma-buf. The kernel formats each of
// its 100k+ symbols on the read: about 50 ms a scan, 100 of the 150 ms of a
// fresh process's first `ferry ping`. Ferry never registers GPU memory,
// so the answer is of no use to it.
//
// While libfabric initializes, the fopen it imports is pointed at
// guarded_fopen, which refuses /proc/kallsyms (EACCES, as where the file is
// unreadable: verbs then assumes neither kind of GPU registration) and
// opens everything else as fopen does. The slot is put back after the
// first fi_getinfo returns. Only libfabric's slot changes: no other code in
// the process, nor libfabric after its init, sees a different fopen. See
// doc.go, "Loading libfabric".
#define _GNU_SOURCE
#include "fabric.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define FVB_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define FVB_R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define FVB_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define FVB_R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

#define GUARD_MAX_SLOTS 8

static struct {
	pthread_mutex_t mu;
	int active; // slots point at guarded_fopen
	int nslots;
	void **slot[GUARD_MAX_SLOTS];
	void *orig[GUARD_MAX_SLOTS];
	unsigned long refused;
} guard = {.mu = PTHREAD_MUTEX_INITIALIZER};

static FILE *guarded_fopen(const char *path, const char *mode) {
	if (path && strcmp(path, "/proc/kallsyms") == 0) {
		__atomic_add_fetch(&guard.refused, 1, __ATOMIC_RELAXED);
		errno = EACCES;
		return NULL;
	}
	return fopen(path, mode);
}

// page_prot is the protection of the mapping that holds addr, from
// /proc/self/maps (-1 if not found). After relocation the loader makes a
// library's RELRO part, where BIND_NOW puts the GOT, read-only.
static int page_prot(const void *addr) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[512];
	int prot = -1;
	unsigned long a = (unsigned long)addr;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 || a < lo || a >= hi)
			continue;
		prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		       (perms[2] == 'x' ? PROT_EXEC : 0);
		break;
	}
	fclose(f);
	return prot;
}

// set_slot writes v into *slot, making its page writable for the write if
// it is not.
static int set_slot(void **slot, void *v) {
	int prot = page_prot(slot);
	if (prot < 0)
		return -1;
	if (prot & PROT_WRITE) {
		__atomic_store_n(slot, v, __ATOMIC_RELEASE);
		return 0;
	}
	long pg = sysconf(_SC_PAGESIZE);
	void *page = (void *)((unsigned long)slot & ~(unsigned long)(pg - 1));
	if (mprotect(page, pg, prot | PROT_WRITE) != 0)
		return -1;
	__atomic_store_n(slot, v, __ATOMIC_RELEASE);
	mprotect(page, pg, prot);
	return 0;
}

// dyn_ptr is a dynamic-section address: glibc relocates them in place on
// most architectures, not on all.
static unsigned long dyn_ptr(const struct link_map *lm, ElfW(Addr) p) {
	return p < lm->l_addr ? lm->l_addr + p : p;
}

int fvb_guard_kallsyms(void *lib) {
#ifndef FVB_R_JUMP_SLOT
	(void)lib;
	return 0;
#else
	struct link_map *lm = NULL;
	if (dlinfo(lib, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_ld)
		return 0;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const ElfW(Rela) *tab[2] = {NULL, NULL};
	size_t tabsz[2] = {0, 0};
	long pltrel = DT_RELA;
	for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_STRTAB: strtab = (const char *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_JMPREL: tab[0] = (const ElfW(Rela) *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_PLTRELSZ: tabsz[0] = d->d_un.d_val; break;
		case DT_PLTREL: pltrel = d->d_un.d_val; break;
		case DT_RELA: tab[1] = (const ElfW(Rela) *)dyn_ptr(lm, d->d_un.d_ptr); break;
		case DT_RELASZ: tabsz[1] = d->d_un.d_val; break;
		}
	}
	if (!symtab || !strtab || pltrel != DT_RELA)
		return 0;
	pthread_mutex_lock(&guard.mu);
	for (int t = 0; t < 2; t++) {
		if (!tab[t])
			continue;
		for (size_t i = 0; i < tabsz[t] / sizeof(ElfW(Rela)); i++) {
			const ElfW(Rela) *r = &tab[t][i];
			unsigned long type = ELF64_R_TYPE(r->r_info);
			if (type != FVB_R_JUMP_SLOT && type != FVB_R_GLOB_DAT)
				continue;
			const char *name = strtab + symtab[ELF64_R_SYM(r->r_info)].st_name;
			if (strcmp(name, "fopen") != 0 && strcmp(name, "fopen64") != 0)
				continue;
			void **slot = (void **)(lm->l_addr + r->r_offset);
			if (guard.nslots == GUARD_MAX_SLOTS)
				break;
			void *orig = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
			if (set_slot(slot, (void *)guarded_fopen) != 0)
				continue;
			guard.slot[guard.nslots] = slot;
			guard.orig[guard.nslots] = orig;
			guard.nslots++;
		}
	}
	guard.active = guard.nslots > 0;
	int n = guard.nslots;
	pthread_mutex_unlock(&guard.mu);
	return n;
#endif
}

void fvb_unguard_kallsyms(void) {
	if (!__atomic_load_n(&guard.active, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&guard.mu);
	if (guard.active)
		for (int i = 0; i < guard.nslots; i++)
			set_slot(guard.slot[i], guard.orig[i]);
	guard.active = 0;
	pthread_mutex_unlock(&guard.mu);
}

unsigned long fvb_kallsyms_refused(void) {
	return __atomic_load_n(&guard.refused, __ATOMIC_RELAXED);
}

int fvb_kallsyms_guarded(void) {
	return __atomic_load_n(&guard.active, __ATOMIC_ACQUIRE);
}

// fvb_fopen_slots_restored reports whether every slot patched holds its
// original value again (tests).
int fvb_fopen_slots_restored(void) {
	pthread_mutex_lock(&guard.mu);
	int ok = 1;
	for (int i = 0; i < guard.nslots; i++)
		if (__atomic_load_n(guard.slot[i], __ATOMIC_ACQUIRE) != guard.orig[i])
			ok = 0;
	pthread_mutex_unlock(&guard.mu);
	return ok;
}
