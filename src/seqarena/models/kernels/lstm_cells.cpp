// The custom-cell LSTM layers' time loops in C++ (models/lstm_variants.py): peephole connections and layer
// normalisation. Per step one matmul (ATen) and fused elementwise passes; the backward is derived by hand and
// leaves the weight gradients to one matmul per weight after the loop (lstm_cells.py). Gate order: input, forget,
// output, candidate. float32 on the CPU; the autograd loop in lstm_variants.py is the reference and fallback.
#include <torch/extension.h>

#include "step_matmul.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// -ffast-math assumes finite values, so an exp that overflows to inf gives NaN: clamp first. Both clamps are exact
// in float32 (sigmoid(80) and tanh(15) round to 1; below -80 sigmoid is under 2e-35).
inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-std::min(std::max(x, -80.f), 80.f))); }
inline float tanh_(float x) { return std::tanh(std::min(std::max(x, -15.f), 15.f)); }

// mean and 1/std of a row (biased variance, as nn.LayerNorm)
inline void row_stats(const float* x, int64_t n, float eps, float* mean, float* rstd) {
  float s = 0.f, q = 0.f;
#pragma omp simd reduction(+ : s, q)
  for (int64_t j = 0; j < n; ++j) {
    s += x[j];
    q += x[j] * x[j];
  }
  const float m = s / n;
  *mean = m;
  *rstd = 1.f / std::sqrt(std::max(q / n - m * m, 0.f) + eps);
}

}  // namespace

// gi: (T, B, 4H) input projections with bias; w_t: (H, 4H) = W_h^T; peep: (3, H) for input, forget, output.
// Returns hs, cs: (T + 1, B, H) (row 0 the initial state) and acts: (T, B, 4H) = i, f, o, g.
std::vector<torch::Tensor> peephole_forward(torch::Tensor gi, torch::Tensor h0, torch::Tensor c0, torch::Tensor w_t,
                                            torch::Tensor peep, bool onednn) {
  const int64_t T = gi.size(0), B = gi.size(1), H = h0.size(1);
  const auto w_nk = seqarena::onednn_weight(w_t, onednn);
  auto hs = torch::empty({T + 1, B, H}, gi.options());
  auto cs = torch::empty({T + 1, B, H}, gi.options());
  auto acts = torch::empty({T, B, 4 * H}, gi.options());
  auto u = torch::empty({B, 4 * H}, gi.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  const float* p = peep.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    seqarena::step_mm(u, hs[t], w_t, w_nk);  // (B, 4H) = W_h h_{t-1}
    for (int64_t b = 0; b < B; ++b) {
      const float* a = gi.data_ptr<float>() + (t * B + b) * 4 * H;
      const float* r = u.data_ptr<float>() + b * 4 * H;
      float* s = acts.data_ptr<float>() + (t * B + b) * 4 * H;
      const float* cp = cs.data_ptr<float>() + (t * B + b) * H;
      float* cn = cs.data_ptr<float>() + ((t + 1) * B + b) * H;
      float* hn = hs.data_ptr<float>() + ((t + 1) * B + b) * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const float i = sigmoid(a[j] + r[j] + p[j] * cp[j]);
        const float f = sigmoid(a[H + j] + r[H + j] + p[H + j] * cp[j]);
        const float g = tanh_(a[3 * H + j] + r[3 * H + j]);
        const float c = f * cp[j] + i * g;
        const float o = sigmoid(a[2 * H + j] + r[2 * H + j] + p[2 * H + j] * c);
        s[j] = i;
        s[H + j] = f;
        s[2 * H + j] = o;
        s[3 * H + j] = g;
        cn[j] = c;
        hn[j] = o * tanh_(c);
      }
    }
  }
  return {hs, cs, acts};
}

