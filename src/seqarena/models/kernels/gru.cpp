// A GRU layer's time loop in C++: per step one matmul (ATen, oneDNN/BLAS) and one fused elementwise pass,
// instead of a chain of dispatched ops. Same math and gate order as nn.GRU (r, z, n). float32 on the CPU only;
// seqarena/models/kernels/gru.py holds the Python reference it is tested against and falls back to.
#include <torch/extension.h>

#include "step_matmul.h"

#include <algorithm>
#include <cmath>

namespace {

// -ffast-math assumes finite values, so an exp that overflows to inf gives NaN: clamp first. Both clamps are exact
// in float32 (sigmoid(80) and tanh(15) round to 1; below -80 sigmoid is under 2e-35).
inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-std::min(std::max(x, -80.f), 80.f))); }
inline float tanh_(float x) { return std::tanh(std::min(std::max(x, -15.f), 15.f)); }

}  // namespace

// gi: (T, B, 3H) input projections with b_ih; h0: (B, H); w: (H + 1, 3H) = [W_hh^T; b_hh].
// Returns hs: (T + 1, B, H + 1) (hs[0] = h0, a last column of ones), gh: (T, B, 3H), rzn: (T, B, 3H) = r, z, n.
std::vector<torch::Tensor> gru_forward(torch::Tensor gi, torch::Tensor h0, torch::Tensor w, bool onednn) {
  const auto w_nk = seqarena::onednn_weight(w, onednn);
  const int64_t T = gi.size(0), B = gi.size(1), H = gi.size(2) / 3;
  auto hs = torch::empty({T + 1, B, H + 1}, gi.options());
  hs.select(2, H).fill_(1.0);
  hs[0].narrow(1, 0, H).copy_(h0);
  auto gh = torch::empty({T, B, 3 * H}, gi.options());
  auto rzn = torch::empty({T, B, 3 * H}, gi.options());
  float* hp = hs.data_ptr<float>();
  const float* gip = gi.data_ptr<float>();
  const float* ghp = gh.data_ptr<float>();
  float* sp = rzn.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    auto out = gh[t];
    seqarena::step_mm(out, hs[t], w, w_nk);  // (B, 3H) = W_hh h_{t-1} + b_hh
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = (t * B + b) * 3 * H;
      const float* a = gip + row;
      const float* g = ghp + row;
      float* s = sp + row;
      const float* prev = hp + (t * B + b) * (H + 1);
      float* next = hp + ((t + 1) * B + b) * (H + 1);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const float r = sigmoid(a[j] + g[j]);
        const float z = sigmoid(a[H + j] + g[H + j]);
        const float n = tanh_(a[2 * H + j] + r * g[2 * H + j]);
        s[j] = r;
        s[H + j] = z;
        s[2 * H + j] = n;
        next[j] = n + z * (prev[j] - n);
      }
    }
  }
  return {hs, gh, rzn};
}

// grad: (T, B, H) dL/d output; w_hh: (3H, H). Returns dgi (T, B, 3H), dh0 (B, H), dW_aug (3H, H + 1).
std::vector<torch::Tensor> gru_backward(torch::Tensor grad, torch::Tensor w_hh, torch::Tensor hs, torch::Tensor gh,
                                        torch::Tensor rzn, bool onednn) {
  const int64_t T = grad.size(0), B = grad.size(1), H = grad.size(2);
  const auto w_nk = seqarena::onednn_weight(w_hh, onednn);
  auto dgi = torch::empty({T, B, 3 * H}, grad.options());
  auto dgh = torch::empty({T, B, 3 * H}, grad.options());
  auto dh = grad[T - 1].clone();  // dL/dh_t through every path
  auto carry = torch::empty({B, H}, grad.options());  // the direct paths to h_{t-1}: output grad + z * dh
  const float* gp = grad.data_ptr<float>();
  const float* hp = hs.data_ptr<float>();
  const float* ghp = gh.data_ptr<float>();
  const float* sp = rzn.data_ptr<float>();
  float* dip = dgi.data_ptr<float>();
  float* dhp_all = dgh.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* d = dh.data_ptr<float>();
    float* c = carry.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = (t * B + b) * 3 * H;
      const float* s = sp + row;
      const float* g = ghp + row;
      const float* prev = hp + (t * B + b) * (H + 1);
      const float* db = d + b * H;
      const float* up = t > 0 ? gp + ((t - 1) * B + b) * H : nullptr;
      float* di = dip + row;
      float* dg = dhp_all + row;
      float* cb = c + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const float r = s[j], z = s[H + j], n = s[2 * H + j];
        const float dn = db[j] * (1.f - z) * (1.f - n * n);  // d pre-activation of n
        const float dr = dn * g[2 * H + j] * r * (1.f - r);
        const float dz = db[j] * (prev[j] - n) * z * (1.f - z);
        di[j] = dr;
        di[H + j] = dz;
        di[2 * H + j] = dn;
        dg[j] = dr;
        dg[H + j] = dz;
        dg[2 * H + j] = dn * r;
        cb[j] = db[j] * z + (up ? up[j] : 0.f);
      }
    }
    seqarena::step_addmm(dh, carry, dgh[t], w_hh, w_nk);  // dL/dh_{t-1}
  }
  auto dw = at::mm(dgh.view({T * B, 3 * H}).t(), hs.narrow(0, 0, T).reshape({T * B, H + 1}));
  return {dgi, dh, dw};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gru_forward", &gru_forward, "GRU layer forward");
  m.def("gru_backward", &gru_backward, "GRU layer backward");
}
