# Spack recipe for Ferry. Use it from this repository:
#   spack repo add packaging/spack
#   spack install ferry +mpiio fabrics=tcp,rxm,shm,verbs ^mpich
# Variants map to the CMake options: +mpiio is FERRY_MPIIO (with the
# spec's MPI as FERRY_MPI_C_COMPILER), fabrics= selects the libfabric
# providers Ferry can use at run time (a server's or client's `provider`).

from spack.package import *


class Ferry(CMakePackage):
    """Ferry: parallel file I/O over RDMA for HPC. I/O servers (ferryd),
    the ferry CLI, the C library libferry and an MPI-IO library."""

    homepage = "https://github.com/ferry-hpc/ferry"
    git = "https://github.com/ferry-hpc/ferry.git"

    version("main", branch="main")

    variant("mpiio", default=True, description="Build the MPI-IO library (libferry-mpiio) for the spec's MPI")
    variant(
        "fabrics",
        values=("tcp", "rxm", "shm", "verbs", "efa", "cxi", "psm3", "opx"),
        default="tcp,rxm,shm",
        multi=True,
        description="libfabric providers to build libfabric with (tcp needs rxm: Ferry uses tcp;ofi_rxm)",
    )

    depends_on("c", type="build")
    depends_on("cmake@3.20:", type="build")
    depends_on("go@1.26:", type="build")
    depends_on("python@3:", type="build", when="+mpiio")  # generates the MPI-IO entry points
    depends_on("pkgconfig", type="build")
    depends_on("libfabric@1.17:")
    for _f in ("tcp", "rxm", "shm", "verbs", "efa", "cxi", "psm3", "opx"):
        depends_on(f"libfabric fabrics={_f}", when=f"fabrics={_f}")
    depends_on("mpi", when="+mpiio")

    requires("fabrics=rxm", when="fabrics=tcp", msg="Ferry uses tcp through ofi_rxm")

    def setup_build_environment(self, env):
        # go build needs a writable cache; the module proxy serves the
        # Go dependencies (go.sum pins them).
        env.set("GOPATH", join_path(self.stage.path, "go"))
        env.set("GOCACHE", join_path(self.stage.path, "go-cache"))
        env.set("CGO_ENABLED", "1")
        # verbs loads libfabric at run time (dlopen) rather than linking
        # it: the headers come from the spec's prefix, and the rpath lets
        # dlopen("libfabric.so.1") from Ferry's code find the same library.
        libfabric = self.spec["libfabric"].prefix
        env.append_flags("CGO_CFLAGS", "-I" + libfabric.include)
        env.append_flags("CGO_LDFLAGS", "-Wl,-rpath," + libfabric.lib)

    def cmake_args(self):
        args = [
            self.define("BUILD_TESTING", False),
            self.define_from_variant("FERRY_MPIIO", "mpiio"),
        ]
        if self.spec.satisfies("+mpiio"):
            args += [
                self.define("FERRY_MPI_C_COMPILER", self.spec["mpi"].mpicc),
                self.define("FERRY_MPIIO_SITE_NAME", self.spec["mpi"].name),
            ]
        return args
