// Decode attention (attention_decode.cuh), flash-decoding in two launches:
//   1. partial: CTA = (chunk of 128 keys, KV head [x 16 query heads], sequence).
//      Each of its 4 warps cp.asyncs 32 keys of K and V (16-byte chunks,
//      all in flight at once) into its own shared memory, computes the
//      scores of the query heads sharing the KV head as one m16 tile (rows =
//      heads, mma), their softmax and P V; the 4 warps merge in shared memory
//      and the CTA writes (max, sum, unnormalised O) of its chunk.
//   2. combine: per (head, sequence), the chunks below key_count, in a fixed
//      order (deterministic), 8 warps with several chunks' loads in flight each.
#include "gpu/kernels/attention_decode.cuh"

namespace ql::gpu {

namespace {

using namespace attn;

constexpr int kWarps = 4;
constexpr int kWarpKeys = 32;
constexpr int kChunk = kWarps * kWarpKeys;  // keys per CTA
constexpr int kRowsPerTile = 16;            // query heads per m16 tile

struct DecodeArgs {
  const float* q;
  int64_t ldq;
  const void* k;
  const void* v;
  int64_t ldkv;
  const SeqSpan* spans;
  int chunks;
  int heads, kv_heads, hd;
  int group;    // query heads per KV head
  int mgroups;  // m16 tiles per KV head
  float qscale;
  int vec;
  float* part_o;    // [num_seqs][heads][chunks][hd]
  float2* part_ml;  // [num_seqs][heads][chunks]: (max in log2 units, sum)
};

int64_t chunks_for(int64_t max_keys) { return (max_keys + kChunk - 1) / kChunk; }

size_t part_o_bytes(int num_seqs, int heads, int head_dim, int64_t chunks) {
  const size_t b = size_t(num_seqs) * size_t(heads) * size_t(chunks) * size_t(head_dim) * sizeof(float);
  return (b + 255) & ~size_t(255);
}

template <int HDP>
constexpr size_t decode_smem_bytes() {
  return size_t(kWarps) * 2 * kWarpKeys * (HDP + 8) * sizeof(uint16_t);
}

template <int HDP>
__global__ void __launch_bounds__(kWarps * 32) decode_partial_kernel(const DecodeArgs a) {
  constexpr int kSK = HDP + 8, KS = HDP / 16, DT = HDP / 8, NT = kWarpKeys / 8;
  extern __shared__ __align__(16) uint16_t smem[];
  __shared__ float sm_m[kWarps][kRowsPerTile], sm_l[kWarps][kRowsPerTile];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, c = lane & 3;
  const int chunk = blockIdx.x;
  const int kvh = blockIdx.y / a.mgroups, mg = blockIdx.y % a.mgroups;
  const int s = blockIdx.z;
  const SeqSpan sp = a.spans[s];
  if (int64_t(chunk) * kChunk >= sp.key_count) return;  // past this sequence's keys: no work, no write
  const int j0 = chunk * kChunk + warp * kWarpKeys;
  const int nvalid = max(0, min(kWarpKeys, sp.key_count - j0));
  const int hd = a.hd;
  const int64_t krow0 = int64_t(sp.key_start) + j0, kv_col = int64_t(kvh) * hd;

  uint16_t* sK = smem + warp * 2 * kWarpKeys * kSK;  // this warp's [32][kSK] K, then V
  uint16_t* sV = sK + kWarpKeys * kSK;
  const uint32_t sK_addr = smem_addr(sK), sV_addr = smem_addr(sV);

  if (nvalid > 0) {
    if (a.vec) {
      constexpr int CPR = HDP / 8, PER = kWarpKeys * CPR / 32;
#pragma unroll
      for (int u = 0; u < PER; ++u) {
        const int i = lane + 32 * u, r = i / CPR, ch = i % CPR;
        const bool valid = r < nvalid && ch * 8 < hd;
        const int64_t at = valid ? (krow0 + r) * a.ldkv + kv_col + ch * 8 : 0;
        cp_async16(sK_addr + uint32_t(r * kSK + ch * 8) * 2u, static_cast<const uint16_t*>(a.k) + at, valid);
      }
      cp_async_commit();
#pragma unroll
      for (int u = 0; u < PER; ++u) {
        const int i = lane + 32 * u, r = i / CPR, ch = i % CPR;
        const bool valid = r < nvalid && ch * 8 < hd;
        const int64_t at = valid ? (krow0 + r) * a.ldkv + kv_col + ch * 8 : 0;
        cp_async16(sV_addr + uint32_t(r * kSK + ch * 8) * 2u, static_cast<const uint16_t*>(a.v) + at, valid);
      }
      cp_async_commit();
    } else {
      for (int i = lane; i < kWarpKeys * HDP; i += 32) {
        const int r = i / HDP, d = i % HDP;
        uint16_t kx = 0, vx = 0;
        if (r < nvalid && d < hd) {
          const int64_t at = (krow0 + r) * a.ldkv + kv_col + d;
          kx = static_cast<const uint16_t*>(a.k)[at];
          vx = static_cast<const uint16_t*>(a.v)[at];
        }
        sK[r * kSK + d] = kx;
        sV[r * kSK + d] = vx;
      }
    }
  }

  // Q fragments: row r of the tile is query head kvh * group + mg * 16 + r (zero past the group).
  const int r_lo = mg * kRowsPerTile + g, r_hi = r_lo + 8;
  const bool v_lo = r_lo < a.group, v_hi = r_hi < a.group;
  const float* q_lo = a.q + int64_t(s) * a.ldq + int64_t(kvh * a.group + r_lo) * hd;
  const float* q_hi = a.q + int64_t(s) * a.ldq + int64_t(kvh * a.group + r_hi) * hd;
  auto ld = [&](bool v, const float* p, int d) { return (v && d < hd) ? p[d] * a.qscale : 0.0f; };
  uint32_t qf[KS][4];
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    const int d0 = kk * 16 + 2 * c, d1 = d0 + 8;
    qf[kk][0] = pack_bf16(ld(v_lo, q_lo, d0), ld(v_lo, q_lo, d0 + 1));
    qf[kk][1] = pack_bf16(ld(v_hi, q_hi, d0), ld(v_hi, q_hi, d0 + 1));
    qf[kk][2] = pack_bf16(ld(v_lo, q_lo, d1), ld(v_lo, q_lo, d1 + 1));
    qf[kk][3] = pack_bf16(ld(v_hi, q_hi, d1), ld(v_hi, q_hi, d1 + 1));
  }

