// Mamba's causal depthwise convolution and SiLU in C++ (models/mamba.py), in the (B, T, E) layout the block
// already holds: y_t = silu(bias + sum_k w_k * x_{t+k}) over a window padded with the K - 1 previous inputs.
// PyTorch's Conv1d wants (B, E, T), so the PyTorch path pays two transposed copies and a slow depthwise weight
// gradient; here every inner loop runs along the contiguous channels. Channels are split across threads.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// -ffast-math assumes finite values: clamp before the exp, exactly as gru.cpp does.
inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-std::min(std::max(x, -80.f), 80.f))); }

int64_t parts_for(int64_t E) { return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), E / 16)); }

}  // namespace

// full: (B, T + K - 1, E), the previous K - 1 inputs then the window; w: (K, E); bias: (E). Returns y: (B, T, E).
torch::Tensor conv_forward(torch::Tensor full, torch::Tensor w, torch::Tensor bias) {
  const int64_t B = full.size(0), K = w.size(0), T = full.size(1) - K + 1, E = full.size(2);
  auto y = torch::empty({B, T, E}, full.options());
  const float *xp = full.data_ptr<float>(), *wp = w.data_ptr<float>(), *bp = bias.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t parts = parts_for(E);
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t e0 = p * E / parts, e1 = (p + 1) * E / parts;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
          float* out = yp + (b * T + t) * E;
#pragma omp simd
          for (int64_t e = e0; e < e1; ++e) out[e] = bp[e];
          for (int64_t k = 0; k < K; ++k) {
            const float* in = xp + (b * (T + K - 1) + t + k) * E;
            const float* wk = wp + k * E;
#pragma omp simd
            for (int64_t e = e0; e < e1; ++e) out[e] += wk[e] * in[e];
          }
#pragma omp simd
          for (int64_t e = e0; e < e1; ++e) out[e] *= sigmoid(out[e]);
        }
    }
  });
  return y;
}

// dy: (B, T, E). Returns dfull (B, T + K - 1, E), dw (K, E), dbias (E); the pre-activation is recomputed.
std::vector<torch::Tensor> conv_backward(torch::Tensor dy, torch::Tensor full, torch::Tensor w, torch::Tensor bias) {
  const int64_t B = full.size(0), K = w.size(0), T = full.size(1) - K + 1, E = full.size(2);
  auto dfull = torch::zeros_like(full);
  auto dw = torch::zeros_like(w);  // channel slices are disjoint: no two threads write one entry
  auto db = torch::zeros_like(bias);
  const float *gp = dy.data_ptr<float>(), *xp = full.data_ptr<float>(), *wp = w.data_ptr<float>();
  const float* bp = bias.data_ptr<float>();
  float *dxp = dfull.data_ptr<float>(), *dwp = dw.data_ptr<float>(), *dbp = db.data_ptr<float>();
  const int64_t parts = parts_for(E);
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t e0 = p * E / parts, e1 = (p + 1) * E / parts;
      std::vector<float> gz(E);
      float* z = gz.data();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
          const float* in = xp + (b * (T + K - 1) + t) * E;  // row t + k is in + k * E
          float* din = dxp + (b * (T + K - 1) + t) * E;
          const float* g = gp + (b * T + t) * E;
#pragma omp simd
          for (int64_t e = e0; e < e1; ++e) z[e] = bp[e];
          for (int64_t k = 0; k < K; ++k) {
#pragma omp simd
            for (int64_t e = e0; e < e1; ++e) z[e] += wp[k * E + e] * in[k * E + e];
          }
#pragma omp simd
          for (int64_t e = e0; e < e1; ++e) {  // dL/d(pre-activation v): silu'(v) = s (1 + v (1 - s))
            const float s = sigmoid(z[e]);
            z[e] = g[e] * s * (1.f + z[e] * (1.f - s));
            dbp[e] += z[e];
          }
          for (int64_t k = 0; k < K; ++k) {
#pragma omp simd
            for (int64_t e = e0; e < e1; ++e) {
              din[k * E + e] += wp[k * E + e] * z[e];
              dwp[k * E + e] += z[e] * in[k * E + e];
            }
          }
        }
    }
  });
  return {dfull, dw, db};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("conv_forward", &conv_forward, "causal depthwise convolution and SiLU, forward");
  m.def("conv_backward", &conv_backward, "causal depthwise convolution and SiLU, backward");
}
