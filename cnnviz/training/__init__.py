"""Training runs in the background: registry, queue, live state, Stop, runs kept on disk.

Light to import (no TensorFlow): the page holds a :class:`RunManager` in
``st.cache_resource`` and reads :meth:`Run.snapshot`. The Keras side (input pipeline,
the bridge callback, ``train_model``) is in :mod:`cnnviz.training.fit`, imported by the
worker when a run trains.
"""

from cnnviz.training.manager import (
    Limits,
    ModelProgress,
    QueueFullError,
    Run,
    RunBudgetError,
    RunContext,
    RunManager,
    default_max_runs,
)
from cnnviz.training.store import (
    DONE_STATUSES,
    MARKER,
    RunDiskFullError,
    RunRecord,
    TrainingError,
    UnknownRunError,
    list_runs,
    load_run,
    run_dir,
    runs_root,
)

__all__ = [
    "DONE_STATUSES", "Limits", "MARKER", "ModelProgress", "QueueFullError", "RunBudgetError", "Run", "RunContext", "RunDiskFullError", "RunManager", "RunRecord", "TrainingError",
    "UnknownRunError", "default_max_runs", "list_runs", "load_run", "run_dir", "runs_root",
]