  float o[DT][4];
#pragma unroll
  for (int dt = 0; dt < DT; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};

  if (nvalid > 0) {  // warp-uniform
    if (a.vec) cp_async_wait<1>();  // K landed (this lane's copies)
    __syncwarp();                   // ... and every lane's
    float sc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.0f;
    const uint32_t kb = sK_addr + uint32_t(((lane & 7) + ((lane >> 4) << 3)) * kSK + ((lane >> 3) & 1) * 8) * 2u;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk)
#pragma unroll
      for (int jp = 0; jp < NT / 2; ++jp) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(kb + uint32_t(jp * 16 * kSK + kk * 16) * 2u, b0, b1, b2, b3);
        mma_bf16(sc[2 * jp], qf[kk], b0, b1);
        mma_bf16(sc[2 * jp + 1], qf[kk], b2, b3);
      }
    if (nvalid < kWarpKeys) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (nt * 8 + 2 * c + (e & 1) >= nvalid) sc[nt][e] = -INFINITY;
    }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(sc[nt][2 * hf], sc[nt][2 * hf + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float msub = mx == -INFINITY ? 0.0f : mx;
      float sum = 0.0f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const float p0 = fast_exp2(sc[nt][2 * hf] - msub), p1 = fast_exp2(sc[nt][2 * hf + 1] - msub);
        sc[nt][2 * hf] = p0;
        sc[nt][2 * hf + 1] = p1;
        sum += p0 + p1;
      }
      mrow[hf] = mx;
      lrow[hf] = sum;
    }
    if (a.vec) cp_async_wait<0>();  // V landed
    __syncwarp();
    const uint32_t vb = sV_addr + uint32_t(((lane & 7) + (((lane >> 3) & 1) << 3)) * kSK + (lane >> 4) * 8) * 2u;
#pragma unroll
    for (int kk = 0; kk < kWarpKeys / 16; ++kk) {
      uint32_t pa[4];
      pa[0] = pack_bf16(sc[2 * kk][0], sc[2 * kk][1]);
      pa[1] = pack_bf16(sc[2 * kk][2], sc[2 * kk][3]);
      pa[2] = pack_bf16(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
      pa[3] = pack_bf16(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < DT / 2; ++dp) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4_trans(vb + uint32_t(kk * 16 * kSK + dp * 16) * 2u, b0, b1, b2, b3);
        mma_bf16(o[2 * dp], pa, b0, b1);
        mma_bf16(o[2 * dp + 1], pa, b2, b3);
      }
    }
  }
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    lrow[hf] += __shfl_xor_sync(0xffffffffu, lrow[hf], 1);
    lrow[hf] += __shfl_xor_sync(0xffffffffu, lrow[hf], 2);
  }

  // This warp's state into its own (now free) shared memory, then merge the warps.
  __syncwarp();
  float* so = reinterpret_cast<float*>(sK);  // [16][HDP]
