"""siraya_frames: label or transform a Polars DataFrame with an LLM through Siraya's batch API.

The flow, each step a plain function: :func:`build_requests` → :func:`estimate` →
:func:`submit` (a :class:`Job`) → :meth:`Job.wait` → :meth:`Job.results` →
:func:`join_results` → :func:`write_parquet`; or all of it at once with :func:`run`.
:func:`preview` answers a few rows now (the synchronous endpoint), to try a prompt first.

Examples
--------
>>> import siraya_frames as sf
>>> sf.__version__
'0.1.0'
"""

from __future__ import annotations

from siraya_frames import _errors as errors
from siraya_frames import (
    _namespace,  # noqa: F401  (registers df.siraya)
    _pandas,
)
from siraya_frames._agreement import Agreement, agreement
from siraya_frames._build import build_requests
from siraya_frames._client import AsyncSirayaClient, RetryPolicy, SirayaClient
from siraya_frames._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    InputError,
    InsufficientBalanceError,
    JobError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SirayaError,
    WaitTimeoutError,
)
from siraya_frames._estimate import PRICES, PRICES_AS_OF, estimate
from siraya_frames._evaluate import ExtractionEvaluation, LabelEvaluation, evaluate
from siraya_frames._extract import parse_extraction
from siraya_frames._job import Job, JobStatus, submit
from siraya_frames._join import join_results
from siraya_frames._labels import parse_labels
from siraya_frames._models import models
from siraya_frames._parquet import read_provenance, write_parquet
from siraya_frames._plan import BatchPayload, plan_batches, write_jsonl
from siraya_frames._plots import plot_confusion, plot_labels
from siraya_frames._polling import PollSchedule
from siraya_frames._preview import preview
from siraya_frames._ratelimit import RateLimiter
from siraya_frames._results import RESULT_SCHEMA, ResultsWarning, read_results
from siraya_frames._run import run, summarize
from siraya_frames._shapes import BatchState, BatchStatus

__version__ = "0.1.0"

_pandas.install()  # pdf.siraya, without importing pandas (see _pandas.py)

__all__ = [
    "PRICES",
    "PRICES_AS_OF",
    "RESULT_SCHEMA",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "Agreement",
    "AsyncSirayaClient",
    "AuthenticationError",
    "BatchPayload",
    "BatchState",
    "BatchStatus",
    "BudgetExceededError",
    "ConfigurationError",
    "ExtractionEvaluation",
    "InputError",
    "InsufficientBalanceError",
    "Job",
    "JobError",
    "JobStatus",
    "LabelEvaluation",
    "NotFoundError",
    "PollSchedule",
    "RateLimitError",
    "RateLimiter",
    "ResultsWarning",
    "RetryPolicy",
    "ServerError",
    "SirayaClient",
    "SirayaError",
    "WaitTimeoutError",
    "__version__",
    "agreement",
    "build_requests",
    "errors",
    "estimate",
    "evaluate",
    "join_results",
    "models",
    "parse_extraction",
    "parse_labels",
    "plan_batches",
    "plot_confusion",
    "plot_labels",
    "preview",
    "read_provenance",
    "read_results",
    "run",
    "submit",
    "summarize",
    "write_jsonl",
    "write_parquet",
]
