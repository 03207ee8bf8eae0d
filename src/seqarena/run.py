"""Runs: `train(config, out)` makes a run directory; `load(run_dir)` rebuilds its model without unpickling.

A run directory holds config.yaml (resolved), run.json (seed, versions, threads, hardware, data checksum, the
parameter target), model.safetensors, the task's artifacts (task.json, and e.g. tokenizer.json), metrics.jsonl (one
line per epoch), results.json (per split), and checkpoint/ for --resume. Every input is validated before the
directory is created. Everything task-specific is asked of the task (tasks/base.py).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from seqarena import logs, machine, quality
from seqarena.config import RunConfig, build, dump_yaml, load_yaml, parse, to_dict
from seqarena.errors import SeqarenaError
from seqarena.files import check_writable, read_json, readable, write_json
from seqarena.lock import RunLock
from seqarena.models import kernels
from seqarena.models.base import count_params
from seqarena.registry import get_model, get_task
from seqarena.sizing import has_width
from seqarena.splits import check_split
from seqarena.training import checkpoint, distributed, flops, matmul, recipes
from seqarena.training.defaults import adapt, keep_resolved
from seqarena.training.loggers import tracking
from seqarena.training.loop import fit, short_training_note
from seqarena.training.optim import check_options
from seqarena.training.precision import resolve_device, resolve_precision


@dataclass
class RunResult:
    run_dir: Path
    config: RunConfig
    results: dict[str, dict[str, float]]
    history: list[dict[str, Any]] = field(default_factory=list)
    params: int = 0
    training: dict[str, Any] = field(default_factory=dict)  # train_seconds, time_to_best, best_epoch, step
    task: Any = None  # the task it trained with (data loaded), so callers measure the model without reloading
    model: nn.Module | None = None  # the trained model (the best epoch's weights), in eval mode
    warnings: list[str] = field(default_factory=list)  # e.g. far worse than the task's trivial baseline

    def predict(self, inputs: Any, **options: Any) -> Any:
        """The run's predictions for new inputs (for forecasting a DataFrame, a CSV/Parquet path or an array),
        computed from the saved run exactly as `seqarena.load(run_dir).predict(inputs)` computes them."""
        return load(self.run_dir).predict(inputs, **options)


@contextlib.contextmanager
def _determinism(on: bool) -> Iterator[None]:
    """torch's deterministic algorithms for the run (train.deterministic), as they were afterwards."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on or previous)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def check_out(out: Path, resume: bool) -> None:
    """Before any data is read: --out is a folder we can write, new or empty, or (with --resume) a run."""
    if out.exists() and not out.is_dir():
        raise SeqarenaError(f"--out {out} is a file; give a folder for the run")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "config.yaml").is_file():
            what = "holds no run config.yaml to resume" if resume else "already exists and holds something else"
            raise SeqarenaError(f"--out {out} {what}; choose another --out")
        if not resume:
            raise SeqarenaError(f"{out} already exists; pass --resume to continue that run or choose another --out")
        if (out / "results.json").is_file():
            raise SeqarenaError(f"{out} already finished; its results are in {out / 'results.json'}")
        checkpoint.verify(out / "checkpoint")
    check_writable(out, "--out")


CHANGEABLE = (
    "train.lr",
    "train.clip_norm",
    "train.max_epochs",
    "train.max_steps",
    "train.max_seconds",
    "train.patience",
    "train.loggers",
)


def _prepare_dir(out: Path, cfg: RunConfig, resume: bool, allow: list[str]) -> list[dict[str, Any]] | None:
    """Create the run dir, or check a resumed one matches; the changes --allow-change let through (None: created
    now)."""
    unknown = [k for k in allow if k not in CHANGEABLE]
    if unknown:
        raise SeqarenaError(f"--allow-change {unknown[0]}: a resumed run may change only {', '.join(CHANGEABLE)}")
    saved = out / "config.yaml"
    if not (resume and saved.is_file()):
        out.mkdir(parents=True, exist_ok=True)
        return None
    old = to_dict(build(load_yaml(saved)))
    new = to_dict(cfg)
    old["train"]["progress"] = new["train"]["progress"]
    diff = [f"{s}.{k}" for s in new for k in new[s] if old[s].get(k) != new[s][k]]
    refused = [key for key in diff if key not in allow]
    if refused:
        hint = (
            f"; to change {refused[0]} on purpose add --allow-change {refused[0]}" if refused[0] in CHANGEABLE else ""
        )
        raise SeqarenaError(
            f"--resume: {out} was started with other settings ({', '.join(refused[:5])}); "
            f"use the same command or a new --out{hint}"
        )
    earlier = read_json(out / "run.json").get("changes", []) if (out / "run.json").is_file() else []
    changes = []
    for key in diff:
        section, name = key.split(".", 1)
        changes.append({"key": key, "from": old[section][name], "to": new[section][name], "at": time.strftime("%F %T")})
    return earlier + changes


