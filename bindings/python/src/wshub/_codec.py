"""Arguments between Python values and the hub's wire form.

The hub carries an event's arguments as a JSON array text plus binary
attachments; a binary argument sits in the JSON as
``{"_placeholder":true,"num":N}`` (the Socket.IO encoding). Here ``bytes``,
``bytearray`` and ``memoryview`` anywhere in the data become attachments on
the way out, and placeholders become ``bytes`` on the way in.
"""

from __future__ import annotations

import ctypes
import json
import json.encoder
import json.scanner
from typing import Any, Optional, Sequence

from . import _ffi

_BINARY = (bytes, bytearray, memoryview)

# The C accelerated encoder and scanner of the json module, made once: compact,
# UTF-8 (no \u escapes), no NaN (not JSON), no circular-reference check (a
# cycle ends in RecursionError). json.JSONEncoder.encode / json.loads would
# build them again on every call, which costs more than the encoding itself.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode_basestring = getattr(json.encoder, "c_encode_basestring", None)
_c_make_scanner = getattr(json.scanner, "c_make_scanner", None)

if _c_make_encoder is not None and _c_encode_basestring is not None:
    _c_encode = _c_make_encoder(None, None, _c_encode_basestring, None, ":", ",", False, False, False)

    def _encode(value: Any) -> str:
        return "".join(_c_encode(value, 0))
else:  # pragma: no cover - a Python without the _json accelerator
    def _encode(value: Any) -> str:
        return _ENCODER.encode(value)

_scan = _c_make_scanner(json.JSONDecoder()) if _c_make_scanner is not None else None


def _decode_fast(text: bytes) -> Any:
    if _scan is None:  # pragma: no cover
        return json.loads(text)
    s = text.decode("utf-8")
    try:
        value, end = _scan(s, 0)
    except StopIteration:
        return json.loads(s)  # raises the usual JSONDecodeError
    return value if end == len(s) else json.loads(s)


def to_args(data: Any) -> list[Any]:
    """python-socketio's rule for ``emit(data=...)``: None is no argument, a
    tuple is several arguments, anything else is one argument."""
    if data is None:
        return []
    if isinstance(data, tuple):
        return list(data)
    return [data]


def _replace_binary(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, _BINARY):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, dict):
        return {k: _replace_binary(v, attachments) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_binary(v, attachments) for v in value]
    return value


def encode(args: list[Any]) -> tuple[bytes, list[bytes]]:
    """A list of arguments as (JSON array bytes, attachments)."""
    if not args:
        return b"", []
    try:
        return _encode(args).encode("utf-8"), []
    except TypeError:
        pass  # bytes somewhere (or something not serialisable: raised below)
    attachments: list[bytes] = []
    replaced = _replace_binary(args, attachments)
    try:
        text = _ENCODER.encode(replaced)
    except TypeError as e:
        raise TypeError(f"wshub: event data must be JSON values or bytes: {e}") from None
    return text.encode("utf-8"), attachments


def attachment_array(attachments: Sequence[bytes]) -> Optional[ctypes.Array[_ffi.wshub_bytes]]:
    """A C array of ``wshub_bytes`` viewing ``attachments`` (which the caller keeps alive)."""
    if not attachments:
        return None
    arr = (_ffi.wshub_bytes * len(attachments))()
    for i, b in enumerate(attachments):
        arr[i].data = ctypes.cast(ctypes.c_char_p(b), ctypes.POINTER(ctypes.c_uint8))
        arr[i].len = len(b)
    return arr


def decode(args_json: Optional[bytes], attachments: list[bytes]) -> list[Any]:
    """The arguments of an event (the JSON array bytes plus its attachments)."""
    if not args_json:
        return []
    if not attachments:
        result = _decode_fast(args_json)
    else:
        def hook(obj: dict[str, Any]) -> Any:
            if obj.get("_placeholder") is True and len(obj) == 2:
                num = obj.get("num")
                if isinstance(num, int) and 0 <= num < len(attachments):
                    return attachments[num]
            return obj

        result = json.loads(args_json, object_hook=hook)
    return result if isinstance(result, list) else [result]


def read_attachments(ev: _ffi.wshub_event) -> list[bytes]:
    n = ev.attachment_count
    if not n:
        return []
    arr = ev.attachments
    return [ctypes.string_at(arr[i].data, arr[i].len) if arr[i].len else b"" for i in range(n)]


def event_args(ev: _ffi.wshub_event) -> list[Any]:
    """The arguments of a received event (or ack)."""
    return decode(ev.args_json, read_attachments(ev) if ev.attachment_count else [])
