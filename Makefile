# minitrain: `make` builds ./train, the tools (bin/) and the test runner;
# `make test` runs the doctest suite; `make bench` prints the CPU benchmark.
# The CUDA backend (cuda/*.cu) is built when nvcc is on PATH.

CXX      ?= g++
CXXFLAGS ?= -O3 -march=native
# -fno-math-errno lets loops with sqrt vectorise (nothing here reads errno).
CXXFLAGS += -std=c++17 -fopenmp -fno-math-errno -Wall -Wextra -MMD -MP -Isrc
LDFLAGS  += -fopenmp
# ICU: Unicode character classes for the GPT-2 pre-tokenizer.
LDLIBS   += -licuuc
# OpenSSL's libcrypto: the sha256 of data files in run.json.
LDLIBS   += -lcrypto

LIB_SRC  := $(filter-out src/train.cpp,$(wildcard src/*.cpp src/*/*.cpp))
TOOL_SRC := $(wildcard tools/*.cpp)
TEST_SRC := $(wildcard tests/*.cpp)
CUDA_SRC := $(wildcard cuda/*.cu)

NVCC     ?= $(shell command -v nvcc 2>/dev/null)
ifneq ($(NVCC),)
ifneq ($(CUDA_SRC),)
# sm_90 where the GPU is a Hopper; otherwise sm_80 code plus compute_80 PTX,
# which any newer GPU compiles at load time.
CUDA_ARCH ?= $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | grep -q '^9.0' \
               && echo '-gencode arch=compute_90,code=sm_90' || echo '-gencode arch=compute_80,code=[sm_80,compute_80]')
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler=-Wall,-Wextra,-fPIC -MMD -MP -Isrc
CXXFLAGS += -DMT_CUDA
LDLIBS   += -ldl
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
# The CUDA backend is a plugin the binaries load on first use (src/backend.cpp);
# its rpath finds cuBLAS and the runtime without LD_LIBRARY_PATH.
CUDA_PLUGIN := bin/libminitrain_cuda.so
CUDA_OBJ := $(patsubst %.cu,build/%.o,$(CUDA_SRC))
endif
endif
# tests/conformance.cpp is a program of its own (bin/conformance), not part of bin/tests.
TEST_SRC := $(filter-out tests/conformance.cpp,$(TEST_SRC))

LIB_OBJ  := $(patsubst %.cpp,build/%.o,$(LIB_SRC))
TOOLS    := $(patsubst tools/%.cpp,bin/%,$(TOOL_SRC))
TESTS    := bin/tests

all: train $(TOOLS) $(TESTS) $(CUDA_PLUGIN)

build/libminitrain.a: $(LIB_OBJ)
	ar rcs $@ $^

# Objects depend on the flags they were built with, so finding nvcc (which adds
# -DMT_CUDA) or changing CXXFLAGS rebuilds them rather than mixing old and new.
FLAGS := $(CXX) $(CXXFLAGS) | $(NVCC) $(NVCCFLAGS)
build/flags: FORCE
	@mkdir -p build
	@echo '$(FLAGS)' | cmp -s - $@ || echo '$(FLAGS)' > $@

# run.json names the commit a run was built from; only the object that holds
# it rebuilds when the commit changes.
COMMIT := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
build/commit: FORCE
	@mkdir -p build
	@echo '$(COMMIT)' | cmp -s - $@ || echo '$(COMMIT)' > $@
build/src/train/run_record.o: build/commit
build/src/train/run_record.o: CXXFLAGS += -DMINITRAIN_COMMIT='"$(COMMIT)"'

build/%.o: %.cpp build/flags
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

build/%.o: %.cu build/flags
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(CUDA_PLUGIN): $(CUDA_OBJ)
	@mkdir -p bin
	$(NVCC) -shared -o $@ $^ -L$(CUDA_HOME)/lib64 -Xlinker -rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart

train: build/src/train.o build/libminitrain.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/%: build/tools/%.o build/libminitrain.a
	@mkdir -p bin
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/tests: $(patsubst %.cpp,build/%.o,$(TEST_SRC)) build/libminitrain.a
	@mkdir -p bin
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The whole suite on 2 threads (the CI machine's cores), threads sleeping rather than spinning at
# barriers (other processes may share the cores); doctest filters pass through: make test ARGS='-tc=*layernorm*'
test: all check-layers
	OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive ./bin/tests $(ARGS)

# Lower layers of src/ never include higher ones (the order is in the script).
check-layers:
	tools/check_layers.sh

bench: bin/bench
	OMP_NUM_THREADS=2 ./bin/bench --torch

# The backend conformance suite: every kernel against the CPU, then GPT-2 on the device.
all: bin/conformance

bin/conformance: build/tests/conformance.o build/libminitrain.a
	@mkdir -p bin
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-gpu: bin/conformance $(CUDA_PLUGIN)
	./bin/conformance --device cuda

clean:
	rm -rf build bin train

FORCE:
.PHONY: all test check-layers bench clean test-gpu FORCE
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)

# ---- fuzzing: tests/fuzz/Makefile, on its own -----------------------------------------------------
# make fuzz [FUZZ_SECONDS=60]: a libFuzzer target for every file reader, built
# by clang++ with ASan and UBSan into build-fuzz/ (build/ is not touched),
# seeded by ./train and the tools, each run FUZZ_SECONDS; any crash fails.
# make -j2 fuzz runs two at a time. See tests/fuzz/README.md.
fuzz: train $(TOOLS)
	$(MAKE) -f tests/fuzz/Makefile fuzz-run

.PHONY: fuzz