def train(
    config: RunConfig | dict | str | Path,
    out: str | Path,
    *,
    overrides: list[str] | None = None,
    resume: bool = False,
    allow_change: list[str] | None = None,
    log: Callable[[str], None] = logs.info,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train one model on one task; validate everything first, then write the run directory. A resumed run must
    have the same settings, except those named in `allow_change` (e.g. a lower "train.lr" after a divergence),
    which run.json records. `on_epoch` gets every epoch's record after the trackers (a tuner's pruning hook)."""
    given = parse(config, overrides)
    out = Path(out)
    device = resolve_device(given.train.device)
    world = distributed.from_env(device.type)  # torchrun: this rank; else the single process
    if world.main:
        check_out(out, resume)
    else:
        log = lambda _: None  # noqa: E731 - rank 0 speaks and writes for the run
    target = given.model.params if has_width(given.model) else None
    if given.train.threads or given.train.deterministic:
        torch.set_num_threads(given.train.threads or 1)  # float sums depend on how many threads share them
    elif world.active:
        torch.set_num_threads(max(1, distributed.cores() // world.size))  # the ranks share this machine's cores
    if world.active and given.train.max_seconds is not None:
        raise SeqarenaError("train.max_seconds cannot be honoured across torchrun ranks (each would stop at its own "
                            "step); give train.max_epochs or train.max_steps")  # fmt: skip
    device = distributed.device_for(device, world)
    precision = resolve_precision(given.train.precision, device)
    gemm = matmul.choose(given.train.matmul, device, precision[0], given.train.deterministic)  # (used, why)
    check_options(given.train)
    task_cls = get_task(given.task.name)
    task_cls.check_model(get_model(given.model.name), given.model)  # before any data is read
    if resume and (out / "config.yaml").is_file():  # a resumed run keeps the values its "auto" options took
        given = replace(given, train=keep_resolved(given.train, build(load_yaml(out / "config.yaml")).train))
    task = task_cls(given)  # loads and checks the data; task.cfg is the resolved config
    task.cfg, chosen = adapt(task.cfg, task.n_train(), task.validates)  # "auto" train options: by the data size
    cfg = task.cfg
    for note in task.notes:
        log(note)
    torch.manual_seed(cfg.train.seed)
    model = task.build_model(cfg).to(device)
    trainer, recipes_info, pruned = recipes.prepare(task, model, cfg.train, device, load)  # init, prune, teacher
    matmul.install(model, gemm[0])  # oneDNN linear layers where this CPU runs them faster
    if pruned is not None:  # config.yaml describes the smaller model that is trained and saved
        cfg = task.cfg = replace(cfg, model=pruned)
    changes = _prepare_dir(out, cfg, resume, allow_change or []) if world.main else []
    created = changes is None
    lock = RunLock(out) if world.main else contextlib.nullcontext()  # a refused second process leaves the run alone
    with _determinism(cfg.train.deterministic), lock:
        if not world.main:  # another rank: train its share, write nothing
            state = {"history": []}
            if count_params(model) > 0:
                state = fit(trainer, model, cfg.train, out, device, precision[0], cfg.eval.batch_size, log, world=world)
            return RunResult(out, cfg, {}, state["history"], count_params(model), {}, task, model.eval())
        try:
            dump_yaml(cfg, out / "config.yaml")
            env = machine.environment(torch.get_num_threads(), device, precision, gemm)
            info = {
                "seed": cfg.train.seed,
                "params": count_params(model),
                "params_target": target,  # model.params as given; config.yaml holds the width it solved to
                "data": {"name": cfg.task.data, "sha256": task.data_sha256, "values_sha256": task.values_checksum()},
                "environment": env,
                "changes": changes or [],  # settings changed on --resume with --allow-change
                "distributed": distributed.describe(world),  # torchrun ranks and backend (None: one process)
                "kernels": kernels.describe(model, device),  # e.g. a GRU's time loop: seqarena's C++ or nn.GRU
                **recipes_info,  # the teacher (distillation), the warm start and the unfreezing schedule
            }
            write_json(out / "run.json", info)
            if chosen:
                log(chosen)
            log(
                f"{cfg.model.name} on {cfg.task.data}: {info['params']:,} parameters, {task.n_train():,} training "
                f"examples, {env['threads']} threads, {precision[0]} ({precision[1]})"
            )
            note = short_training_note(task.n_train(), cfg.train)
            if note:
                log(note)
            state: dict[str, Any] = {"history": []}
            with tracking(cfg.train.loggers, to_dict(cfg), out) as trackers:
                if count_params(model) > 0:  # parameter-free baselines have nothing to train
                    state = fit(trainer, model, cfg.train, out, device, precision[0], cfg.eval.batch_size, log,
                                _chain(trackers.epoch, on_epoch), world)  # fmt: skip
                save_model(model, str(out / "model.safetensors"))
                readable(out / "model.safetensors")
                info["throughput"] = flops.utilisation(task, model, state["history"], device)  # FLOPs, MFU
                write_json(out / "run.json", info)
                task.calibrate(model, device)  # e.g. conformal intervals from the validation errors
                task.save_artifacts(out)
                splits = ("val", "test") if task.validates else ("test",)
                results = {s: task.evaluate(model, s, cfg.eval.batch_size, device) for s in splits}
                timing = {k: state.get(k) for k in ("train_seconds", "time_to_best", "best_epoch", "step")}
                invalid, flags = quality.non_finite(results), quality.warnings(task_cls, results)
                status = "invalid: not finite: " + ", ".join(invalid) if invalid else "ok"
                summary = {**results, "training": timing, "params": info["params"], "status": status,
                           "warnings": flags}  # fmt: skip
                write_json(out / "results.json", summary)  # non-finite values are written as null
                trackers.final(results)
        except BaseException:
            if created and not (out / "checkpoint" / "latest.json").exists():
                shutil.rmtree(out, ignore_errors=True)  # nothing worth resuming: leave no half-written run behind
            raise
    if invalid:
        raise SeqarenaError(
            f"{out}: {', '.join(invalid)} came out NaN or infinite; check the data for extreme values or lower "
            f"train.lr (results.json marks the run invalid)"
        )
    for flag in flags:
        log(f"warning: {flag}")
    return RunResult(out, cfg, results, state["history"], info["params"], timing, task, model.eval(), flags)


def _chain(*hooks: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    def call(record: dict[str, Any]) -> None:
        for hook in hooks:
            if hook is not None:
                hook(record)

    return call


def check_weights(model: nn.Module, path: Path) -> None:
    """The weights file holds exactly the tensors, and shapes, that the config builds; else a one-line error."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            stored = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError) as exc:
        raise SeqarenaError(f"{path} is damaged ({str(exc)[:120]}); train the run again") from None
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for name in sorted(set(stored) | set(wanted)):
        if stored.get(name) != wanted.get(name):
            raise SeqarenaError(
                f"{path} holds {name} with shape {stored.get(name)} where config.yaml builds {wanted.get(name)}: the "
                f"config was edited or belongs to another run; restore it or train again"
            )


