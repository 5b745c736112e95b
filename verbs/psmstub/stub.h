/*
 * Stand-ins for the PSM libraries that Debian's libfabric is linked
 * against (libpsm_infinipath.so.1 and libpsm2.so.2).
 *
 * Why: each real library's constructor calibrates the CPU clock at load
 * time by sleeping in 125 us steps for 100 ms, so every process that
 * loads libfabric pays some 200 ms before its first call, and Ferry uses
 * neither PSM provider. Ferry loads libfabric itself (verbs/load.c); when
 * neither real library is in the process yet, it first loads these, whose
 * sonames match, and the dynamic linker takes them for libfabric's
 * dependencies. FERRY_PSM_STUBS=off loads the real ones.
 *
 * Every symbol libfabric imports from the real library must be defined
 * here, since libfabric is bound at load (BIND_NOW): a newer libfabric
 * that needs one more fails to load over these, and Ferry then unloads
 * them and loads the real libraries (verbs/load.c).
 */
#ifndef FERRY_PSM_STUB_H
#define FERRY_PSM_STUB_H

#define STUB_EXPORT __attribute__((visibility("default")))
#define STUB_FAIL(name, code) \
	STUB_EXPORT int name(void) { return code; }
#define STUB_MESSAGE(lib) \
	lib " is not loaded in this process: Ferry stands in for it " \
	"(FERRY_PSM_STUBS=off loads the real library)"

#endif
