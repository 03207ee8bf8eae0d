// Mamba's selective scan in C++ (models/mamba.py): s_t = exp(dt_t A) * s_{t-1} + dt_t u_t B_t, y_t = C_t . s_t.
// The state of one sequence is held as (N, E) so that every inner loop runs along the channels, contiguous in
// memory and vectorised; never the (B, T, E, N) tensor of states the PyTorch scan builds. The forward keeps the
// state every K steps; the backward recomputes one chunk of K states at a time and runs the recurrence in reverse
// through it.
// Channels are split across threads; each thread sums its own dB and dC.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t K = 16;  // steps per recomputed chunk in the backward

struct Slices {  // the channel range [begin(p), end(p)) of part p
  int64_t E, parts;
  int64_t begin(int64_t p) const { return p * E / parts; }
  int64_t end(int64_t p) const { return (p + 1) * E / parts; }
};

Slices split(int64_t E) { return {E, std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), E / 8))}; }

}  // namespace

// dt, u: (B, T, E); At: (N, E) = A^T; Bm, Cm: (B, T, N); s0: (B, E, N). Returns y: (B, T, E) (without D u), s_T
// and the state entering every chunk of K steps, (B, chunks, N, E), for the backward.
std::vector<torch::Tensor> scan_forward(torch::Tensor dt, torch::Tensor u, torch::Tensor At, torch::Tensor Bm,
                                        torch::Tensor Cm, torch::Tensor s0) {
  const int64_t B = dt.size(0), T = dt.size(1), E = dt.size(2), N = At.size(0);
  auto y = torch::empty({B, T, E}, dt.options());
  auto sT = torch::empty({B, E, N}, dt.options());
  const int64_t chunks = (T + K - 1) / K;
  auto ckpt = torch::empty({B, chunks, N, E}, dt.options());
  const float *dtp = dt.data_ptr<float>(), *up = u.data_ptr<float>(), *Ap = At.data_ptr<float>();
  const float *Bp = Bm.data_ptr<float>(), *Cp = Cm.data_ptr<float>(), *s0p = s0.data_ptr<float>();
  float *yp = y.data_ptr<float>(), *sTp = sT.data_ptr<float>(), *cp = ckpt.data_ptr<float>();
  const Slices sl = split(E);
  at::parallel_for(0, sl.parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t e0 = sl.begin(p), W = sl.end(p) - e0;
      std::vector<float> S(N * W), x(W);
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t n = 0; n < N; ++n)
          for (int64_t e = 0; e < W; ++e) S[n * W + e] = s0p[(b * E + e0 + e) * N + n];
        for (int64_t t = 0; t < T; ++t) {
          if (t % K == 0)
            for (int64_t n = 0; n < N; ++n)
              std::copy_n(S.data() + n * W, W, cp + ((b * chunks + t / K) * N + n) * E + e0);
          const int64_t row = (b * T + t) * E + e0;
          const float *d = dtp + row, *uu = up + row;
          float* yr = yp + row;
#pragma omp simd
          for (int64_t e = 0; e < W; ++e) {
            x[e] = d[e] * uu[e];
            yr[e] = 0.f;
          }
          for (int64_t n = 0; n < N; ++n) {
            const float bn = Bp[(b * T + t) * N + n], cn = Cp[(b * T + t) * N + n];
            const float* a = Ap + n * E + e0;
            float* s = S.data() + n * W;
#pragma omp simd
            for (int64_t e = 0; e < W; ++e) {
              s[e] = std::exp(d[e] * a[e]) * s[e] + x[e] * bn;
              yr[e] += cn * s[e];
            }
          }
        }
        for (int64_t n = 0; n < N; ++n)
          for (int64_t e = 0; e < W; ++e) sTp[(b * E + e0 + e) * N + n] = S[n * W + e];
      }
    }
  });
  return {y, sT, ckpt};
}

