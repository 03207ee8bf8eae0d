"""The public conformance suite, as scikit-learn's estimator checks: a model or task someone registers is checked
against the contracts (models/base.py, tasks/base.py) with one call, and seqarena's own tests run the same checks
over every registered model and task.

    from seqarena.testing import check_model, check_task, model_checks

    check_model(MyModel)                          # every check on the default config
    check_model("lstm", bidirectional=True)       # a registered name, with config overrides
    for name, check in model_checks(MyModel):     # one pytest case per check
        check()
    check_task(MyTask, {"data": "my.csv"}, model={"name": "gru", "d_model": 8})
    check_export("runs/my-run", "runs/my-run/export")   # ONNX graphs with parity (needs seqarena[deploy])

A failed check raises an AssertionError whose message names the check and what was wrong.
"""

from seqarena.testing.export import check_export
from seqarena.testing.models import SPEC, check_model, model_checks
from seqarena.testing.tasks import check_task

__all__ = ["SPEC", "check_export", "check_model", "check_task", "model_checks"]
