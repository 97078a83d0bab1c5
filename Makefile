# vqrt: one entry point for users, developers and CI.
#   make demo    build vqrt and run the main job on the bundled model and images
#   make test    unit and conformance tests, the fixtures that regenerate without PyTorch, a bounded fuzzing run
SWIFT ?= swift
# A fixed seed and input count, no time limit: CI's fuzzing tries the same inputs on any machine (about 3.5 min on
# 2 shared cores; tools/fuzz 600 for a longer random exploration).
FUZZ_RUNS ?= 150000

.PHONY: deps build demo test unit-tests fixtures-check fuzz clean

deps:
	@tools/install-deps

build: deps
	$(SWIFT) build -c release --product vqrt

demo: build
	.build/release/vqrt demo

unit-tests: deps
	$(SWIFT) test -c release

# Regenerates Fixtures/pickle and Fixtures/loader/hostile (standard library only, seconds) and compares the bytes;
# the PyTorch-made sets are checked by hand: .venv-tools/bin/python tools/check_fixtures.py (see its docstring).
fixtures-check: deps
	python3 tools/check_fixtures.py --ci

fuzz: deps
	tools/fuzz --runs $(FUZZ_RUNS)

test: unit-tests fixtures-check fuzz

clean:
	rm -rf .build .build-*
