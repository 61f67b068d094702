#!/usr/bin/env python3
"""Fails when the top-level modules of src/ depend on each other in a circle.

    python3 tests/layers/check.py          # prints the layers, bottom first
    python3 tests/layers/check.py --edges  # and every dependency with the files behind it

A module is a folder of src/ (src/hub/, ...) or a file directly in it
(src/config.rs, ...); lib.rs, the crate root, is the module `lib`. A module
depends on another when one of its files names it: `crate::other::...`, a
`use crate::{other::..., ...}` group, or an item of lib.rs re-exported from
`other` (`crate::Config` is `config`'s). An item that lib.rs defines itself
(`crate::Hub`) is a dependency on `lib`, and lib.rs depends on the modules
it names by path (`hub::HubCore`; a bare `mod hub;` does not count). Comments and string literals do not
count; `#[cfg(test)]` code does (a test of a lower layer that names a higher
one ties the two together just the same).

The layers are read off the graph: a module's layer is one more than the
highest layer it depends on. A cycle prints every module on it and exits 1.
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.path.join(ROOT, "src")
if "--src" in sys.argv:  # another tree (the check's own test gives one with a circle)
    SRC = os.path.abspath(sys.argv[sys.argv.index("--src") + 1])
    ROOT = os.path.dirname(SRC)


def strip_comments_and_strings(text):
    """The code without comments, string and char literals (kept as spaces, so
    nothing inside them is read as a path)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append(" ")
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append(" ")
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12])
            i += len(m.group(0))
            out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def modules():
    """{module: [files]} for the top-level modules of src/."""
    mods = {}
    for entry in sorted(os.listdir(SRC)):
        path = os.path.join(SRC, entry)
        if os.path.isdir(path):
            files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
            mods[entry] = sorted(files)
        elif entry.endswith(".rs"):
            mods["lib" if entry == "lib.rs" else entry[:-3]] = [path]
    return mods


def root_reexports(mods):
    """{name: module} for the items lib.rs re-exports with `pub use module::...`."""
    code = strip_comments_and_strings(open(os.path.join(SRC, "lib.rs")).read())
    names = {}
    for m in re.finditer(r"pub\s+use\s+([a-z_][a-z0-9_]*)::(\{[^}]*\}|[A-Za-z0-9_]+)\s*;", code):
        module, items = m.group(1), m.group(2).strip("{}")
        for item in items.split(","):
            item = item.strip()
            if item:
                names[item.split(" as ")[-1].strip()] = module
    return names


def first_segments(group):
    """The first path segment of each item of a `{...}` use group (nested groups skipped)."""
    segs, depth, cur = [], 0, ""
    for c in group:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if depth == 0 and c == ",":
            segs.append(cur)
            cur = ""
        elif depth == 0 and c not in "{}":
            cur += c
        elif depth > 0 and not cur.strip().endswith("::"):
            pass
    segs.append(cur)
    return [re.split(r"::|\s", s.strip())[0] for s in segs if s.strip()]


def dependencies(mods):
    """{module: {other: set(files)}}."""
    reexports = root_reexports(mods)
    deps = {m: {} for m in mods}

    def target(name):
        if name in mods and name != "lib":
            return name
        if name in ("self", "super", "crate"):
            return None
        return reexports.get(name, "lib")

    for module, files in mods.items():
        for path in files:
            code = strip_comments_and_strings(open(path).read())
            names = []
            for m in re.finditer(r"\bcrate\s*::\s*(\{)?", code):
                if m.group(1):
                    depth, j = 1, m.end()
                    while j < len(code) and depth:
                        depth += {"{": 1, "}": -1}.get(code[j], 0)
                        j += 1
                    names += first_segments(code[m.end():j - 1])
                else:
                    seg = re.match(r"[A-Za-z_][A-Za-z0-9_]*", code[m.end():])
                    if seg:
                        names.append(seg.group(0))
            # `super::` from a top-level file or a folder's mod.rs is the crate root.
            top = os.path.dirname(path) == SRC or os.path.basename(path) == "mod.rs" and os.path.dirname(os.path.dirname(path)) == SRC
            if top and module != "lib":
                names += re.findall(r"\bsuper\s*::\s*([A-Za-z_][A-Za-z0-9_]*)", code)
            if module == "lib":
                names += [n for n in re.findall(r"(?<![:\w])([a-z_][a-z0-9_]*)\s*::", code) if n in mods]
            for name in names:
                other = target(name)
                if other and other != module:
                    deps[module].setdefault(other, set()).add(os.path.relpath(path, ROOT))
    return deps


def find_cycle(deps):
    """One cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for o in sorted(deps[m]):
            if state.get(o) == 1:
                return stack[stack.index(o):] + [o]
            if o not in state:
                found = visit(o)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(deps):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def main():
    mods = modules()
    deps = dependencies(mods)
    if "--edges" in sys.argv:
        for m in sorted(deps):
            for o in sorted(deps[m]):
                print(f"{m} -> {o}: {', '.join(sorted(deps[m][o]))}")
    cycle = find_cycle(deps)
    if cycle:
        print("layers: the modules of src/ depend on each other in a circle:", file=sys.stderr)
        for a, b in zip(cycle, cycle[1:]):
            print(f"  {a} -> {b}  ({', '.join(sorted(deps[a][b]))})", file=sys.stderr)
        return 1
    layer = {}

    def level(m):
        if m not in layer:
            layer[m] = 1 + max((level(o) for o in deps[m]), default=-1)
        return layer[m]

    for m in deps:
        level(m)
    print("layers: no circle; bottom first:")
    for n in range(max(layer.values()) + 1):
        print(f"  {n}: {' '.join(sorted(m for m in layer if layer[m] == n))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
