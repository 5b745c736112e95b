// Loading libfabric at run time. Linking it would load its dependencies
// at process start, and Debian's libfabric depends on libpsm_infinipath
// and libpsm2, whose constructors each spend 100 ms calibrating the clock
// (see psmstub/stub.h). Loading it here lets stand-ins for those two be
// loaded first; see doc.go, "Loading libfabric".
#define _GNU_SOURCE
#include "fabric_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// The symbol versions a program linked against this header gets (what
// -lfabric binds to): the fi_info calls change ABI when struct fi_info
// grows, so they must match the header the structs were compiled with.
#if FI_MAJOR_VERSION >= 2
#define FVB_INFO_ABI "FABRIC_1.8"
#elif FI_MAJOR_VERSION == 1 && FI_MINOR_VERSION >= 20
#define FVB_INFO_ABI "FABRIC_1.7"
#elif FI_MAJOR_VERSION == 1 && FI_MINOR_VERSION >= 9
#define FVB_INFO_ABI "FABRIC_1.3"
#else
#error "libfabric headers older than 1.9 are not supported"
#endif

static struct {
	void *lib;
	int stubbed;
	__typeof__(fvb_fi_getinfo) *getinfo;
	__typeof__(fvb_fi_freeinfo) *freeinfo;
	__typeof__(fvb_fi_dupinfo) *dupinfo;
	__typeof__(fvb_fi_fabric) *fabric;
	__typeof__(fvb_fi_strerror) *strerror;
	__typeof__(fvb_fi_version) *version;
} fab;
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

static const struct {
	const char *name, *version;
	size_t off;
} entry[] = {
	{"fi_getinfo", FVB_INFO_ABI, offsetof(__typeof__(fab), getinfo)},
	{"fi_freeinfo", FVB_INFO_ABI, offsetof(__typeof__(fab), freeinfo)},
	{"fi_dupinfo", FVB_INFO_ABI, offsetof(__typeof__(fab), dupinfo)},
	{"fi_fabric", "FABRIC_1.1", offsetof(__typeof__(fab), fabric)},
	{"fi_strerror", "FABRIC_1.0", offsetof(__typeof__(fab), strerror)},
	{"fi_version", "FABRIC_1.0", offsetof(__typeof__(fab), version)},
};

static const struct {
	const char *soname;
	int bit;
} stub[] = {
	{"libpsm2.so.2", FVB_STUB_PSM2},
	{"libpsm_infinipath.so.1", FVB_STUB_PSM},
};

// note_add appends msg to the note, "; "-separated, as far as it fits.
static void note_add(char *note, size_t len, const char *msg) {
	size_t n = strlen(note);
	if (n + 1 < len)
		snprintf(note + n, len - n, "%s%s", n ? "; " : "", msg);
}

// load_stubs loads the stand-ins found in dir for libraries not in the
// process yet and returns their FVB_STUB_* bits; handles are kept in held.
static int load_stubs(const char *dir, void **held, char *note, size_t notelen) {
	int bits = 0;
	for (size_t i = 0; i < sizeof(stub) / sizeof(stub[0]); i++) {
		char msg[FERRY_ERRLEN];
		void *h = dlopen(stub[i].soname, RTLD_NOW | RTLD_NOLOAD);
		if (h) { // the real one (or ours) is here already: use it
			dlclose(h);
			snprintf(msg, sizeof(msg), "%s already loaded", stub[i].soname);
			note_add(note, notelen, msg);
			continue;
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, stub[i].soname);
		held[i] = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!held[i]) {
			snprintf(msg, sizeof(msg), "stand-in %s: %s", stub[i].soname, dlerror());
			note_add(note, notelen, msg);
			continue;
		}
		bits |= stub[i].bit;
	}
	return bits;
}

// Constructors of the libraries loaded here may install signal handlers
// over the Go runtime's: libinfinipath (the real libpsm_infinipath's
// dependency) takes SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGINT and SIGTERM
// and exits with status 1 on them, so a server stopped with SIGTERM would
// not shut down. Linked at build time they ran before the runtime set its
// handlers; loaded later, every handler is saved before and restored after.
static struct sigaction load_sa[NSIG];

static void save_all_signals(void) {
	for (int s = 1; s < NSIG; s++)
		sigaction(s, NULL, &load_sa[s]);
}

static void restore_all_signals(void) {
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &load_sa[s], NULL); // glibc's own signals: EINVAL, ignored
}

static int load_locked(const char *stubdir, int *stubbed, char *note, size_t notelen,
		       char *errbuf, size_t errlen);

