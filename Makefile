# minitrain: `make` builds ./train, the tools (bin/) and the test runner;
# `make test` runs the doctest suite; `make bench` prints the CPU benchmark.
# The CUDA backend (cuda/*.cu) is built when nvcc is on PATH. `make sanitize`
# runs the suite under AddressSanitizer and UBSan, in a tree of its own.

CXX      ?= g++
CXXFLAGS ?= -O3 -march=native
# -fno-math-errno lets loops with sqrt vectorise (nothing here reads errno).
CXXFLAGS += -std=c++17 -fopenmp -fno-math-errno -Wall -Wextra -MMD -MP -Isrc
LDFLAGS  += -fopenmp
# ICU: Unicode character classes for the GPT-2 pre-tokenizer.
LDLIBS   += -licuuc
# OpenSSL's libcrypto: the sha256 of data files in run.json.
LDLIBS   += -lcrypto

# Objects go under $(BUILD)/, the programs to $(OUT)/train and $(OUT)/bin/; `make
# sanitize` points both into build-san/ and adds its flags through SAN.
BUILD    ?= build
OUT      ?= .
CXXFLAGS += $(SAN)
LDFLAGS  += $(SAN)

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
CUDA_PLUGIN := $(OUT)/bin/libminitrain_cuda.so
CUDA_OBJ := $(patsubst %.cu,$(BUILD)/%.o,$(CUDA_SRC))
endif
endif
# tests/conformance.cpp is a program of its own (bin/conformance), not part of bin/tests.
TEST_SRC := $(filter-out tests/conformance.cpp,$(TEST_SRC))

LIB      := $(BUILD)/libminitrain.a
LIB_OBJ  := $(patsubst %.cpp,$(BUILD)/%.o,$(LIB_SRC))
TOOLS    := $(patsubst tools/%.cpp,$(OUT)/bin/%,$(TOOL_SRC))
TESTS    := $(OUT)/bin/tests

# What the test suite runs: itself, ./train and the tools.
programs: $(OUT)/train $(TOOLS) $(TESTS)
all: programs $(CUDA_PLUGIN)

$(LIB): $(LIB_OBJ)
	ar rcs $@ $^

# Objects depend on the flags they were built with, so finding nvcc (which adds
# -DMT_CUDA) or changing CXXFLAGS rebuilds them rather than mixing old and new.
FLAGS := $(CXX) $(CXXFLAGS) | $(NVCC) $(NVCCFLAGS)
$(BUILD)/flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(FLAGS)' | cmp -s - $@ || echo '$(FLAGS)' > $@

# run.json names the commit a run was built from; only the object that holds
# it rebuilds when the commit changes.
COMMIT := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/commit: FORCE
	@mkdir -p $(BUILD)
	@echo '$(COMMIT)' | cmp -s - $@ || echo '$(COMMIT)' > $@
$(BUILD)/src/train/run_record.o: $(BUILD)/commit
$(BUILD)/src/train/run_record.o: CXXFLAGS += -DMINITRAIN_COMMIT='"$(COMMIT)"'

$(BUILD)/%.o: %.cpp $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(CUDA_PLUGIN): $(CUDA_OBJ)
	@mkdir -p $(dir $@)
	$(NVCC) -shared -o $@ $^ -L$(CUDA_HOME)/lib64 -Xlinker -rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart

$(OUT)/train: $(BUILD)/src/train.o $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/bin/%: $(BUILD)/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TESTS): $(patsubst %.cpp,$(BUILD)/%.o,$(TEST_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The whole suite on 2 threads (the CI machine's cores), threads sleeping rather than spinning at
# barriers (other processes may share the cores); doctest filters pass through: make test ARGS='-tc=*layernorm*'
test: all check-layers
	OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive ./bin/tests $(ARGS)

# The suite under AddressSanitizer (leaks included) and UBSan, any undefined behaviour fatal and
# float-to-int conversions out of range counted as such. It builds a second tree without CUDA:
# objects in build-san/build/, programs in build-san/train and build-san/bin/, so the normal
# build is left alone. The tests name ./train, bin/ and tests/fixtures/ from where they run, so
# they run in build-san/ with tests/ and data/ linked in. A report ends its process with status 86, which
# no test expects, so one in ./train or a tool (run by a test, which reads its stderr) fails that
# test; ASan's reports are also kept in build-san/reports/ (GCC's UBSan writes only to stderr),
# and any there fails the target. allocator_may_return_null: an allocation too large to
# serve returns null, as it does without ASan, so that the test of that error can run (its
# log then holds a WARNING, which is not a report: reports say ERROR).
# -Wno-maybe-uninitialized: GCC's warning misfires in libstdc++'s <regex> under -fsanitize.
SAN_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow \
             -fno-omit-frame-pointer -g -O1 -Wno-maybe-uninitialized
SAN_DIR   := build-san
sanitize:
	$(MAKE) BUILD=$(SAN_DIR)/build OUT=$(SAN_DIR) NVCC= SAN='$(SAN_FLAGS)' programs
	ln -sfn ../tests $(SAN_DIR)/tests && ln -sfn ../data $(SAN_DIR)/data
	rm -rf $(SAN_DIR)/reports && mkdir -p $(SAN_DIR)/reports
	cd $(SAN_DIR) && MINITRAIN_DATA=$${MINITRAIN_DATA:-$(CURDIR)/../shared/data} \
	    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive \
	    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:exitcode=86:log_path=$(CURDIR)/$(SAN_DIR)/reports/asan \
	    UBSAN_OPTIONS=print_stacktrace=1:exitcode=86 \
	    ./bin/tests $(ARGS); status=$$?; \
	    reports=$$(grep -l 'ERROR:' reports/* 2>/dev/null); \
	    if [ -n "$$reports" ]; then cat $$reports; echo "sanitize: reports in $(SAN_DIR)/reports"; exit 1; fi; \
	    exit $$status

# Lower layers of src/ never include higher ones (the order is in the script).
check-layers:
	tools/check_layers.sh

bench: bin/bench
	OMP_NUM_THREADS=2 ./bin/bench --torch

# The backend conformance suite: every kernel against the CPU, then GPT-2 on the device.
all: $(OUT)/bin/conformance

$(OUT)/bin/conformance: $(BUILD)/tests/conformance.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-gpu: bin/conformance $(CUDA_PLUGIN)
	./bin/conformance --device cuda

clean:
	rm -rf build bin train build-san build-fuzz

FORCE:
.PHONY: all programs test check-layers bench clean test-gpu sanitize FORCE
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- fuzzing: tests/fuzz/Makefile, on its own -----------------------------------------------------
# make fuzz [FUZZ_SECONDS=60]: a libFuzzer target for every file reader, built
# by clang++ with ASan and UBSan into build-fuzz/ (build/ is not touched),
# seeded by ./train and the tools, each run FUZZ_SECONDS; any crash fails.
# make -j2 fuzz runs two at a time. See tests/fuzz/README.md.
fuzz: train $(TOOLS)
	$(MAKE) -f tests/fuzz/Makefile fuzz-run

.PHONY: fuzz
