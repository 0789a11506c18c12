"""The one exception tree of siraya_frames.

Every error this library raises on purpose is a :class:`SirayaError`::

    SirayaError
    ├── ConfigurationError            a missing API key, a refused base URL, a bad setting
    ├── InputError (ValueError)       bad frame or parameter, caught before any spend
    │   ├── ColumnNotFoundError       a template or argument names a missing column
    │   ├── NullValueError            a referenced column holds nulls (see ``on_null``)
    │   ├── ParameterError            a request parameter is out of range or of the wrong type
    │   ├── BatchLimitError           one request alone is over the batch byte limit
    │   ├── BudgetExceededError       the estimated cost is over ``max_cost_usd``
    │   └── JobMismatchError          a job directory holds another task (prompt, model...)
    ├── APIError                      talking to the service went wrong
    │   ├── APIConnectionError        no HTTP answer (after the retries allowed)
    │   │   └── APITimeoutError
    │   ├── APIStatusError            an HTTP error status; carries ``status_code``
    │   │   ├── BadRequestError             400
    │   │   ├── AuthenticationError         401
    │   │   ├── InsufficientBalanceError    402
    │   │   ├── PermissionDeniedError       403
    │   │   ├── NotFoundError               404
    │   │   ├── IdempotencyConflictError    409 on a create: its key was used for another body
    │   │   ├── RequestTooLargeError        413
    │   │   ├── UnprocessableEntityError    422
    │   │   ├── RateLimitError              429
    │   │   └── ServerError                 5xx (and 529)
    │   └── UnexpectedResponseError   an answer of a shape no documented dialect has
    └── JobError                      a job directory that cannot be used as asked
        ├── JobNotFoundError          no job at that path
        ├── JobBusyError              another process is changing the job right now
        ├── JobStoreError             the job directory could not be written (disk full...)
        └── WaitTimeoutError (TimeoutError)  ``wait(timeout=...)`` ran out; batches go on

Errors carry what a user needs to act on: the batch id, the HTTP status, the server's
message, the column, row or parameter at fault, and the fix. They never carry the API key.

Examples
--------
>>> from siraya_frames import errors
>>> err = errors.NotFoundError("batch not found", status_code=404, batch_id="batch_1")
>>> isinstance(err, errors.APIStatusError), err.status_code, err.batch_id
(True, 404, 'batch_1')
"""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchLimitError",
    "BudgetExceededError",
    "ColumnNotFoundError",
    "ConfigurationError",
    "IdempotencyConflictError",
    "InputError",
    "InsufficientBalanceError",
    "JobBusyError",
    "JobError",
    "JobMismatchError",
    "JobNotFoundError",
    "JobStoreError",
    "NotFoundError",
    "NullValueError",
    "ParameterError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ServerError",
    "SirayaError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "error_for_status",
]


class SirayaError(Exception):
    """Base class of every error raised by siraya_frames."""


class ConfigurationError(SirayaError):
    """A setting is missing or refused (API key, base URL, option value)."""


class InputError(SirayaError, ValueError):
    """The input frame or a parameter is invalid; nothing was sent."""


class ColumnNotFoundError(InputError):
    """A template placeholder or an argument names a column the frame does not have."""


class NullValueError(InputError):
    """A column used to build requests holds nulls and ``on_null="error"``."""


class ParameterError(InputError):
    """A request parameter has the wrong type or is out of range."""


class BatchLimitError(InputError):
    """A single request is larger than the per-batch byte limit."""


class BudgetExceededError(InputError):
    """The estimated cost of a run is over its ``max_cost_usd`` (or cannot be estimated)."""


class JobMismatchError(InputError):
    """The job directory holds another task (another prompt, model, labels...); nothing was
    sent. Use another ``job_dir``, or delete that one."""


class APIError(SirayaError):
    """A call to the batch service failed.

    Parameters
    ----------
    message
        What went wrong, in words a user can act on.
    batch_id
        The batch concerned, when there is one.
    """

    def __init__(self, message: str, *, batch_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.batch_id = batch_id

    def __str__(self) -> str:
        if self.batch_id and self.batch_id not in self.message:
            return f"{self.message} (batch {self.batch_id})"
        return self.message


class APIConnectionError(APIError):
    """No HTTP answer could be had (connection refused, reset, DNS...).

    Attributes
    ----------
    request_unsent : bool
        True when no connection was made, so the request surely never reached the service.
    """

    request_unsent: bool = False


class APITimeoutError(APIConnectionError):
    """The service did not answer in time."""


class APIStatusError(APIError):
    """The service answered with an HTTP error status.

    Attributes
    ----------
    status_code : int
        The HTTP status.
    error_type : str or None
        The ``type`` of the server's error envelope, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        batch_id: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, batch_id=batch_id)
        self.status_code = status_code
        self.error_type = error_type
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {super().__str__()}"


class BadRequestError(APIStatusError):
    """400: the service refused the request body; fix it before resending."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class InsufficientBalanceError(APIStatusError):
    """402: the account balance is too low; top it up, then resume the job."""


class PermissionDeniedError(APIStatusError):
    """403: the request was blocked (for example by a moderation policy)."""


class NotFoundError(APIStatusError):
    """404: no such batch (wrong id, another account, or results past retention)."""


class IdempotencyConflictError(APIStatusError):
    """409 on a create: its ``Idempotency-Key`` was already used with a different body.

    Never retried: resending the same key cannot succeed, and a new key could pay twice.
    """


class RequestTooLargeError(APIStatusError):
    """413: the batch body is over the service's size limit; lower ``max_bytes``."""


class UnprocessableEntityError(APIStatusError):
    """422: the body was understood but its content is invalid."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried with backoff, raised when retries are spent."""


class ServerError(APIStatusError):
    """5xx or 529: the service failed; retried with backoff, raised when retries are spent."""


class UnexpectedResponseError(APIError):
    """The service answered with a shape that no documented dialect has."""


class JobError(SirayaError):
    """A job directory cannot be used as asked."""


class JobNotFoundError(JobError):
    """There is no job at the given path."""


class JobBusyError(JobError):
    """Another process holds the job's lock (it is submitting or waiting on the job)."""


class JobStoreError(JobError):
    """A file of the job directory could not be written (disk full, no permission).

    Attributes
    ----------
    path : str
        The file that could not be written.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class WaitTimeoutError(JobError, TimeoutError):
    """``wait(timeout=...)`` ran out before the job finished; its batches keep running."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(status_code: int) -> type[APIStatusError]:
    """Return the exception class for an HTTP error status.

    Examples
    --------
    >>> error_for_status(402).__name__
    'InsufficientBalanceError'
    >>> error_for_status(503).__name__
    'ServerError'
    """
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return ServerError
    return APIStatusError
