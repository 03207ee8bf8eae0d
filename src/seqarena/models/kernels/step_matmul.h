// The per-step matmul of the recurrent kernels (gru.cpp, lstm_cells.cpp). torch.mm is MKL in the CPU wheel, which
// on some CPUs (AMD EPYC) runs at half oneDNN's speed; when the caller passes w_nk (the weight as (N, K), the
// layout oneDNN's linear takes), the step goes through oneDNN's strict-fp32 linear, the op behind torch's mkldnn
// linear, called through the dispatcher. native.py decides, by the machine's measured GEMM speeds and the width.
#pragma once
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/extension.h>

namespace seqarena {

inline at::Tensor onednn_linear(const at::Tensor& a, const at::Tensor& w_nk) {  // a (M, K) @ w_nk^T: (M, N)
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  torch::jit::Stack stack{a, w_nk, c10::IValue(), c10::IValue("none"), c10::IValue(c10::List<std::optional<at::Scalar>>()),
                          c10::IValue()};
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

// The weight oneDNN wants for a (M, K) @ w_kn (K, N), or an undefined tensor: torch.mm then.
inline at::Tensor onednn_weight(const at::Tensor& w_kn, bool onednn) {
  return onednn ? w_kn.t().contiguous() : at::Tensor();
}

// out = a @ w_kn
inline void step_mm(at::Tensor out, const at::Tensor& a, const at::Tensor& w_kn, const at::Tensor& w_nk) {
  if (w_nk.defined())
    out.copy_(onednn_linear(a, w_nk));
  else
    at::mm_out(out, a, w_kn);
}

// out = add + a @ w_kn
inline void step_addmm(at::Tensor out, const at::Tensor& add, const at::Tensor& a, const at::Tensor& w_kn,
                       const at::Tensor& w_nk) {
  if (w_nk.defined())
    at::add_out(out, add, onednn_linear(a, w_nk));
  else
    at::addmm_out(out, add, a, w_kn);
}

}  // namespace seqarena
