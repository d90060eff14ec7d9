// Reference block-quantization fixture made with ggml itself (issue 6 point 6).
//
// Writes, into the folder given on the command line:
//   input.f32      16 rows x 512 float32 values (little-endian, row-major), deterministic
//   q8_0.bin, q4_0.bin, iq4_nl.bin, q4_k.bin, q6_k.bin, q5_k.bin, q5_0.bin, q5_1.bin
//                  ggml_quantize_chunk(type, input, ..., nrows=16, n_per_row=512, imatrix=NULL):
//                  the bytes llama-quantize / the converter would write for those rows
//   manifest.json  row descriptions, types, byte sizes
// Our C++ quantizers (core/io) must reproduce every .bin byte for byte from input.f32.
// The lead commits the folder as tests/data/gguf/ggml-quant/.
//
// Build against a llama.cpp build tree (only ggml-base is needed):
//   cc -O2 -std=c11 -I<llama.cpp>/ggml/include tools/device/ggml_quant_fixture.c
//      -L<build>/bin -lggml-base -lm -Wl,-rpath,<build>/bin -o ggml_quant_fixture   (one line)
//   ./ggml_quant_fixture OUTDIR
// (tools/export_proof/run_export_proof.sh does exactly this.)
//
// The input uses no libm: values come from a 64-bit PRNG written here (splitmix64) and
// exact integer/float arithmetic, so input.f32 is the same on every IEEE machine.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ggml.h"

enum { NROWS = 16, NCOLS = 512 };

static uint64_t g_state = 0x5152414E544C454EULL;  // fixed seed

static uint64_t next_u64(void) {  // splitmix64
  uint64_t z = (g_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1): 24 random bits, exact in float.
static double uniform01(void) { return (double)(next_u64() >> 40) / 16777216.0; }

// Roughly standard normal: Irwin-Hall sum of 12 uniforms minus 6 (exact arithmetic, no libm).
static double normalish(void) {
  double s = 0.0;
  for (int i = 0; i < 12; ++i) s += uniform01();
  return s - 6.0;
}

static const char* const kRowText[NROWS] = {
    "normal-ish (Irwin-Hall), sigma 1",
    "uniform in [-1, 1)",
    "normal-ish sigma 0.05 with large outliers (+-8 .. +-60) every 37th element",
    "all zero",
    "constant +0.375",
    "tiny values: normal-ish x 1e-6",
    "large values: normal-ish x 1e3",
    "exact ties: each 32-block holds +-127 and half-integers (x.5), so d = 1 in Q8_0 and the "
    "quantizers see exact rounding ties",
    "alternating signs, magnitudes 0.1 .. 1.6",
    "constant -2.5",
    "one spike per 32-block (+-4.0), rest zero",
    "linear ramp from -1 to +1",
    "all positive: uniform in [0.5, 1.5) (Q4_K min handling)",
    "all negative: uniform in [-2, -1)",
    "block-wise scales: 32-block k is normal-ish x 10^((k mod 7) - 3)",
    "mixed: normal-ish with -0.0, fp16-subnormal (~3e-7) and below-fp16 (~1e-9) values",
};

static void make_input(float* x) {
  for (int r = 0; r < NROWS; ++r) {
    float* row = x + (size_t)r * NCOLS;
    for (int c = 0; c < NCOLS; ++c) {
      double v = 0.0;
      switch (r) {
        case 0: v = normalish(); break;
        case 1: v = 2.0 * uniform01() - 1.0; break;
        case 2:
          v = 0.05 * normalish();
          if (c % 37 == 5) v = ((c / 37) % 2 ? -1.0 : 1.0) * (8.0 + 52.0 * uniform01());
          break;
        case 3: v = 0.0; break;
        case 4: v = 0.375; break;
        case 5: v = 1e-6 * normalish(); break;
        case 6: v = 1e3 * normalish(); break;
        case 7: {
          int j = c % 32;
          if (j == 0) {
            v = (c / 32) % 2 ? -127.0 : 127.0;
          } else {
            // half-integers between -126.5 and 126.5, spread over the block
            int k = (int)(next_u64() % 254) - 127;  // -127 .. 126
            v = (double)k + 0.5;
          }
          break;
        }
        case 8: v = (c % 2 ? -1.0 : 1.0) * (0.1 + 0.1 * (double)(c % 16)); break;
        case 9: v = -2.5; break;
        case 10: v = (c % 32 == (c / 32) % 32) ? ((c / 32) % 2 ? -4.0 : 4.0) : 0.0; break;
        case 11: v = -1.0 + 2.0 * (double)c / (double)(NCOLS - 1); break;
        case 12: v = 0.5 + uniform01(); break;
        case 13: v = -2.0 + uniform01(); break;
        case 14: {
          static const double kScale[7] = {1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3};
          v = kScale[(c / 32) % 7] * normalish();
          break;
        }
        case 15:
          v = normalish();
          if (c % 11 == 3) v = -0.0;
          if (c % 13 == 4) v = 3e-7 * (1.0 + uniform01());
          if (c % 17 == 6) v = -1e-9 * (1.0 + uniform01());
          break;
      }
      row[c] = (float)v;
    }
  }
}

static int write_file(const char* dir, const char* name, const void* data, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    return 1;
  }
  size_t w = fwrite(data, 1, n, f);
  if (fclose(f) != 0 || w != n) {
    fprintf(stderr, "short write to %s\n", path);
    return 1;
  }
  return 0;
}