// grad: (T, B, H) dL/d outputs; grad_c: (B, H) dL/d c_T; w_h: (4H, H). Returns da: (T, B, 4H) dL/d gate
// pre-activations (= dL/d gi), dh0, dc0.
std::vector<torch::Tensor> peephole_backward(torch::Tensor grad, torch::Tensor grad_c, torch::Tensor w_h,
                                             torch::Tensor peep, torch::Tensor cs, torch::Tensor acts, bool onednn) {
  const int64_t T = grad.size(0), B = grad.size(1), H = grad.size(2);
  const auto w_nk = seqarena::onednn_weight(w_h, onednn);
  auto da = torch::empty({T, B, 4 * H}, grad.options());
  auto dh = grad[T - 1].clone();
  auto dc = grad_c.clone();
  auto carry = torch::empty({B, H}, grad.options());
  const float* p = peep.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = 0; b < B; ++b) {
      const float* s = acts.data_ptr<float>() + (t * B + b) * 4 * H;
      const float* cp = cs.data_ptr<float>() + (t * B + b) * H;
      const float* cn = cs.data_ptr<float>() + ((t + 1) * B + b) * H;
      const float* up = t > 0 ? grad.data_ptr<float>() + ((t - 1) * B + b) * H : nullptr;
      const float* d = dh.data_ptr<float>() + b * H;
      float* dcb = dc.data_ptr<float>() + b * H;
      float* out = da.data_ptr<float>() + (t * B + b) * 4 * H;
      float* cb = carry.data_ptr<float>() + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const float i = s[j], f = s[H + j], o = s[2 * H + j], g = s[3 * H + j];
        const float tc = tanh_(cn[j]);
        const float d_o = d[j] * tc * o * (1.f - o);
        const float dct = dcb[j] + d[j] * o * (1.f - tc * tc) + d_o * p[2 * H + j];
        const float d_i = dct * g * i * (1.f - i);
        const float d_f = dct * cp[j] * f * (1.f - f);
        out[j] = d_i;
        out[H + j] = d_f;
        out[2 * H + j] = d_o;
        out[3 * H + j] = dct * i * (1.f - g * g);
        dcb[j] = dct * f + d_i * p[j] + d_f * p[H + j];
        cb[j] = up ? up[j] : 0.f;
      }
    }
    seqarena::step_addmm(dh, carry, da[t], w_h, w_nk);  // dL/dh_{t-1}
  }
  return {da, dh, dc};
}

// xs: (T, B, 4H) = LN_x(W_x x) + bias; w_t: (H, 4H); ln_h: (2, 4H) weight, bias; ln_c: (2, H) weight, bias.
// Returns hs, cs (T + 1, B, H), u (T, B, 4H) = W_h h_{t-1}, acts (T, B, 4H), stats (T, B, 4): mean, rstd of u
// and of c.
std::vector<torch::Tensor> layernorm_forward(torch::Tensor xs, torch::Tensor h0, torch::Tensor c0, torch::Tensor w_t,
                                             torch::Tensor ln_h, torch::Tensor ln_c, double eps, bool onednn) {
  const int64_t T = xs.size(0), B = xs.size(1), H = h0.size(1), G = 4 * H;
  const auto w_nk = seqarena::onednn_weight(w_t, onednn);
  auto hs = torch::empty({T + 1, B, H}, xs.options());
  auto cs = torch::empty({T + 1, B, H}, xs.options());
  auto u = torch::empty({T, B, G}, xs.options());
  auto acts = torch::empty({T, B, G}, xs.options());
  auto stats = torch::empty({T, B, 4}, xs.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  const float *gw = ln_h.data_ptr<float>(), *gb = gw + G, *cw = ln_c.data_ptr<float>(), *cb = cw + H;
  const float e = static_cast<float>(eps);
  for (int64_t t = 0; t < T; ++t) {
    auto ut = u[t];
    seqarena::step_mm(ut, hs[t], w_t, w_nk);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = (t * B + b);
      const float* a = xs.data_ptr<float>() + row * G;
      const float* r = u.data_ptr<float>() + row * G;
      float* s = acts.data_ptr<float>() + row * G;
      float* st = stats.data_ptr<float>() + row * 4;
      const float* cp = cs.data_ptr<float>() + row * H;
      float* cn = cs.data_ptr<float>() + (row + B) * H;
      float* hn = hs.data_ptr<float>() + (row + B) * H;
      row_stats(r, G, e, st, st + 1);
      const float m = st[0], q = st[1];
#pragma omp simd
      for (int64_t j = 0; j < 3 * H; ++j) s[j] = sigmoid((r[j] - m) * q * gw[j] + gb[j] + a[j]);
#pragma omp simd
      for (int64_t j = 3 * H; j < G; ++j) s[j] = tanh_((r[j] - m) * q * gw[j] + gb[j] + a[j]);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) cn[j] = s[H + j] * cp[j] + s[j] * s[3 * H + j];
      row_stats(cn, H, e, st + 2, st + 3);
      const float mc = st[2], qc = st[3];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) hn[j] = s[2 * H + j] * tanh_((cn[j] - mc) * qc * cw[j] + cb[j]);
    }
  }
  return {hs, cs, u, acts, stats};
}

