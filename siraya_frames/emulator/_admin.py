"""The ``/_emulator/*`` admin endpoints, shared by every dialect (a mixin of ``Handlers``).

* ``GET|POST /_emulator/faults``: read or change fault settings (JSON object of fields);
* ``GET /_emulator/stats``: counters;
* ``GET /_emulator/batches/{id}``: the internal (OpenAI-style) batch object, any dialect;
* ``POST /_emulator/batches/{id}/expire``: expire a batch now.

They need the API key when the emulator has one; on a non-loopback host without a key they
are closed (403). HTTP faults never hit them.

Examples
--------
>>> sorted(n for n in vars(AdminEndpoints) if not n.startswith("_"))
['admin_batch', 'admin_gate', 'expire', 'faults', 'stats']
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from siraya_frames._errors import ConfigurationError
from siraya_frames.emulator import _shapes
from siraya_frames.emulator._asgi import ENDPOINT
from siraya_frames.emulator._model import EXPIRED, EXPIRED_RESULT, Batch
from siraya_frames.emulator._validate import CreateRejected, loads

if TYPE_CHECKING:
    from siraya_frames.emulator._config import EmulatorConfig
    from siraya_frames.emulator._runtime import Runtime
    from siraya_frames.emulator._store import Store


class AdminEndpoints:
    """The admin endpoints; the host class gives ``rt``, ``store``, ``config``, ``error``,
    ``_auth`` and ``batch_or_404``."""

    rt: Runtime
    store: Store
    config: EmulatorConfig
    error: Any
    _auth: Any
    batch_or_404: Any

    def admin_gate(self, request: Request) -> Response | None:
        """The API key; on a non-loopback host without one, admin is closed (403)."""
        request.scope[ENDPOINT] = "admin"
        if not self.config.api_key and not self.config.loopback:
            return self.error(
                "The /_emulator admin endpoints are closed on a non-loopback host without an "
                "API key; restart the emulator with --api-key to use them.",
                "permission_error",
                403,
            )
        return self._auth(request)

    def _admin_batch(self, request: Request) -> Batch | Response:
        denied = self.admin_gate(request)
        return denied if denied is not None else self.batch_or_404(request.path_params["batch_id"])

    async def faults(self, request: Request) -> Response:
        """``GET|POST /_emulator/faults``."""
        denied = self.admin_gate(request)
        if denied is not None:
            return denied
        if request.method == "POST":
            try:
                changes = loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ConfigurationError("the body must be a JSON object of fault settings")
                self.rt.set_faults(**changes)
            except CreateRejected as exc:
                return self.error(exc.message, "invalid_request_error", 400)
            except (ValueError, ConfigurationError, TypeError) as exc:
                return self.error(str(exc), "invalid_request_error", 400)
        return JSONResponse(self.rt.faults.to_dict())

    async def stats(self, request: Request) -> Response:
        """``GET /_emulator/stats``."""
        denied = self.admin_gate(request)
        return denied or JSONResponse(self.rt.stats())

    async def admin_batch(self, request: Request) -> Response:
        """``GET /_emulator/batches/{batch_id}``: the internal view, whatever the dialect."""
        batch = self._admin_batch(request)
        if isinstance(batch, Response):
            return batch
        return JSONResponse(_shapes.batch_object(batch) | {"total": batch.total})

    async def expire(self, request: Request) -> Response:
        """``POST /_emulator/batches/{batch_id}/expire``: unprocessed requests end expired."""
        batch = self._admin_batch(request)
        if isinstance(batch, Response):
            return batch
        if not self.store.close_pending(batch.seq, EXPIRED_RESULT, EXPIRED, time.time()):
            return self.error(
                f"Batch {batch.id} has already ended ({batch.status}).",
                "invalid_request_error",
                409,
            )
        self.rt.wake_worker()
        expired = self.store.get(batch.id)
        assert expired is not None
        return JSONResponse(_shapes.batch_object(expired))
