# vqrt: one entry point for users, developers and CI.
#   make demo    build vqrt and run the main job on the bundled model and images
#   make test    unit and conformance tests (the Slurm example included where Slurm can start), the fixtures that
#                regenerate without PyTorch, the portable binary's instruction set, then a bounded fuzzing run
#   make dependency-test   the VQRT library as another package's versioned dependency (a second, debug build of
#                the whole library, ~4-6 min: kept out of make test so that CI stays under its 30 minutes)
#   make native  a vqrt for this machine's own instruction set (.build-native/release/vqrt); the default build is
#                portable x86-64-v3 (AVX2 + FMA), one binary for every node of a cluster
# Every build goes through tools/swift, which passes the instruction-set flags (Package.swift has none: SwiftPM
# refuses unsafe flags in a package used as a dependency).
SWIFT ?= swift
export SWIFT
# A fixed seed and input count, no time limit: CI's fuzzing tries the same inputs on any machine, sized to keep the
# whole of make test under CI's 30 minutes (tools/fuzz 600
# for a longer random exploration).
FUZZ_RUNS ?= 60000

.PHONY: deps build native demo test unit-tests fixtures-check isa-test dependency-test fuzz clean

deps:
	@tools/install-deps

build: deps
	tools/swift build -c release --product vqrt

native: deps
	VQRT_MARCH=native tools/swift build -c release --product vqrt
	@echo "built .build-native/release/vqrt for this machine's CPU (it may not run on other CPUs)"

demo: build
	.build/release/vqrt demo

unit-tests: deps
	tools/swift test -c release

# The portable binary holds no AVX-512 instruction and its own kernels are AVX2 + FMA code. It checks the vqrt that
# unit-tests (or build) left in .build/release: `swift build` after `swift test` would compile everything again.
isa-test:
	tools/check-isa

# By hand and before a release (not in make test: see above).
dependency-test: deps
	tools/check-dependency

# Regenerates Fixtures/pickle and Fixtures/loader/hostile (standard library only, seconds) and compares the bytes;
# the PyTorch-made sets are checked by hand: .venv-tools/bin/python tools/check_fixtures.py (see its docstring).
fixtures-check: deps
	python3 tools/check_fixtures.py --ci

fuzz: deps
	tools/fuzz --runs $(FUZZ_RUNS)

test: unit-tests fixtures-check isa-test fuzz

clean:
	rm -rf .build .build-*