struct quant_case {
  enum ggml_type type;
  const char* file;
};

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const char* dir = argv[1];
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }

  static float input[NROWS * NCOLS];
  make_input(input);
  if (write_file(dir, "input.f32", input, sizeof input)) return 1;

  const struct quant_case cases[] = {
      {GGML_TYPE_Q8_0, "q8_0.bin"}, {GGML_TYPE_Q4_0, "q4_0.bin"}, {GGML_TYPE_IQ4_NL, "iq4_nl.bin"},
      {GGML_TYPE_Q4_K, "q4_k.bin"}, {GGML_TYPE_Q6_K, "q6_k.bin"},
      // also used by our GGUF writer: Q5_K (llama-quantize's Q4_K_M bump for attn_output of
      // 8-expert models), Q5_0 and Q5_1 (fallback types)
      {GGML_TYPE_Q5_K, "q5_k.bin"}, {GGML_TYPE_Q5_0, "q5_0.bin"}, {GGML_TYPE_Q5_1, "q5_1.bin"},
  };
  const size_t ncases = sizeof cases / sizeof cases[0];

  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  FILE* man = fopen(path, "w");
  if (!man) {
    fprintf(stderr, "cannot write %s\n", path);
    return 1;
  }
  fprintf(man, "{\n  \"source\": \"ggml_quantize_chunk of llama.cpp's ggml-base, no imatrix "
               "(tools/device/ggml_quant_fixture.c)\",\n");
  fprintf(man, "  \"input\": {\"file\": \"input.f32\", \"dtype\": \"float32 little-endian\", "
               "\"rows\": %d, \"columns\": %d},\n", NROWS, NCOLS);
  fprintf(man, "  \"rows\": [\n");
  for (int r = 0; r < NROWS; ++r) fprintf(man, "    \"%s\"%s\n", kRowText[r], r + 1 < NROWS ? "," : "");
  fprintf(man, "  ],\n  \"outputs\": [\n");

  int rc = 0;
  for (size_t i = 0; i < ncases; ++i) {
    const enum ggml_type t = cases[i].type;
    if (ggml_quantize_requires_imatrix(t)) {
      fprintf(stderr, "%s unexpectedly requires an imatrix\n", ggml_type_name(t));
      rc = 1;
      continue;
    }
    ggml_quantize_init(t);
    const size_t row_bytes = ggml_row_size(t, NCOLS);
    const size_t total = row_bytes * NROWS;
    void* out = calloc(1, total);
    if (!out) return 1;
    const size_t got = ggml_quantize_chunk(t, input, out, 0, NROWS, NCOLS, NULL);
    if (got != total) {
      fprintf(stderr, "%s: ggml_quantize_chunk returned %zu bytes, expected %zu\n", ggml_type_name(t), got,
              total);
      rc = 1;
    }
    if (write_file(dir, cases[i].file, out, total)) rc = 1;
    fprintf(man, "    {\"type\": \"%s\", \"ggml_type_id\": %d, \"file\": \"%s\", \"block_elements\": %lld, "
                 "\"block_bytes\": %zu, \"row_bytes\": %zu, \"bytes\": %zu}%s\n",
            ggml_type_name(t), (int)t, cases[i].file, (long long)ggml_blck_size(t), ggml_type_size(t), row_bytes,
            total, i + 1 < ncases ? "," : "");
    printf("%-7s %s: %zu bytes (%zu per row)\n", ggml_type_name(t), cases[i].file, total, row_bytes);
    free(out);
  }
  fprintf(man, "  ]\n}\n");
  fclose(man);
  ggml_quantize_free();
  return rc;
}
