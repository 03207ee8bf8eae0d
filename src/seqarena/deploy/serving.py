"""What the server serves, without HTTP: one served run (its graphs, their input specs, its card), request
checking into tensors, a dynamic batcher for whole-window models, and a bounded table of open streams.

Every problem with a request is a RequestError (status, one line); the HTTP layer (serve.py) only translates.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqarena.deploy.runtime import backend
from seqarena.files import read_json

DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BOOL": np.bool_}
NAMES = {np.dtype(v).name: k for k, v in DTYPES.items()}
ORT_TYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64", "tensor(bool)": "BOOL"}
MAX_ELEMENTS = 1 << 24  # one request's tensor: far above any window, far below what would exhaust memory


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _specs_onnx(graphs: Any, name: str) -> tuple[list[dict], list[dict]]:
    sess = graphs.sessions[name]

    def spec(v: Any) -> dict:
        return {
            "name": v.name,
            "datatype": ORT_TYPES.get(v.type, v.type),
            "shape": [d if isinstance(d, int) else -1 for d in v.shape],
        }

    return [spec(v) for v in sess.get_inputs()], [spec(v) for v in sess.get_outputs()]


def _specs_eager(graph: Any) -> tuple[list[dict], list[dict]]:
    ins = []
    for n, t, axes in zip(graph.inputs, graph.example, graph.dynamic, strict=True):
        shape = [-1 if i in axes else int(s) for i, s in enumerate(t.shape)]
        ins.append({"name": n, "datatype": NAMES[str(t.numpy().dtype)], "shape": shape})
    one, two = graph.module(*graph.example), graph.module(*graph.second)
    one, two = (one, two) if isinstance(one, tuple) else ((one,), (two,))
    outs = []
    for n, a, b in zip(graph.outputs, one, two, strict=True):
        shape = [int(x) if x == y else -1 for x, y in zip(a.shape, b.shape, strict=True)]  # varies: variable
        outs.append({"name": n, "datatype": NAMES[str(a.detach().numpy().dtype)], "shape": shape})
    return ins, outs


@dataclass
class Served:
    name: str
    run: Any
    graphs: Any
    platform: str
    inputs: list[dict]
    outputs: list[dict]
    card: dict[str, Any]
    main: str = "window"  # the graph /infer runs: the whole-window graph (a seq2seq run: its encoder)
    streams: dict[str, tuple[Any, float]] = field(default_factory=dict)
    batcher: Batcher | None = None

    @classmethod
    def load(cls, name: str, run_dir: str | Path, kind: str = "auto") -> Served:
        from seqarena.run import load

        run = load(run_dir)
        graphs = backend(run, kind)
        onnx = hasattr(graphs, "sessions")
        first = run.task.export_graphs(run.model, run.artifacts)[0]
        if onnx and not graphs.has(first.name):  # streams only (a model that loops over time in Python)
            inputs, outputs = [], []
        elif onnx:
            inputs, outputs = _specs_onnx(graphs, first.name)
        else:
            with torch.inference_mode():
                inputs, outputs = _specs_eager(first)
        platform = "onnxruntime" if onnx else "pytorch"
        return cls(name, run, graphs, platform, inputs, outputs, card(run, graphs), main=first.name)

    def can_stream(self) -> str | None:
        """Why this run cannot stream (None: it can); asked once, the answer does not change while serving."""
        if not hasattr(self, "_stream_refusal"):
            try:
                self.run.task.streamer(self.run, self.graphs)
                self._stream_refusal = None
            except Exception as exc:  # noqa: BLE001 (the reason is the message)
                self._stream_refusal = str(exc)
        return self._stream_refusal

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": ["1"],
            "platform": self.platform,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "parameters": {"task": self.card["task"], "streams": self.can_stream() is None},
        }


def card(run: Any, graphs: Any) -> dict[str, Any]:
    """What a user should know before trusting the model: task, data, size, test metrics, export parity."""
    results = read_json(run.run_dir / "results.json") if (run.run_dir / "results.json").is_file() else {}
    test = {k: v for k, v in results.get("test", {}).items() if isinstance(v, (int, float))}
    out = {
        "task": run.config.task.name,
        "data": str(run.config.task.data),
        "model": run.config.model.name,
        "params": results.get("params"),
        "test": test,
        "status": results.get("status"),
    }
    if hasattr(graphs, "manifest"):
        out["export"] = {n: {"exporter": g["exporter"], "parity": g["parity"]} for n, g in graphs.graphs.items()}
    return out


def tensors(served: Served, inputs: list[dict], max_batch: int) -> list[torch.Tensor]:
    """The request's inputs as tensors in the graph's order, every problem a 400 naming the input."""
    if not served.inputs:
        raise RequestError(400, f"model '{served.name}' serves streams only: give parameters.sequence_id")
    by_name: dict[str, dict] = {}
    for item in inputs:
        if item["name"] in by_name:
            raise RequestError(400, f"input '{item['name']}' is given twice")
        by_name[item["name"]] = item
    expected = [s["name"] for s in served.inputs]
    unknown = sorted(set(by_name) - set(expected))
    if unknown:
        raise RequestError(400, f"unknown input(s) {unknown}; model '{served.name}' takes {expected}")
    out = []
    for spec in served.inputs:
        item = by_name.get(spec["name"])
        if item is None:
            raise RequestError(400, f"missing input '{spec['name']}' ({spec['datatype']}, shape {spec['shape']})")
        out.append(_tensor(item, spec, max_batch))
    batches = {int(t.shape[0]) for t in out}
    if len(batches) > 1:
        raise RequestError(400, f"the inputs disagree on the batch size: {sorted(batches)}")
    return out


def _tensor(item: dict, spec: dict, max_batch: int) -> torch.Tensor:
    name, shape = spec["name"], item["shape"]
    if item["datatype"] != spec["datatype"]:
        raise RequestError(400, f"input '{name}' must be {spec['datatype']}, not {item['datatype']}")
    if len(shape) != len(spec["shape"]) or any(s < 0 for s in shape):
        raise RequestError(400, f"input '{name}' must have shape {spec['shape']} (-1: any), not {shape}")
    for got, want in zip(shape, spec["shape"], strict=True):
        if want != -1 and got != want:
            raise RequestError(400, f"input '{name}' must have shape {spec['shape']} (-1: any), not {shape}")
    if 0 in shape:
        raise RequestError(400, f"input '{name}' is empty (shape {shape})")
    if shape[0] > max_batch:
        raise RequestError(400, f"input '{name}' has a batch of {shape[0]}; this server takes at most {max_batch}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise RequestError(400, f"input '{name}' has {math.prod(shape):,} elements; at most {MAX_ELEMENTS:,}")
    try:
        flat = np.asarray(item["data"], dtype=DTYPES[spec["datatype"]]).reshape(-1)
    except (ValueError, TypeError, OverflowError):
        raise RequestError(400, f"input '{name}': data are not all {spec['datatype']} values") from None
    if flat.size != math.prod(shape):
        raise RequestError(400, f"input '{name}' has {flat.size} values; shape {shape} needs {math.prod(shape)}")
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        raise RequestError(400, f"input '{name}' holds NaN or infinite values")
    return torch.from_numpy(flat.reshape(shape).copy())


def output_items(served: Served, values: tuple[torch.Tensor, ...]) -> list[dict[str, Any]]:
    items = []
    for spec, v in zip(served.outputs, values, strict=True):
        arr = v.detach().cpu().numpy()
        items.append({"name": spec["name"], "datatype": NAMES.get(arr.dtype.name, "FP32"), "shape": list(arr.shape),
                      "data": arr.reshape(-1).tolist()})  # fmt: skip
    return items


class Batcher:
    """Dynamic batching: requests that arrive within `wait_ms` of each other (up to `max_batch` rows, equal
    shapes but the batch) run as one call of the window graph."""

    def __init__(self, served: Served, max_batch: int, wait_ms: float) -> None:
        self.served, self.max_batch, self.wait = served, max_batch, wait_ms / 1e3
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    async def infer(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._loop())
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        await self.queue.put((inputs, done))
        return await done

    async def _loop(self) -> None:
        while True:
            first = await self.queue.get()
            group, rows = [first], int(first[0][0].shape[0])
            deadline = time.perf_counter() + self.wait
            while rows < self.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), left)
                except TimeoutError:
                    break
                if rows + int(nxt[0][0].shape[0]) > self.max_batch or not _same(first[0], nxt[0]):
                    await self._run([nxt])  # does not fit this batch: on its own
                    continue
                group.append(nxt)
                rows += int(nxt[0][0].shape[0])
            await self._run(group)

    async def _run(self, group: list) -> None:
        try:
            joined = [torch.cat([g[0][i] for g in group]) for i in range(len(group[0][0]))]
            out = await asyncio.to_thread(self.served.graphs.run, self.served.main, *joined)
            start = 0
            for inputs, done in group:
                n = int(inputs[0].shape[0])
                if not done.done():
                    done.set_result(tuple(o[start : start + n] for o in out))
                start += n
        except Exception as exc:  # noqa: BLE001 (handed to every waiting request)
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(x.shape[1:] == y.shape[1:] and x.dtype == y.dtype for x, y in zip(a, b, strict=True))
