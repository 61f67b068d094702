"""The ctypes layer mirrors include/wshub.h: every function is declared, and
every struct has the C layout (checked against the header with the C compiler)."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import wshub
from wshub import _ffi

from conftest import REPO_ROOT

HEADER = REPO_ROOT / "include" / "wshub.h"
STRUCTS = {
    "wshub_target": _ffi.wshub_target,
    "wshub_bytes": _ffi.wshub_bytes,
    "wshub_event": _ffi.wshub_event,
    "wshub_connect_request": _ffi.wshub_connect_request,
    "wshub_config": _ffi.wshub_config,
    "wshub_header": _ffi.wshub_header,
    "wshub_http_request": _ffi.wshub_http_request,
    "wshub_http_response": _ffi.wshub_http_response,
    "wshub_packet": _ffi.wshub_packet,
}


def header_text() -> str:
    if not HEADER.is_file():
        pytest.skip("include/wshub.h is not here (not a source checkout)")
    return HEADER.read_text()


def test_every_header_function_is_declared():
    names = set(re.findall(r"^\s*(?:const\s+)?[\w\s\*]+?\b(wshub_\w+)\(", header_text(), re.M))
    names -= {"wshub_ack_cb", "wshub_event_cb", "wshub_free_fn", "wshub_connection_cb",
              "wshub_disconnect_cb", "wshub_guard_cb", "wshub_respond_cb", "wshub_relay_cb"}
    assert len(names) >= 25, names
    for name in sorted(names):
        fn = getattr(_ffi.lib, name)
        assert fn.restype is not ctypes.c_int or name in {"wshub_test_panic"} or fn.argtypes is not None, name
        assert fn.argtypes is not None, f"{name} has no argtypes"


def test_struct_layouts_match_the_c_compiler(tmp_path: Path):
    text = header_text()
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "wshub.h"', "int main(void) {"]
    for cname, cls in STRUCTS.items():
        assert f"}} {cname};" in text, f"{cname} is not in the header"
        lines.append(f'printf("{cname} sizeof %zu\\n", sizeof({cname}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c99", f"-I{HEADER.parent}", str(src), "-o", str(exe)], check=True, timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=10).stdout
    c_layout = {tuple(line.split()[:2]): int(line.split()[2]) for line in out.splitlines()}
    for cname, cls in STRUCTS.items():
        assert c_layout[(cname, "sizeof")] == ctypes.sizeof(cls), cname
        for field, _ in cls._fields_:
            assert c_layout[(cname, field)] == getattr(cls, field).offset, f"{cname}.{field}"
    # and the field lists are complete: every member of each C struct is mirrored
    for cname, cls in STRUCTS.items():
        body = re.search(r"typedef struct \{((?:(?!typedef struct).)*?)\} " + cname + ";", text, re.S)
        assert body is not None
        members = re.findall(r"\b(\w+);", re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S))
        assert members == [f for f, _ in cls._fields_], cname


def test_status_enum_matches_the_header():
    text = header_text()
    pairs = dict(re.findall(r"WSHUB_(\w+) = (\d+),", text))
    assert {k: int(v) for k, v in pairs.items()} == {s.name: s.value for s in wshub.Status}
    assert _ffi.status_str(wshub.Status.TIMEOUT) == "timeout"


def test_a_panic_inside_the_library_is_an_error_not_a_crash():
    with pytest.raises(wshub.WshubError) as info:
        _ffi.check(_ffi.lib.wshub_test_panic())
    assert info.value.status == wshub.Status.PANIC
    assert "wshub_test_panic" in info.value.message


def test_config_defaults_are_the_socketio_servers():
    cfg = _ffi.lib.wshub_config_default()
    assert (cfg.port, cfg.ping_interval_ms, cfg.ping_timeout_ms, cfg.max_payload) == (3000, 25000, 20000, 1_000_000)
    assert cfg.allow_polling and cfg.allow_websocket and not cfg.drop_when_full
