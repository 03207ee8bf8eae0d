"""Real series that ship inside a dependency, so the default job needs no download."""

from __future__ import annotations

import numpy as np

from seqarena.data.timeseries import Series
from seqarena.errors import DataError


def load_embedded(name: str) -> tuple[Series, str]:
    if name != "co2":
        raise DataError(f"no embedded dataset named '{name}'")
    try:
        import statsmodels
        from statsmodels.datasets import co2
    except ImportError:
        raise DataError("the embedded co2 series needs statsmodels: pip install statsmodels") from None
    frame = co2.load_pandas().data  # weekly, DatetimeIndex, one column 'co2' with 59 gaps
    series = Series(frame.to_numpy(dtype=np.float64), ["co2"], frame.index, "statsmodels:co2")
    return series, f"statsmodels=={statsmodels.__version__}:co2"