// Returns da (T, B, 4H) = dL/d xs, du (T, B, 4H) = dL/d(W_h h_{t-1}), dh0, dc0, and the gradients of ln_h (2, 4H)
// and ln_c (2, H), accumulated inside the loop.
std::vector<torch::Tensor> layernorm_backward(torch::Tensor grad, torch::Tensor grad_c, torch::Tensor w_h,
                                              torch::Tensor ln_h, torch::Tensor ln_c, torch::Tensor cs, torch::Tensor u,
                                              torch::Tensor acts, torch::Tensor stats, bool onednn) {
  const int64_t T = grad.size(0), B = grad.size(1), H = grad.size(2), G = 4 * H;
  const auto w_nk = seqarena::onednn_weight(w_h, onednn);
  auto da = torch::empty({T, B, G}, grad.options());
  auto du = torch::empty({T, B, G}, grad.options());
  auto d_ln_h = torch::zeros({2, G}, grad.options());
  auto d_ln_c = torch::zeros({2, H}, grad.options());
  float *dgw = d_ln_h.data_ptr<float>(), *dgb = dgw + G, *dcw = d_ln_c.data_ptr<float>(), *dcbias = dcw + H;
  std::vector<float> dy(H);
  auto dh = grad[T - 1].clone();
  auto dc = grad_c.clone();
  auto carry = torch::empty({B, H}, grad.options());
  std::vector<float> dchat(H);
  const float *gw = ln_h.data_ptr<float>(), *cw = ln_c.data_ptr<float>(), *cbias = cw + H;
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = t * B + b;
      const float* s = acts.data_ptr<float>() + row * G;
      const float* st = stats.data_ptr<float>() + row * 4;
      const float* cp = cs.data_ptr<float>() + row * H;
      const float* cn = cs.data_ptr<float>() + (row + B) * H;
      const float* r = u.data_ptr<float>() + row * G;
      const float* d = dh.data_ptr<float>() + b * H;
      float* dcb = dc.data_ptr<float>() + b * H;
      float* out = da.data_ptr<float>() + row * G;
      float* dur = du.data_ptr<float>() + row * G;
      float* dyr = dy.data();
      const float mc = st[2], qc = st[3];
      float s1 = 0.f, s2 = 0.f;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t j = 0; j < H; ++j) {
        const float chat = (cn[j] - mc) * qc, o = s[2 * H + j];
        const float tl = tanh_(chat * cw[j] + cbias[j]);
        out[2 * H + j] = d[j] * tl * o * (1.f - o);
        dyr[j] = d[j] * o * (1.f - tl * tl);
        dchat[j] = dyr[j] * cw[j];
        dcw[j] += dyr[j] * chat;
        dcbias[j] += dyr[j];
        s1 += dchat[j];
        s2 += dchat[j] * chat;
      }
      s1 /= H;
      s2 /= H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const float i = s[j], f = s[H + j], g = s[3 * H + j];
        const float dct = dcb[j] + qc * (dchat[j] - s1 - (cn[j] - mc) * qc * s2);
        out[j] = dct * g * i * (1.f - i);
        out[H + j] = dct * cp[j] * f * (1.f - f);
        out[3 * H + j] = dct * i * (1.f - g * g);
        dcb[j] = dct * f;
      }
      const float m = st[0], q = st[1];
      float t1 = 0.f, t2 = 0.f;
#pragma omp simd reduction(+ : t1, t2)
      for (int64_t j = 0; j < G; ++j) {
        const float dv = out[j] * gw[j], uhat = (r[j] - m) * q;
        dgw[j] += out[j] * uhat;
        dgb[j] += out[j];
        t1 += dv;
        t2 += dv * uhat;
      }
      t1 /= G;
      t2 /= G;
#pragma omp simd
      for (int64_t j = 0; j < G; ++j) dur[j] = q * (out[j] * gw[j] - t1 - (r[j] - m) * q * t2);
      float* cb = carry.data_ptr<float>() + b * H;
      const float* up = t > 0 ? grad.data_ptr<float>() + ((t - 1) * B + b) * H : nullptr;
      for (int64_t j = 0; j < H; ++j) cb[j] = up ? up[j] : 0.f;
    }
    seqarena::step_addmm(dh, carry, du[t], w_h, w_nk);
  }
  return {da, du, dh, dc, d_ln_h, d_ln_c};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("peephole_forward", &peephole_forward, "peephole LSTM layer forward");
  m.def("peephole_backward", &peephole_backward, "peephole LSTM layer backward");
  m.def("layernorm_forward", &layernorm_forward, "layer-norm LSTM layer forward");
  m.def("layernorm_backward", &layernorm_backward, "layer-norm LSTM layer backward");
}
