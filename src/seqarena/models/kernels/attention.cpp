// Softmax attention over a fused (B, T, 3D) q|k|v projection in C++ (models/kernels/attention.py), forward and
// backward, for training without a mask, dropout or a cache. One (batch, head) pair per task; within it, blocks of
// QB queries against the keys they may see (all of them, or up to the block's last query when causal), so a
// causal layer does about half the work of a full one. The scores of a block stay in a per-task buffer (QB x T);
// the backward recomputes them from the saved log-sum-exp, as flash attention does. The five products per block
// are BLAS sgemm calls, run single-threaded inside the parallel loop. The gradient comes back as one (B, T, 3D)
// tensor, so the projection's backward needs no concatenation of three.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

extern "C" void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
                       const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
                       const int* ldc);

namespace {

constexpr int64_t QB = 64;  // queries per block

// Row-major C (m x n, ldc) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C, through column-major sgemm:
// C^T = op(B)^T op(A)^T, and a row-major matrix is its transpose in column-major storage.
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const char tA = tb ? 'T' : 'N', tB = ta ? 'T' : 'N';
  const int M = n, N = m, K = k, la = ldb, lb = lda, lc = ldc;
  sgemm_(&tA, &tB, &M, &N, &K, &alpha, B, &la, A, &lb, &beta, C, &lc);
}

struct Shape {
  int64_t B, T, D, H, hd, ld;  // ld: the row stride of q, k, v in the fused tensor (3D)
};

Shape shape_of(const torch::Tensor& qkv, int64_t heads) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.is_contiguous() && qkv.scalar_type() == torch::kFloat32,
              "attention: qkv must be a contiguous float32 (B, T, 3D) tensor");
  const int64_t D = qkv.size(2) / 3;
  TORCH_CHECK(D * 3 == qkv.size(2) && D % heads == 0, "attention: 3D must split into heads");
  return {qkv.size(0), qkv.size(1), D, heads, D / heads, 3 * D};
}

// Keys row r of a block starting at i0 may see (the row's scores are S[0 : n]).
inline int64_t visible(bool causal, int64_t i0, int64_t r, int64_t T) { return causal ? i0 + r + 1 : T; }

}  // namespace

// qkv: (B, T, 3D). Returns y: (B, T, D) with heads side by side, and lse: (B, H, T), each query's log-sum-exp.
std::vector<torch::Tensor> attn_forward(torch::Tensor qkv, int64_t heads, bool causal, double scale_) {
  const Shape s = shape_of(qkv, heads);
  const float scale = static_cast<float>(scale_);
  auto y = torch::empty({s.B, s.T, s.D}, qkv.options());
  auto lse = torch::empty({s.B, s.H, s.T}, qkv.options());
  const float* base = qkv.data_ptr<float>();
  float *yp = y.data_ptr<float>(), *lp = lse.data_ptr<float>();
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> S(QB * s.T);  // scores, then probabilities, of one block
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / s.H, h = w % s.H;
      const float* q = base + b * s.T * s.ld + h * s.hd;
      const float *k = q + s.D, *v = q + 2 * s.D;
      float* out = yp + b * s.T * s.D + h * s.hd;
      float* L = lp + w * s.T;
      for (int64_t i0 = 0; i0 < s.T; i0 += QB) {
        const int64_t m = std::min(QB, s.T - i0), kend = causal ? i0 + m : s.T;
        gemm(false, true, m, kend, s.hd, scale, q + i0 * s.ld, s.ld, k, s.ld, 0.f, S.data(), kend);
        for (int64_t r = 0; r < m; ++r) {
          float* row = S.data() + r * kend;
          const int64_t n = visible(causal, i0, r, s.T);
          float mx = row[0];
          for (int64_t j = 1; j < n; ++j) mx = std::max(mx, row[j]);
          float sum = 0.f;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < n; ++j) {
            row[j] = std::exp(row[j] - mx);
            sum += row[j];
          }
          const float inv = 1.f / sum;
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) row[j] *= inv;
          std::fill(row + n, row + kend, 0.f);
          L[i0 + r] = mx + std::log(sum);
        }
        gemm(false, false, m, s.hd, kend, 1.f, S.data(), kend, v, s.ld, 0.f, out + i0 * s.D, s.D);
      }
    }
  });
  return {y, lse};
}

