"""siraya_frames: label or transform a Polars DataFrame with an LLM through Siraya's batch API.

Examples
--------
>>> import siraya_frames as sf
>>> sf.__version__
'0.1.0'
"""

from __future__ import annotations

from siraya_frames import _errors as errors
from siraya_frames._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    InputError,
    InsufficientBalanceError,
    JobError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SirayaError,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "ConfigurationError",
    "InputError",
    "InsufficientBalanceError",
    "JobError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "SirayaError",
    "__version__",
    "errors",
]
