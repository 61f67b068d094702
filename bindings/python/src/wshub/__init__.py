"""wshub: an in-process Socket.IO server on a native (Rust) hub, with
python-socketio's ``Server`` / ``AsyncServer`` API.

    import wshub

    sio = wshub.Server(port=3000, static_files="public")

    @sio.event
    def chat_message(sid, text):
        sio.emit("chat message", text)

    sio.serve_forever()

The hub (libwshub, inside this package) runs the network on its own threads;
Python sees only events. See ``help(wshub.Server)`` for the threads and the
options.
"""

from __future__ import annotations

from ._base import REASONS, default_client_bundle
from ._ffi import LIBRARY_PATH, Status, WshubError
from .async_server import AsyncServer
from .hosted import ASGIApp
from .exceptions import ConnectionRefusedError, DisconnectedError, SocketIOError, TimeoutError
from .namespace import AsyncNamespace, Namespace
from .server import Server

__version__ = "0.1.0"

__all__ = [
    "Server",
    "AsyncServer",
    "ASGIApp",
    "Namespace",
    "AsyncNamespace",
    "ConnectionRefusedError",
    "TimeoutError",
    "DisconnectedError",
    "SocketIOError",
    "WshubError",
    "Status",
    "REASONS",
    "LIBRARY_PATH",
    "default_client_bundle",
    "__version__",
]