#pragma unroll
  for (int dt = 0; dt < DT; ++dt) {
    const int d = dt * 8 + 2 * c;
    so[g * HDP + d] = o[dt][0];
    so[g * HDP + d + 1] = o[dt][1];
    so[(g + 8) * HDP + d] = o[dt][2];
    so[(g + 8) * HDP + d + 1] = o[dt][3];
  }
  if (c == 0) {
    sm_m[warp][g] = mrow[0];
    sm_m[warp][g + 8] = mrow[1];
    sm_l[warp][g] = lrow[0];
    sm_l[warp][g + 8] = lrow[1];
  }
  __syncthreads();
  const int rows = min(kRowsPerTile, a.group - mg * kRowsPerTile);
  constexpr int kWarpStride = 2 * kWarpKeys * kSK / 2;  // floats between two warps' regions
  const float* so0 = reinterpret_cast<const float*>(smem);
  for (int idx = tid; idx < rows * hd; idx += kWarps * 32) {
    const int r = idx / hd, d = idx % hd;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w][r]);
    float acc = 0.0f, sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float mw = sm_m[w][r];
      const float wt = mw == -INFINITY ? 0.0f : exp2f(mw - mx);
      acc += so0[w * kWarpStride + r * HDP + d] * wt;
      sum += sm_l[w][r] * wt;
    }
    const int h = kvh * a.group + mg * kRowsPerTile + r;
    const int64_t slot = (int64_t(s) * a.heads + h) * a.chunks + chunk;
    a.part_o[slot * hd + d] = acc;
    if (d == 0) a.part_ml[slot] = make_float2(mx, sum);
  }
}

struct CombineArgs {
  const SeqSpan* spans;
  int chunks, heads, hd;
  const float* part_o;
  const float2* part_ml;
  float* out;
  int64_t ldo;
};

constexpr int kCombineWarps = 8;
constexpr int kCombinePer = kMaxTensorHeadDim / 32;

// Block (head, sequence). The max over the chunks: lanes stride the chunks, then a warp
// reduction (every warp computes it). Warp w then sums the chunks w, w + 8, ... (lane: dims
// lane + 32 i), unrolled so several chunks' loads are in flight; the warp sums are added in
// warp order (deterministic).
__global__ void __launch_bounds__(kCombineWarps * 32) decode_combine_kernel(const CombineArgs a) {
  __shared__ float red[kCombineWarps][kMaxTensorHeadDim];
  __shared__ float red_l[kCombineWarps];
  const int h = blockIdx.x, s = blockIdx.y;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int hd = a.hd;
  const int key_count = a.spans[s].key_count;
  const int nact = key_count <= 0 ? 0 : min(a.chunks, (key_count + kChunk - 1) / kChunk);
  const int64_t base = (int64_t(s) * a.heads + h) * a.chunks;
  float mx = -INFINITY;
  for (int ch = lane; ch < nact; ch += 32) mx = fmaxf(mx, a.part_ml[base + ch].x);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  float acc[kCombinePer];
#pragma unroll
  for (int i = 0; i < kCombinePer; ++i) acc[i] = 0.0f;
  float sum = 0.0f;
  constexpr int kUnroll = 4;
  for (int ch0 = warp; ch0 < nact; ch0 += kCombineWarps * kUnroll) {
    float2 ml[kUnroll];
    float po[kUnroll][kCombinePer];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {  // all loads first
      const int ch = ch0 + u * kCombineWarps;
      ml[u] = ch < nact ? a.part_ml[base + ch] : make_float2(-INFINITY, 0.0f);
#pragma unroll
      for (int i = 0; i < kCombinePer; ++i) {
        const int d = lane + 32 * i;
        po[u][i] = (ch < nact && d < hd) ? a.part_o[(base + ch) * hd + d] : 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const float wt = ml[u].x == -INFINITY ? 0.0f : exp2f(ml[u].x - mx);
      sum += ml[u].y * wt;
#pragma unroll
      for (int i = 0; i < kCombinePer; ++i) acc[i] += po[u][i] * wt;
    }
  }
#pragma unroll
  for (int i = 0; i < kCombinePer; ++i) red[warp][lane + 32 * i] = acc[i];
  if (lane == 0) red_l[warp] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kCombineWarps; ++w) total += red_l[w];
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  float* dst = a.out + int64_t(s) * a.ldo + int64_t(h) * hd;
  for (int d = tid; d < hd; d += kCombineWarps * 32) {
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w) v += red[w][d];
    dst[d] = v * inv;
  }
}

