"""`seqarena serve RUN [RUN ...]`: finished runs behind the Open Inference Protocol (KServe v2) with FastAPI.

    GET  /v2/health/live, /v2/health/ready
    GET  /v2/models/{name}                    metadata: inputs and outputs (-1: a variable dimension)
    GET  /v2/models/{name}/card               task, data, size, test metrics, export parity
    POST /v2/models/{name}/infer              whole-window inference (dynamically batched); with parameters
                                              sequence_id / sequence_start / sequence_end: one step of a stream
    POST /v2/models/{name}/generate_stream    language models: server-sent events, one per token

Every bad request is a 4xx with {"error": "<one line>"}, never a 500. Streams are keyed by sequence id, closed by
sequence_end or after `idle_s` without a request, and at most `max_streams` are open at once (as Triton's
sequence batcher). ONNX Runtime runs a run that has an export, eager PyTorch one that has not.

(No `from __future__ import annotations` here: FastAPI reads the request models from the annotations at runtime.)
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from seqarena.deploy import need
from seqarena.deploy.serving import Batcher, RequestError, Served, output_items, tensors
from seqarena.errors import SeqarenaError
from seqarena.files import dumps


def _models() -> Any:
    from pydantic import BaseModel, Field

    class Tensor(BaseModel):
        name: str = Field(max_length=200)
        shape: list[int] = Field(max_length=8)
        datatype: str = Field(max_length=16)
        data: list[Any]
        parameters: dict[str, Any] | None = None

    class InferRequest(BaseModel):
        id: str | None = Field(default=None, max_length=200)
        inputs: list[Tensor] = Field(min_length=1, max_length=16)
        outputs: list[dict[str, Any]] | None = None
        parameters: dict[str, Any] | None = None

    class GenerateRequest(BaseModel):
        text_input: str = Field(default="", max_length=100_000)
        parameters: dict[str, Any] | None = None

    return Tensor, InferRequest, GenerateRequest


def create_app(
    runs: dict[str, str | Path],
    *,
    kind: str = "auto",
    max_batch: int = 64,
    batch_wait_ms: float = 0.0,
    max_streams: int = 64,
    idle_s: float = 300.0,
    max_tokens: int = 512,
) -> Any:
    """The FastAPI app serving `runs` (name -> run directory)."""
    fastapi, _ = need("fastapi", "uvicorn")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    _, InferRequest, GenerateRequest = _models()
    served = {name: Served.load(name, path, kind) for name, path in runs.items()}
    for s in served.values():
        s.batcher = Batcher(s, max_batch, batch_wait_ms) if batch_wait_ms > 0 else None
    app = fastapi.FastAPI(title="seqarena", version="2", description="Open Inference Protocol (KServe v2)")

    def fail(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def _request_error(_: Any, exc: RequestError) -> JSONResponse:
        return fail(exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return fail(400, f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'malformed')})")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return fail(400, f"invalid request at {where}: {first.get('msg', 'malformed')}")

    @app.exception_handler(Exception)
    async def _unexpected(_: Any, exc: Exception) -> JSONResponse:  # a bug, but the client still gets one line
        return fail(500, f"internal error: {type(exc).__name__}: {str(exc)[:200]}")

    def get(name: str) -> Served:
        if name not in served:
            raise RequestError(404, f"unknown model '{name}'; this server has {sorted(served)}")
        return served[name]

    @app.get("/v2/health/live")
    def live() -> dict:
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready() -> dict:
        return {"ready": True}

    @app.get("/v2")
    def server() -> dict:
        return {
            "name": "seqarena",
            "version": "2",
            "extensions": ["sequence", "generate_stream"],
            "models": sorted(served),
        }

    @app.get("/v2/models/{name}")
    def metadata(name: str) -> dict:
        return get(name).metadata()

    @app.get("/v2/models/{name}/ready")
    def model_ready(name: str) -> dict:
        get(name)
        return {"name": name, "ready": True}

    @app.get("/v2/models/{name}/card")
    def model_card(name: str) -> dict:
        return get(name).card

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: InferRequest) -> dict:  # type: ignore[valid-type]
        s = get(name)
        params = request.parameters or {}
        if "sequence_id" in params:
            return _sequence_step(s, request, params)
        values = tensors(s, [i.model_dump() for i in request.inputs], max_batch)
        try:
            out = await s.batcher.infer(values) if s.batcher is not None else s.graphs.run(s.main, *values)
        except Exception as exc:  # noqa: BLE001 (well-formed but unusable input, e.g. a token id past the vocabulary)
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise RequestError(400, f"model '{name}' cannot run on this input: {first}") from None
        return {"model_name": name, "model_version": "1", "id": request.id, "outputs": output_items(s, out)}

    def _sequence_step(s: Served, request: Any, params: dict) -> dict:
        sid = str(params["sequence_id"])
        now = time.monotonic()
        for other in served.values():  # close streams idle for too long
            for key in [k for k, (_, used) in other.streams.items() if now - used > idle_s]:
                del other.streams[key]
        if params.get("sequence_start"):
            if sid not in s.streams and sum(len(o.streams) for o in served.values()) >= max_streams:
                raise RequestError(429, f"{max_streams} streams are open; end one (sequence_end) or wait {idle_s:g} s")
            why = s.can_stream()
            if why is not None:
                raise RequestError(400, why)
            s.streams[sid] = (s.run.task.streamer(s.run, s.graphs), now)
        if sid not in s.streams:
            raise RequestError(400, f"no open stream '{sid}' for '{s.name}'; start it with sequence_start=true")
        streamer = s.streams[sid][0]
        if len(request.inputs) != 1:
            raise RequestError(400, "a stream step takes one input: the new observation")
        item = request.inputs[0]
        try:
            obs = item.data[0] if item.datatype == "BYTES" else [float(v) for v in item.data]
            result = streamer.step(obs)
        except (SeqarenaError, TypeError, ValueError, IndexError) as exc:
            raise RequestError(400, f"stream '{sid}': {exc}") from None
        s.streams[sid] = (streamer, now)
        if params.get("sequence_end"):
            del s.streams[sid]
        body = {k: v for k, v in result.items() if k != "ms"}
        out = [{"name": "result", "datatype": "BYTES", "shape": [1], "data": [dumps(body)]}]
        return {"model_name": s.name, "id": request.id, "outputs": out, "parameters": {"sequence_id": sid, **body}}

    @app.post("/v2/models/{name}/generate_stream")
    def generate_stream(name: str, request: GenerateRequest) -> Any:  # type: ignore[valid-type]
        s = get(name)
        params = request.parameters or {}
        n, temperature = params.get("max_tokens", 32), params.get("temperature", 0.0)
        if not isinstance(n, int) or not 1 <= n <= max_tokens:
            raise RequestError(400, f"parameters.max_tokens must be an integer within 1..{max_tokens}")
        if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 10:
            raise RequestError(400, "parameters.temperature must be a number within 0..10")
        try:
            streamer = s.run.task.streamer(s.run, s.graphs)
        except SeqarenaError as exc:
            raise RequestError(400, str(exc)) from None
        if not hasattr(streamer, "continuation"):
            raise RequestError(400, f"model '{name}' is not a language model; use /infer")
        try:
            streamer.step(request.text_input)
        except SeqarenaError as exc:
            raise RequestError(400, str(exc)) from None

        def events() -> Iterator[str]:
            try:
                for i, tok in enumerate(streamer.continuation(n, float(temperature))):
                    yield f"data: {json.dumps({'index': i, 'text_output': tok['text'], 'id': tok['id']})}\n\n"
            except Exception as exc:  # noqa: BLE001 (after the first event the status is sent: an error event)
                yield f"event: error\ndata: {json.dumps({'error': str(exc)})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def parse_runs(specs: list[str]) -> dict[str, Path]:
    """RUN or NAME=RUN; the name defaults to the run directory's name."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path_ = Path(path)
        name = name or path_.resolve().name
        if name in out:
            raise SeqarenaError(f"two runs are served as '{name}'; name them with NAME=RUN")
        out[name] = path_
    return out


def serve(runs: list[str], host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    _, uvicorn = need("fastapi", "uvicorn")
    torch.set_num_threads(options.pop("threads", torch.get_num_threads()))
    app = create_app(parse_runs(runs), **options)
    uvicorn.run(app, host=host, port=port, log_level="warning")
