"""Builds the wshub package: compiles libwshub with cargo and ships it inside.

`pip install ./bindings/python` (or `pip wheel`) runs `cargo build --release
--lib` in the repository root (two folders up from this file), copies the
shared library into the package and tags the wheel for this platform
(py3-none-<platform>: the library is loaded with ctypes, so the wheel works
with any Python 3 of that platform).

Environment:
  WSHUB_LIBRARY    use this prebuilt library instead of running cargo
  CARGO            the cargo command (default: cargo)
  CARGO_TARGET_DIR where cargo puts its output (default: <repo>/target)
  WSHUB_NO_STRIP   keep the library's symbols (by default the copy is stripped,
                   15 MB -> 1.6 MB; the exported wshub_* functions stay)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIB_NAME = {"linux": "libwshub.so", "darwin": "libwshub.dylib", "win32": "wshub.dll"}.get(sys.platform, "libwshub.so")


def native_library() -> Path:
    prebuilt = os.environ.get("WSHUB_LIBRARY")
    if prebuilt:
        path = Path(prebuilt)
        if not path.is_file():
            raise SystemExit(f"WSHUB_LIBRARY={prebuilt} is not a file")
        return path
    if not (REPO / "Cargo.toml").is_file():
        raise SystemExit(
            f"wshub: the Rust sources are not at {REPO} (Cargo.toml missing); build from the "
            "repository (pip install ./bindings/python) or set WSHUB_LIBRARY to a built libwshub")
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit("wshub: building the native library needs Rust's cargo (https://rustup.rs)")
    cmd = [cargo, "build", "--release", "--lib"]
    print("wshub: " + " ".join(cmd) + f"  (in {REPO})", flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    lib = target / "release" / LIB_NAME
    if not lib.is_file():
        raise SystemExit(f"wshub: cargo finished but {lib} is missing")
    return lib


class BuildPyWithNative(build_py):
    """build_py, plus the native library and the build info inside the package."""

    def run(self) -> None:
        super().run()
        pkg = Path(self.build_lib) / "wshub"
        pkg.mkdir(parents=True, exist_ok=True)
        lib = native_library()
        dest = pkg / LIB_NAME
        shutil.copy2(lib, dest)
        print(f"wshub: copied {lib} into the package", flush=True)
        strip = shutil.which("strip")
        if strip and sys.platform == "linux" and not os.environ.get("WSHUB_NO_STRIP"):
            subprocess.run([strip, "--strip-unneeded", str(dest)], check=False)
        (pkg / "_build_info.py").write_text(
            '"""Written by setup.py when the package was built."""\n'
            f"REPO_ROOT = {str(REPO)!r}\n"
            f"LIBRARY_SOURCE = {str(lib)!r}\n")


class BinaryDistribution(Distribution):
    """Has a native part: installed to platlib, and the wheel is not pure."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """A platform wheel that any Python 3 can use (the library is loaded with ctypes)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildPyWithNative, "bdist_wheel": PlatformWheel})