// dy: (B, T, E); dsT: (B, E, N); ckpt from scan_forward. Returns ddt, du (B, T, E), dAt (N, E), dB, dC
// (B, T, N), ds0 (B, E, N).
std::vector<torch::Tensor> scan_backward(torch::Tensor dy, torch::Tensor dsT, torch::Tensor dt, torch::Tensor u,
                                         torch::Tensor At, torch::Tensor Bm, torch::Tensor Cm, torch::Tensor ckpt) {
  const int64_t B = dt.size(0), T = dt.size(1), E = dt.size(2), N = At.size(0);
  auto ddt = torch::empty_like(dt);
  auto du = torch::empty_like(u);
  auto dAt = torch::zeros_like(At);  // channel slices are disjoint: no two threads write one entry
  auto ds0 = torch::empty({B, E, N}, dt.options());
  const Slices sl = split(E);
  auto dBp = torch::zeros({sl.parts, B, T, N}, dt.options());
  auto dCp = torch::zeros({sl.parts, B, T, N}, dt.options());
  const float *dyp = dy.data_ptr<float>(), *dsTp = dsT.data_ptr<float>(), *dtp = dt.data_ptr<float>();
  const float *up = u.data_ptr<float>(), *Ap = At.data_ptr<float>(), *Bp = Bm.data_ptr<float>();
  const float *Cp = Cm.data_ptr<float>(), *cp = ckpt.data_ptr<float>();
  float *ddtp = ddt.data_ptr<float>(), *dup = du.data_ptr<float>(), *dAp = dAt.data_ptr<float>();
  float* ds0p = ds0.data_ptr<float>();
  const int64_t chunks = (T + K - 1) / K;
  at::parallel_for(0, sl.parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t e0 = sl.begin(p), W = sl.end(p) - e0, NW = N * W;
      std::vector<float> states((K + 1) * NW), decays(K * NW), ds(NW), x(W), dx(W), dd(W);
      float* dBpart = dBp.data_ptr<float>() + p * B * T * N;
      float* dCpart = dCp.data_ptr<float>() + p * B * T * N;
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t n = 0; n < N; ++n)
          for (int64_t e = 0; e < W; ++e) ds[n * W + e] = dsTp[(b * E + e0 + e) * N + n];
        for (int64_t c = chunks - 1; c >= 0; --c) {
          const int64_t t0 = c * K, len = std::min(K, T - t0);
          for (int64_t n = 0; n < N; ++n)
            std::copy_n(cp + ((b * chunks + c) * N + n) * E + e0, W, states.data() + n * W);
          for (int64_t k = 0; k < len; ++k) {  // recompute this chunk's states and decays
            const int64_t row = (b * T + t0 + k) * E + e0;
            const float *d = dtp + row, *uu = up + row;
            for (int64_t n = 0; n < N; ++n) {
              const float bn = Bp[(b * T + t0 + k) * N + n];
              const float* a = Ap + n * E + e0;
              const float* prev = states.data() + k * NW + n * W;
              float* next = states.data() + (k + 1) * NW + n * W;
              float* dec = decays.data() + k * NW + n * W;
#pragma omp simd
              for (int64_t e = 0; e < W; ++e) {
                dec[e] = std::exp(d[e] * a[e]);
                next[e] = dec[e] * prev[e] + d[e] * uu[e] * bn;
              }
            }
          }
          for (int64_t k = len - 1; k >= 0; --k) {
            const int64_t t = t0 + k, row = (b * T + t) * E + e0;
            const float *d = dtp + row, *uu = up + row, *g = dyp + row;
#pragma omp simd
            for (int64_t e = 0; e < W; ++e) {
              x[e] = d[e] * uu[e];
              dx[e] = 0.f;
              dd[e] = 0.f;
            }
            for (int64_t n = 0; n < N; ++n) {
              const float bn = Bp[(b * T + t) * N + n], cn = Cp[(b * T + t) * N + n];
              const float* a = Ap + n * E + e0;
              float* da = dAp + n * E + e0;
              const float* prev = states.data() + k * NW + n * W;
              const float* cur = states.data() + (k + 1) * NW + n * W;
              const float* dec = decays.data() + k * NW + n * W;
              float* dsn = ds.data() + n * W;
              float dc = 0.f, db = 0.f;
#pragma omp simd reduction(+ : dc, db)
              for (int64_t e = 0; e < W; ++e) {
                dc += g[e] * cur[e];
                const float total = dsn[e] + g[e] * cn;  // dL/ds_t
                const float dlog = total * prev[e] * dec[e];  // dL/d(dt a)
                dx[e] += total * bn;
                db += total * x[e];
                dd[e] += dlog * a[e];
                da[e] += dlog * d[e];
                dsn[e] = total * dec[e];
              }
              dCpart[(b * T + t) * N + n] += dc;
              dBpart[(b * T + t) * N + n] += db;
            }
#pragma omp simd
            for (int64_t e = 0; e < W; ++e) {
              ddtp[row + e] = dd[e] + dx[e] * uu[e];
              dup[row + e] = dx[e] * d[e];
            }
          }
        }
        for (int64_t n = 0; n < N; ++n)
          for (int64_t e = 0; e < W; ++e) ds0p[(b * E + e0 + e) * N + n] = ds[n * W + e];
      }
    }
  });
  return {ddt, du, dAt, dBp.sum(0), dCp.sum(0), ds0};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_forward", &scan_forward, "selective scan forward");
  m.def("scan_backward", &scan_backward, "selective scan backward");
}