// dy, y: (B, T, D); lse: (B, H, T). Returns d(qkv): (B, T, 3D).
torch::Tensor attn_backward(torch::Tensor dy, torch::Tensor qkv, torch::Tensor y, torch::Tensor lse, int64_t heads,
                            bool causal, double scale_) {
  const Shape s = shape_of(qkv, heads);
  const float scale = static_cast<float>(scale_);
  auto dqkv = torch::empty_like(qkv);
  const float *base = qkv.data_ptr<float>(), *gp = dy.data_ptr<float>(), *yp = y.data_ptr<float>();
  const float* lp = lse.data_ptr<float>();
  float* dbase = dqkv.data_ptr<float>();
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> P(QB * s.T), dP(QB * s.T), Drow(QB);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / s.H, h = w % s.H;
      const int64_t off = b * s.T * s.ld + h * s.hd, yoff = b * s.T * s.D + h * s.hd;
      const float *q = base + off, *k = q + s.D, *v = q + 2 * s.D;
      float *dq = dbase + off, *dk = dq + s.D, *dv = dq + 2 * s.D;
      const float* L = lp + w * s.T;
      const int64_t last = (s.T - 1) / QB * QB;
      // the last block sees every key: it writes dK and dV (beta 0); the blocks before it add to them
      for (int64_t i0 = last; i0 >= 0; i0 -= QB) {
        const int64_t m = std::min(QB, s.T - i0), kend = causal ? i0 + m : s.T;
        const float beta = i0 == last ? 0.f : 1.f;
        const float *dO = gp + yoff + i0 * s.D, *O = yp + yoff + i0 * s.D;
        gemm(false, true, m, kend, s.hd, scale, q + i0 * s.ld, s.ld, k, s.ld, 0.f, P.data(), kend);
        for (int64_t r = 0; r < m; ++r) {
          float* row = P.data() + r * kend;
          const int64_t n = visible(causal, i0, r, s.T);
          const float l = L[i0 + r];
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) row[j] = std::exp(row[j] - l);
          std::fill(row + n, row + kend, 0.f);
          float d = 0.f;
#pragma omp simd reduction(+ : d)
          for (int64_t e = 0; e < s.hd; ++e) d += dO[r * s.D + e] * O[r * s.D + e];
          Drow[r] = d;
        }
        gemm(true, false, kend, s.hd, m, 1.f, P.data(), kend, dO, s.D, beta, dv, s.ld);  // dV += P^T dO
        gemm(false, true, m, kend, s.hd, 1.f, dO, s.D, v, s.ld, 0.f, dP.data(), kend);    // dP = dO V^T
        for (int64_t r = 0; r < m; ++r) {
          float *g = dP.data() + r * kend, *p = P.data() + r * kend;
          const float d = Drow[r];
#pragma omp simd
          for (int64_t j = 0; j < kend; ++j) g[j] = p[j] * (g[j] - d);  // dS (0 where the key is hidden)
        }
        gemm(false, false, m, s.hd, kend, scale, dP.data(), kend, k, s.ld, 0.f, dq + i0 * s.ld, s.ld);  // dQ
        gemm(true, false, kend, s.hd, m, scale, dP.data(), kend, q + i0 * s.ld, s.ld, beta, dk, s.ld);   // dK
      }
    }
  });
  return dqkv;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("attn_forward", &attn_forward, "softmax attention over fused qkv: (y, lse)");
  m.def("attn_backward", &attn_backward, "gradient of attn_forward with respect to qkv");
}