@dataclass
class LoadedRun:
    run_dir: Path
    config: RunConfig
    model: Any  # the task's model (e.g. ForecastModel, LMModel), in eval mode
    artifacts: dict[str, Any]

    @property
    def task(self) -> Any:
        """The task class (tasks/base.py) of this run."""
        return get_task(self.config.task.name)

    def predict(self, inputs: Any, **options: Any) -> Any:
        """Predictions for new inputs, e.g. a forecasting run's DataFrame of the next `horizon` steps."""
        return self.task.predict(self, inputs, **options)[0]


def load(run_dir: str | Path) -> LoadedRun:
    """Rebuild a finished run's model from config.yaml, the task's artifacts and model.safetensors (no pickle)."""
    run_dir = Path(run_dir)
    for name in ("config.yaml", "model.safetensors"):
        if not (run_dir / name).is_file():
            raise SeqarenaError(
                f"{run_dir} is not a finished run (no {name}); train it first or finish it with --resume"
            )
    try:
        cfg = build(load_yaml(run_dir / "config.yaml"))
    except SeqarenaError as exc:
        raise SeqarenaError(f"{run_dir / 'config.yaml'}: {exc}") from None
    task_cls = get_task(cfg.task.name)
    art = task_cls.load_artifacts(run_dir)
    try:
        model = task_cls.load_model(cfg, art)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SeqarenaError(
            f"{run_dir}: task.json does not fit config.yaml ({type(exc).__name__}: {exc}); train the run again"
        ) from None
    check_weights(model, run_dir / "model.safetensors")
    load_model(model, str(run_dir / "model.safetensors"))
    model.eval()
    return LoadedRun(run_dir, cfg, model, art)


