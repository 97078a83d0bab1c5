# vqrt: one entry point for users, developers and CI.
#   make demo    build vqrt and run the main job on the bundled model and images
#   make test    unit and conformance tests, then a bounded fuzzing run
SWIFT ?= swift
FUZZ_SECONDS ?= 120
# A fixed seed and input count: CI's fuzzing is reproducible (tools/fuzz 600 for a longer random exploration).
FUZZ_RUNS ?= 150000

.PHONY: deps build demo test unit-tests fuzz clean

deps:
	@tools/install-deps

build: deps
	$(SWIFT) build -c release --product vqrt

demo: build
	.build/release/vqrt demo

unit-tests: deps
	$(SWIFT) test -c release

fuzz: deps
	tools/fuzz $(FUZZ_SECONDS) $(FUZZ_RUNS)

test: unit-tests fuzz

clean:
	rm -rf .build .build-*
