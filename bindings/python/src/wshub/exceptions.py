"""Exceptions of the wshub binding (named like python-socketio's)."""

from __future__ import annotations

import builtins
from typing import Any

from ._ffi import Status, WshubError

__all__ = [
    "SocketIOError",
    "ConnectionRefusedError",
    "TimeoutError",
    "DisconnectedError",
    "WshubError",
    "Status",
]


class SocketIOError(Exception):
    """Base class of the binding's Socket.IO level errors."""


class ConnectionRefusedError(builtins.ConnectionRefusedError):
    """Raise it from a ``connect`` handler to refuse the client.

    The first argument is the message the client gets with its
    ``connect_error`` (python-socketio's behaviour); with no argument the
    message is "Connection rejected by server". The builtin
    ``ConnectionRefusedError`` and python-socketio's
    ``socketio.exceptions.ConnectionRefusedError`` are accepted too.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.error_args: dict[str, Any] = {"message": str(args[0]) if args else "Connection rejected by server"}
        if len(args) == 2:
            self.error_args["data"] = args[1]
        elif len(args) > 2:
            self.error_args["data"] = list(args[1:])


class TimeoutError(SocketIOError, builtins.TimeoutError):
    """``call()`` got no acknowledgement in time."""


class DisconnectedError(SocketIOError):
    """The client of a ``call()`` is not connected (or left before answering)."""


def refusal_message(exc: BaseException) -> str | None:
    """The message of a connect refusal, or None if ``exc`` is not one."""
    error_args = getattr(exc, "error_args", None)
    if isinstance(error_args, dict) and type(exc).__name__ == "ConnectionRefusedError":
        return str(error_args.get("message", "Connection rejected by server"))
    if isinstance(exc, builtins.ConnectionRefusedError):
        if exc.args and isinstance(exc.args[0], str):
            return exc.args[0]
        return "Connection refused by server"
    return None
