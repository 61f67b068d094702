"""Class-based namespaces, as in python-socketio: methods ``on_<event>``."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, AsyncContextManager, ContextManager, Optional

from ._base import Handler, Rooms, trimmed

if TYPE_CHECKING:
    from .async_server import AsyncServer
    from .server import Server

__all__ = ["Namespace", "AsyncNamespace"]


class _NamespaceBase:
    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace: str = namespace or "/"

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Calls ``self.on_<event>(*args)`` if it exists (override to route differently)."""
        handler = getattr(self, "on_" + (event or ""), None)
        if handler is None:
            return None
        if event == "disconnect":
            args = trimmed(handler, args, 1)
        return handler(*args)

    def is_asyncio_based(self) -> bool:
        return False


class Namespace(_NamespaceBase):
    """Subclass it, define ``on_connect(sid, environ[, auth])``,
    ``on_disconnect(sid[, reason])`` and ``on_<event>(sid, *args)``, and
    register an instance with ``sio.register_namespace(MyNamespace('/chat'))``."""

    server: "Server"

    def _set_server(self, server: "Server") -> None:
        self.server = server

    def emit(self, event: str, data: Any = None, to: Rooms = None, room: Rooms = None, skip_sid: Rooms = None,
             namespace: Optional[str] = None, callback: Optional[Handler] = None) -> None:
        self.server.emit(event, data, to=to, room=room, skip_sid=skip_sid, namespace=namespace or self.namespace,
                         callback=callback)

    def send(self, data: Any, to: Rooms = None, room: Rooms = None, skip_sid: Rooms = None,
             namespace: Optional[str] = None, callback: Optional[Handler] = None) -> None:
        self.server.send(data, to=to, room=room, skip_sid=skip_sid, namespace=namespace or self.namespace,
                         callback=callback)

    def call(self, event: str, data: Any = None, to: Optional[str] = None, sid: Optional[str] = None,
             namespace: Optional[str] = None, timeout: float = 60) -> Any:
        return self.server.call(event, data, to=to, sid=sid, namespace=namespace or self.namespace, timeout=timeout)

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        self.server.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list[str]:
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    def get_session(self, sid: str, namespace: Optional[str] = None) -> dict[Any, Any]:
        return self.server.get_session(sid, namespace=namespace or self.namespace)

    def save_session(self, sid: str, session: dict[Any, Any], namespace: Optional[str] = None) -> None:
        self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: Optional[str] = None) -> ContextManager[dict[Any, Any]]:
        return self.server.session(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: Optional[str] = None) -> None:
        self.server.disconnect(sid, namespace=namespace or self.namespace)


class AsyncNamespace(_NamespaceBase):
    """The AsyncServer flavour of :class:`Namespace`: handlers may be coroutines,
    and the helpers are coroutines as on AsyncServer."""

    server: "AsyncServer"

    def is_asyncio_based(self) -> bool:
        return True

    def _set_server(self, server: "AsyncServer") -> None:
        self.server = server

    async def trigger_event(self, event: str, *args: Any) -> Any:
        result = super().trigger_event(event, *args)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def emit(self, event: str, data: Any = None, to: Rooms = None, room: Rooms = None,
                   skip_sid: Rooms = None, namespace: Optional[str] = None,
                   callback: Optional[Handler] = None) -> None:
        await self.server.emit(event, data, to=to, room=room, skip_sid=skip_sid,
                               namespace=namespace or self.namespace, callback=callback)

    async def send(self, data: Any, to: Rooms = None, room: Rooms = None, skip_sid: Rooms = None,
                   namespace: Optional[str] = None, callback: Optional[Handler] = None) -> None:
        await self.server.send(data, to=to, room=room, skip_sid=skip_sid, namespace=namespace or self.namespace,
                               callback=callback)

    async def call(self, event: str, data: Any = None, to: Optional[str] = None, sid: Optional[str] = None,
                   namespace: Optional[str] = None, timeout: float = 60) -> Any:
        return await self.server.call(event, data, to=to, sid=sid, namespace=namespace or self.namespace,
                                      timeout=timeout)

    async def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        await self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    async def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        await self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    async def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        await self.server.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list[str]:
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    async def get_session(self, sid: str, namespace: Optional[str] = None) -> dict[Any, Any]:
        return await self.server.get_session(sid, namespace=namespace or self.namespace)

    async def save_session(self, sid: str, session: dict[Any, Any], namespace: Optional[str] = None) -> None:
        await self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: Optional[str] = None) -> AsyncContextManager[dict[Any, Any]]:
        return self.server.session(sid, namespace=namespace or self.namespace)

    async def disconnect(self, sid: str, namespace: Optional[str] = None) -> None:
        await self.server.disconnect(sid, namespace=namespace or self.namespace)