def evaluate(run_dir: str | Path, split: str | None = None) -> dict[str, Any]:
    """A finished run's metrics on a split (default: its eval.split), with the data loaded again."""
    run = load(run_dir)
    split = check_split(split or run.config.eval.split)
    return _evaluate(run, run.config, split)


def _evaluate(run: LoadedRun, cfg: RunConfig, split: str) -> dict[str, Any]:
    task = run.task(cfg, run.run_dir)
    started = time.perf_counter()
    task.calibrate(run.model, torch.device("cpu"))
    metrics = task.evaluate(run.model, split, cfg.eval.batch_size, torch.device("cpu"))
    return {**metrics, "seconds": round(time.perf_counter() - started, 3)}


def evaluate_lengths(run_dir: str | Path, lengths: list[int], split: str | None = None) -> dict[int, dict[str, Any]]:
    """A finished run scored on sequences of other lengths than it trained on (length extrapolation): its task's
    length option (Task.length_key) set to each length in turn. A length the model cannot take at all (beyond a
    learned position table) gets {"error": why} instead of metrics."""
    return lengths_of(load(run_dir), lengths, split)


def lengths_of(run: LoadedRun, lengths: list[int], split: str | None = None) -> dict[int, dict[str, Any]]:
    key = run.task.length_key
    if key is None:
        raise SeqarenaError(f"task '{run.task.name}' has no sequence length to vary; --lengths needs a task with one")
    bad = [n for n in lengths if not isinstance(n, int) or n < 1]
    if bad or not lengths:
        raise SeqarenaError(f"lengths must be whole numbers >= 1 (got {bad or lengths}), e.g. --lengths 512,1024")
    split = check_split(split or run.config.eval.split)
    out: dict[int, dict[str, Any]] = {}
    for n in lengths:
        cfg = replace(run.config, task=replace(run.config.task, **{key: n}))
        try:
            out[n] = _evaluate(run, cfg, split)
        except (ValueError, RuntimeError) as exc:  # e.g. past a learned position table's max_len
            out[n] = {"error": str(exc).splitlines()[0]}
    return out


def predict(run_dir: str | Path, inputs: Any, **options: Any) -> tuple[Any, str]:
    """Predictions of a finished run for new inputs (a file path; for forecasting also a DataFrame or an array), as
    a pandas DataFrame, and a phrase saying what they are."""
    run = load(run_dir)
    return run.task.predict(run, inputs if not isinstance(inputs, str) else Path(inputs), **options)


def backtest(run_dir: str | Path, windows: int = 5, step: int | None = None, refit: str | int = "none",
             log: Callable[[str], None] = logs.info) -> dict[str, Any]:  # fmt: skip
    """Rolling-origin evaluation (forecasting): `windows` origins `step` rows apart (default: the horizon), the
    last at the end of the test split; `refit` none, every, or K: train the run's config again on the rows before
    every K-th origin. Per-window metrics and their pooled mean."""
    run = load(run_dir)
    return run.task.backtest(run, windows, step, refit, log)


def generate(run_dir: str | Path, prompt: str = "", **options: Any) -> dict[str, Any]:
    """Sample text from a finished language-model run: the samples, speed (tokens/s, words/s, threads) and
    repetition/diversity metrics. Options: num_samples, stop, on_text, and the fields of
    seqarena.tasks.generate.Sampling."""
    run = load(run_dir)
    return run.task.generate(run, prompt, **options)


def translate(run_dir: str | Path, texts: list[str], *, beam: int | None = None, attention: bool = False) -> dict:
    """Translate sentences with a finished sequence-to-sequence run: outputs, speed and (greedy, `attention`) the
    first sentence's attention over the source."""
    run = load(run_dir)
    return run.task.translate(run, texts, beam=beam, attention=attention)
