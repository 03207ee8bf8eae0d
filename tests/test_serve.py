"""`seqarena serve` as a real process on 127.0.0.1, driven with httpx: the Open Inference Protocol, a stateful
stream, server-sent tokens, and malformed requests that must get a 4xx with one line, never a 500."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.test_deploy import QUIET, corpus, sines

from seqarena.deploy.export import export
from seqarena.deploy.serve import create_app
from seqarena.run import train


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve")
    quiet = {"log": lambda *a, **k: None}
    f = train({}, root / "f", overrides=["model.name=lstm", "model.d_model=16", "train.max_steps=20", *QUIET], **quiet)
    c = train({}, root / "c", overrides=["task.name=classify", f"task.data={sines(root / 's.csv')}", "model.name=gru",
                                         "model.d_model=16", "train.max_steps=5", *QUIET], **quiet)  # fmt: skip
    lm = train({}, root / "lm", overrides=["task.name=lm", f"task.data={corpus(root / 'c.txt')}", "model.name=gru",
                                           "model.d_model=16", "train.max_steps=20", *QUIET], **quiet)  # fmt: skip
    export(f.run_dir)  # served by ONNX Runtime; the others eagerly
    return {"f": f.run_dir, "c": c.run_dir, "lm": lm.run_dir}


@pytest.fixture(scope="module")
def server(trained: dict[str, Path]) -> Iterator[tuple[str, dict]]:
    port = free_port()
    cmd = [sys.executable, "-m", "seqarena", "serve", *(f"{k}={v}" for k, v in trained.items()),
           "--port", str(port), "--max-streams", "2", "--max-batch", "8", "--batch-wait-ms", "5"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
        if proc.poll() is not None:
            pytest.fail(f"seqarena serve exited: {proc.stderr.read()}")
    else:
        proc.kill()
        pytest.fail("seqarena serve did not come up within 120 s")
    try:
        yield url, {"lookback": 0}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        assert "Traceback" not in proc.stderr.read()


def window(url: str, name: str) -> list[int]:
    return httpx.get(f"{url}/v2/models/{name}").json()["inputs"][0]["shape"]


def test_health_metadata_card_and_infer(server: tuple[str, dict]) -> None:
    url, _ = server
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    meta = httpx.get(f"{url}/v2/models/f").json()
    assert meta["platform"] == "onnxruntime" and meta["inputs"][0]["shape"][0] == -1
    assert httpx.get(f"{url}/v2/models/c").json()["platform"] == "pytorch"
    card = httpx.get(f"{url}/v2/models/f/card").json()
    assert card["task"] == "forecast" and "mse" in card["test"] and card["export"]["window"]["parity"]
    _, L, C = meta["inputs"][0]["shape"]
    body = {
        "id": "r1",
        "inputs": [{"name": "x", "shape": [2, L, C], "datatype": "FP32", "data": [330.0] * (2 * L * C)}],
    }
    out = httpx.post(f"{url}/v2/models/f/infer", json=body).json()
    assert out["id"] == "r1" and out["outputs"][0]["name"] == "y" and out["outputs"][0]["shape"][0] == 2
    y = out["outputs"][0]
    assert len(y["data"]) == 2 * y["shape"][1] * y["shape"][2]


def test_stateful_stream_and_its_limit(server: tuple[str, dict]) -> None:
    url, _ = server

    def step(sid: str, value: float, **flags: bool) -> httpx.Response:
        body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [value]}],
                "parameters": {"sequence_id": sid, **flags}}  # fmt: skip
        return httpx.post(f"{url}/v2/models/c/infer", json=body)

    first = step("a", 0.5, sequence_start=True).json()["parameters"]
    second = step("a", 0.2).json()["parameters"]
    assert (first["step"], second["step"]) == (1, 2) and set(second["probs"]) == {"c0", "c1"}
    assert step("b", 0.1, sequence_start=True).status_code == 200
    full = step("z", 0.1, sequence_start=True)
    assert full.status_code == 429 and "streams are open" in full.json()["error"]
    assert step("a", 0.3, sequence_end=True).status_code == 200
    assert step("a", 0.3).status_code == 400  # ended
    assert step("z", 0.1, sequence_start=True).status_code == 200  # a slot is free again


def test_generate_stream_sends_one_event_per_token(server: tuple[str, dict]) -> None:
    url, _ = server
    body = {"text_input": "line 3 of", "parameters": {"max_tokens": 6}}
    with httpx.stream("POST", f"{url}/v2/models/lm/generate_stream", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    assert [e["index"] for e in events] == list(range(6)) and all("text_output" in e for e in events)
    bad = httpx.post(f"{url}/v2/models/f/generate_stream", json={"text_input": "x"})
    assert bad.status_code == 400 and "not a language model" in bad.json()["error"]


MALFORMED = [
    ("wrong shape", "f", {"inputs": [{"name": "x", "shape": [1, 3, 1], "datatype": "FP32", "data": [1, 2, 3]}]}),
    ("wrong datatype", "f", {"inputs": [{"name": "x", "shape": [1, 1, 1], "datatype": "INT64", "data": [1]}]}),
    ("missing input", "c", {"inputs": [{"name": "x", "shape": [1, 3, 1], "datatype": "FP32", "data": [1, 2, 3]}]}),
    ("unknown input", "f", {"inputs": [{"name": "q", "shape": [1], "datatype": "FP32", "data": [1]}]}),
    ("no inputs", "f", {"inputs": []}),
    ("too few values", "c", {"inputs": [{"name": "x", "shape": [1, 3, 1], "datatype": "FP32", "data": [1]},
                                        {"name": "mask", "shape": [1, 3], "datatype": "BOOL", "data": [1, 1, 1]}]}),
    ("strings as numbers", "c", {"inputs": [{"name": "x", "shape": [1, 1, 1], "datatype": "FP32", "data": ["a"]},
                                            {"name": "mask", "shape": [1, 1], "datatype": "BOOL", "data": [1]}]}),
    ("unknown stream", "c", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                             "parameters": {"sequence_id": "never-started"}}),
    ("forecast stream of two values", "f", {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}],
                                            "parameters": {"sequence_id": "q", "sequence_start": True}}),
    ("unknown model", "nope", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}),
    ("token id past the vocabulary", "lm", {"inputs": [{"name": "ids", "shape": [1, 2], "datatype": "INT64",
                                                        "data": [1, 10**6]}]}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "model", "body"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_a_4xx_and_one_line(server: tuple[str, dict], what: str, model: str, body: dict) -> None:
    url, _ = server
    r = httpx.post(f"{url}/v2/models/{model}/infer", json=body)
    assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
    error = r.json()["error"]
    assert isinstance(error, str) and "\n" not in error and error


def test_nan_oversized_and_broken_json(server: tuple[str, dict]) -> None:
    url, _ = server
    _, L, C = window(url, "f")
    values = ", ".join(["NaN"] + ["0.1"] * (L * C - 1))
    nan = f'{{"inputs": [{{"name": "x", "shape": [1, {L}, {C}], "datatype": "FP32", "data": [{values}]}}]}}'
    r = httpx.post(f"{url}/v2/models/f/infer", content=nan, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "NaN" in r.json()["error"]
    big = {"inputs": [{"name": "x", "shape": [9, L, C], "datatype": "FP32", "data": [0.1] * (9 * L * C)}]}
    r = httpx.post(f"{url}/v2/models/f/infer", json=big)
    assert r.status_code == 400 and "at most 8" in r.json()["error"]
    r = httpx.post(f"{url}/v2/models/f/infer", content="{broken", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]


def test_dynamic_batching_answers_each_request_with_its_own_rows(server: tuple[str, dict]) -> None:
    import concurrent.futures

    url, _ = server
    _, L, C = window(url, "f")

    def one(v: float) -> list[float]:
        body = {"inputs": [{"name": "x", "shape": [1, L, C], "datatype": "FP32", "data": [v] * (L * C)}]}
        return httpx.post(f"{url}/v2/models/f/infer", json=body).json()["outputs"][0]["data"]

    levels = (320.0, 340.0, 360.0)  # co2 ppm: the inputs and outputs are in the data's own units
    alone = {v: one(v) for v in levels}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        together = list(pool.map(one, levels * 4))
    for v, got in zip(levels * 4, together, strict=True):
        assert got == pytest.approx(alone[v], rel=1e-5)


def test_generated_requests_never_get_a_server_error(trained: dict[str, Path]) -> None:
    """schemathesis draws requests for every operation of the server's OpenAPI schema (bounded examples)."""
    app = create_app({k: str(v) for k, v in trained.items()}, batch_wait_ms=0, max_streams=4)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen, statuses = 0, set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy(), st.sampled_from([None, *trained]))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case, model: str | None) -> None:
            if model is not None and case.path_parameters and "name" in case.path_parameters:
                case.path_parameters["name"] = model  # a real model, so the body is what gets tested
            response = case.call()
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
            statuses.add(response.status_code)

        check()
        seen += 1
    assert {200, 400, 404} <= statuses, statuses
    assert seen >= 8  # health, metadata, card, infer, generate_stream, ...
