# nibble — build, test, sanitize, fuzz.
#
#   make               libnibble.a, libnibble.so, tools (build/bin/nb-*)
#   make test          build and run every test; last line "N passed, N failed"
#   make asan          the same tests under AddressSanitizer + UBSan (build-asan/)
#   make fuzz          libFuzzer over the GGUF parser (clang; FUZZ_TIME seconds)
#   make OPENMP=0      without OpenMP        make SIMD=0   scalar kernels only
#   make CC=clang      with clang

CC      ?= cc
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
ifeq ($(SIMD),1)
ARCH_FLAGS ?= -march=native
ALL_CFLAGS += $(ARCH_FLAGS)
else
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

.PHONY: all lib tools examples tests test asan fuzz clean
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
	ar rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(LDLIBS)

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

# libFuzzer: clang only; the parser sources are compiled straight in.
FUZZ_DIR := $(BUILD)/fuzz
fuzz:
	@mkdir -p $(FUZZ_DIR)/corpus
	clang -std=c11 -O1 -g -Iinclude -Ilib -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_gguf.c $(LIB_SRC) -o $(FUZZ_DIR)/fuzz_gguf -lm
	clang -std=c11 -O1 -g -Iinclude -Ilib tests/fuzz/make_seeds.c $(LIB_SRC) \
	  -o $(FUZZ_DIR)/make_seeds -lm
	$(FUZZ_DIR)/make_seeds $(FUZZ_DIR)/seeds
	$(FUZZ_DIR)/fuzz_gguf -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_FLAGS) $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(TOOL_COMMON_OBJ:.o=.d) $(EXAMPLE_SRC:%.c=$(BUILD)/obj/%.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d)
