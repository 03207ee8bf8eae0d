"""Running an export with ONNX Runtime: one session per graph, inputs and outputs as torch tensors, so the task's
own evaluate() can score an exported (or int8) model through a stand-in for the eager one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqarena.deploy.export import read_manifest, session


class OnnxGraphs:
    """The graphs of an export directory; `suffix` picks the fp32 files ("") or the int8 ones (".int8")."""

    def __init__(self, export_dir: str | Path, suffix: str = "", threads: int = 1) -> None:
        self.dir = Path(export_dir)
        self.manifest = read_manifest(self.dir)
        self.graphs: dict[str, dict[str, Any]] = self.manifest["graphs"]
        self.sessions = {}
        for name in self.graphs:
            path = self.dir / f"{name}{suffix}.onnx"
            if path.is_file():
                self.sessions[name] = session(path, threads)
        self.inputs: dict[str, list[str]] = {}  # every input in call order, state_in_<i> last
        self.present: dict[str, set[str]] = {}  # what the file takes (the tracer drops a state input it never reads)
        for name, sess in self.sessions.items():
            names = [i.name for i in sess.get_inputs()]
            k = int(self.graphs[name].get("state", 0))
            self.inputs[name] = [n for n in names if not n.startswith("state_in_")] + [
                f"state_in_{i}" for i in range(k)
            ]
            self.present[name] = set(names)
        self.outputs = {n: [o.name for o in s.get_outputs()] for n, s in self.sessions.items()}

    def has(self, name: str) -> bool:
        return name in self.sessions

    def run_numpy(self, name: str, *inputs: np.ndarray) -> list[np.ndarray]:
        feed = {n: a for n, a in zip(self.inputs[name], inputs, strict=True) if n in self.present[name]}
        return self.sessions[name].run(self.outputs[name], feed)

    def run(self, name: str, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        arrays = [t.detach().cpu().numpy() for t in inputs]
        return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in self.run_numpy(name, *arrays))


class EagerGraphs:
    """The same graphs run by PyTorch (no export needed): the eager side of a streamer or a server."""

    def __init__(self, graphs: list[Any]) -> None:
        self.modules = {g.name: g.module.eval() for g in graphs}

    def has(self, name: str) -> bool:
        return name in self.modules

    @torch.inference_mode()
    def run(self, name: str, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.modules[name](*inputs)
        return out if isinstance(out, tuple) else (out,)


def backend(run: Any, kind: str = "auto", export_dir: str | Path | None = None, threads: int = 1) -> Any:
    """ONNX Runtime on the run's export (kind onnx, or auto when an export exists), else eager PyTorch."""
    from seqarena.errors import SeqarenaError

    if kind not in ("auto", "onnx", "eager"):
        raise SeqarenaError(f"--backend={kind!r} is not one of auto, onnx, eager")
    export_dir = Path(export_dir) if export_dir is not None else run.run_dir / "export"
    if kind == "onnx" or (kind == "auto" and (export_dir / "export.json").is_file()):
        return OnnxGraphs(export_dir, threads=threads)
    torch.set_num_threads(threads)
    return EagerGraphs(run.task.export_graphs(run.model, run.artifacts))
