#pragma once
// The CPU backend's ops as free functions, one source file per family
// (cpu_linear.cpp, cpu_norms.cpp, ...). Semantics are those of backend.h;
// each op checks its own shapes and dtypes (cpu_check.h).
#include <cstdint>
#include <span>

#include "core/backend/backend.h"
#include "core/backend/cpu_matmul.h"
#include "core/backend/cpu_thread_pool.h"

namespace ql::backend::cpu {

// cpu_rows.cpp
void embed(const Tensor& ids, const Weight& table, Tensor& out);
void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out);
void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst);
void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst);
void zero(Tensor& t);
void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out);

// cpu_linear.cpp
void linear(ThreadPool& pool, const Tensor& x, const Weight& w, const Weight* bias, Tensor& out, bool accumulate,
            const MatmulSettings& settings);

// cpu_norms.cpp
void rms_norm(ThreadPool& pool, const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out);
void layer_norm(ThreadPool& pool, const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out);

// cpu_rope.cpp
void rope(ThreadPool& pool, Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim);

// cpu_attention.cpp
void attention(ThreadPool& pool, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSpec& spec,
               std::span<const int64_t> segments, Tensor& out);
void attention_cached(ThreadPool& pool, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                      const AttentionSpec& spec, const Tensor& spans, Tensor& out);

// cpu_moe.cpp
void moe(ThreadPool& pool, const Tensor& x, const MoeWeights& w, Tensor& out, bool accumulate,
         const MatmulSettings& settings);

// cpu_elementwise.cpp
void swiglu(ThreadPool& pool, const Tensor& gate, const Tensor& up, Tensor& out);
void gelu(ThreadPool& pool, const Tensor& x, GeluKind kind, Tensor& out);
void add(ThreadPool& pool, const Tensor& a, const Tensor& b, Tensor& out);

// cpu_sample_op.cpp
void sample(const Tensor& logits, const Tensor& inputs, Tensor* seen, Tensor& token);
void mark_seen(const Tensor& ids, Tensor& seen);

}  // namespace ql::backend::cpu