template <int HDP>
cudaError_t launch_partial(const DecodeArgs& a, int num_seqs, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(a.chunks), static_cast<unsigned>(a.kv_heads * a.mgroups),
                  static_cast<unsigned>(num_seqs));
  return launch_with_smem<decode_partial_kernel<HDP>>(grid, dim3(kWarps * 32), decode_smem_bytes<HDP>(), stream, a);
}

}  // namespace

size_t attention_decode_scratch_bytes(int num_seqs, int heads, int head_dim, int64_t max_keys) {
  if (num_seqs <= 0 || heads <= 0 || head_dim <= 0 || max_keys <= 0) return 0;
  const int64_t chunks = chunks_for(max_keys);
  return part_o_bytes(num_seqs, heads, head_dim, chunks) +
         size_t(num_seqs) * size_t(heads) * size_t(chunks) * sizeof(float2);
}

cudaError_t launch_attention_decode(const float* q, int64_t ldq, const void* k_cache, const void* v_cache,
                                    int64_t ld_kv, const SeqSpan* spans, int num_seqs, int64_t max_keys, int heads,
                                    int kv_heads, int head_dim, float scale, void* scratch, float* out, int64_t ldo,
                                    cudaStream_t stream) {
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || head_dim < 1 || head_dim > kMaxHeadDim ||
      heads > 65535 || num_seqs > 65535)
    return cudaErrorInvalidValue;
  if (num_seqs <= 0 || max_keys <= 0) return cudaGetLastError();  // nothing to do
  if (head_dim <= kMaxTensorHeadDim) {
    const int64_t chunks = chunks_for(max_keys);
    const int group = heads / kv_heads;
    const int mgroups = (group + kRowsPerTile - 1) / kRowsPerTile;
    if (chunks > 0x7fffffffLL || int64_t(kv_heads) * mgroups > 65535 || scratch == nullptr ||
        (reinterpret_cast<uintptr_t>(scratch) & 255u) != 0)
      return cudaErrorInvalidValue;
    DecodeArgs a{};
    a.q = q;
    a.ldq = ldq;
    a.k = k_cache;
    a.v = v_cache;
    a.ldkv = ld_kv;
    a.spans = spans;
    a.chunks = static_cast<int>(chunks);
    a.heads = heads;
    a.kv_heads = kv_heads;
    a.hd = head_dim;
    a.group = group;
    a.mgroups = mgroups;
    a.qscale = scale * kLog2e;
    a.vec = head_dim % 8 == 0 && ld_kv % 8 == 0 && aligned16(k_cache) && aligned16(v_cache);
    a.part_o = static_cast<float*>(scratch);
    a.part_ml = reinterpret_cast<float2*>(static_cast<char*>(scratch) +
                                          part_o_bytes(num_seqs, heads, head_dim, chunks));
    cudaError_t e;
    switch (padded_head_dim(head_dim)) {
      case 16: e = launch_partial<16>(a, num_seqs, stream); break;
      case 32: e = launch_partial<32>(a, num_seqs, stream); break;
      case 64: e = launch_partial<64>(a, num_seqs, stream); break;
      case 80: e = launch_partial<80>(a, num_seqs, stream); break;
      default: e = launch_partial<128>(a, num_seqs, stream); break;
    }
    if (e != cudaSuccess) return e;
    CombineArgs cb{};
    cb.spans = spans;
    cb.chunks = a.chunks;
    cb.heads = heads;
    cb.hd = head_dim;
    cb.part_o = a.part_o;
    cb.part_ml = a.part_ml;
    cb.out = out;
    cb.ldo = ldo;
    decode_combine_kernel<<<dim3(heads, num_seqs), kCombineWarps * 32, 0, stream>>>(cb);
    return cudaGetLastError();
  }
  ScalarArgs a{};
  a.q = q;
  a.ldq = ldq;
  a.k = k_cache;
  a.v = v_cache;
  a.ldkv = ld_kv;
  a.out = out;
  a.ldo = ldo;
  a.spans = spans;
  a.seg = nullptr;
  a.total_rows = num_seqs;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.hd = head_dim;
  a.qscale = scale * kLog2e;
  attention_scalar_kernel<true, ScalarMode::kDecode><<<dim3(1, num_seqs, heads), kScalarWarps * 32, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace ql::gpu