int fvb_load(const char *stubdir, int *stubbed, char *note, size_t notelen,
	     char *errbuf, size_t errlen) {
	pthread_mutex_lock(&load_mu);
	if (fab.lib) {
		*stubbed = fab.stubbed;
		pthread_mutex_unlock(&load_mu);
		return 0;
	}
	save_all_signals();
	int rc = load_locked(stubdir, stubbed, note, notelen, errbuf, errlen);
	restore_all_signals();
	pthread_mutex_unlock(&load_mu);
	return rc;
}

static int load_locked(const char *stubdir, int *stubbed, char *note, size_t notelen,
		       char *errbuf, size_t errlen) {
	note[0] = 0;
	int bits = 0;
	void *held[sizeof(stub) / sizeof(stub[0])] = {0};
	void *lib = dlopen("libfabric.so.1", RTLD_NOW | RTLD_NOLOAD);
	int preloaded = lib != NULL;
	if (lib) {
		if (stubdir && *stubdir)
			note_add(note, notelen, "libfabric.so.1 already loaded");
	} else if (stubdir && *stubdir) {
		bits = load_stubs(stubdir, held, note, notelen);
		lib = dlopen("libfabric.so.1", RTLD_NOW | RTLD_GLOBAL);
		if (!lib && bits) {
			// Most likely a libfabric that needs a symbol the
			// stand-ins lack: load it with the real libraries.
			char msg[FERRY_ERRLEN];
			snprintf(msg, sizeof(msg), "libfabric.so.1 would not load over the stand-ins: %s",
				 dlerror());
			note_add(note, notelen, msg);
			for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
				if (held[i])
					dlclose(held[i]);
			bits = 0;
		}
	}
	if (!lib)
		lib = dlopen("libfabric.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!lib) {
		snprintf(errbuf, errlen, "load libfabric.so.1: %s", dlerror());
		return -1;
	}
	// A libfabric loaded before (by MPI, say) may have initialized
	// already, for users of its own: it is left as it is.
	if (!preloaded) {
		const char *scan = getenv("FERRY_LIBFABRIC_KALLSYMS");
		if (!scan || strcasecmp(scan, "on") != 0)
			fvb_guard_kallsyms(lib);
	}
	for (size_t i = 0; i < sizeof(entry) / sizeof(entry[0]); i++) {
		void *f = dlvsym(lib, entry[i].name, entry[i].version);
		if (!f) {
			snprintf(errbuf, errlen, "libfabric.so.1 has no %s@%s (built against libfabric %d.%d headers)",
				 entry[i].name, entry[i].version, FI_MAJOR_VERSION, FI_MINOR_VERSION);
			memset(&fab, 0, sizeof(fab));
			return -1;
		}
		memcpy((char *)&fab + entry[i].off, &f, sizeof(f));
	}
	fab.stubbed = bits;
	fab.lib = lib; // last: fab.lib set means every pointer is
	*stubbed = bits;
	return 0;
}

// fvb_abi_version names the version load.c binds an entry point at (tests).
const char *fvb_abi_version(const char *name) {
	for (size_t i = 0; i < sizeof(entry) / sizeof(entry[0]); i++)
		if (strcmp(entry[i].name, name) == 0)
			return entry[i].version;
	return "";
}

const char *fvb_self_object(void) {
	Dl_info di;
	if (dladdr((void *)fvb_self_object, &di) && di.dli_fname)
		return di.dli_fname;
	return "";
}

// The wrappers the renamed declarations in fabric_internal.h resolve to.
// Every caller has been through fvb_load (verbs.loadFabric) first; the
// checks keep a stray call an error rather than a crash.
int fvb_fi_getinfo(uint32_t version, const char *node, const char *service,
		   uint64_t flags, const struct fi_info *hints, struct fi_info **info) {
	if (!fab.getinfo)
		return -FI_ENOSYS;
	int rc = fab.getinfo(version, node, service, flags, hints, info);
	fvb_unguard_kallsyms(); // libfabric has initialized
	return rc;
}

void fvb_fi_freeinfo(struct fi_info *info) {
	if (fab.freeinfo)
		fab.freeinfo(info);
}

struct fi_info *fvb_fi_dupinfo(const struct fi_info *info) {
	return fab.dupinfo ? fab.dupinfo(info) : NULL;
}

int fvb_fi_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context) {
	if (!fab.fabric)
		return -FI_ENOSYS;
	return fab.fabric(attr, fabric, context);
}

const char *fvb_fi_strerror(int errnum) {
	return fab.strerror ? fab.strerror(errnum) : strerror(errnum);
}

uint32_t fvb_fi_version(void) { return fab.version ? fab.version() : 0; }
