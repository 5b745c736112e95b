# Thin targets: each calls one script, so the README, CI and a user run
# the same thing.
.PHONY: all setup build test demo bench bench-mpiio bench-mount soak clean
all: build
setup:
	scripts/setup.sh
build:
	scripts/build.sh
test:
	scripts/test.sh
demo:
	scripts/demo.sh
bench:
	scripts/bench.sh
bench-mpiio:
	scripts/bench_mpiio.sh
bench-mount:
	scripts/bench_mount.sh
soak:
	scripts/soak.sh
clean:
	rm -rf build
