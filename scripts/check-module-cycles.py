#!/usr/bin/env python3
"""Fails if the top-level modules of a crate import each other in a cycle.

    python3 scripts/check-module-cycles.py server/src

A module's dependencies are the `crate::<module>` paths in its files (comments and test modules
left out). Both crates with layers are kept acyclic: core (protocol → context → registry →
methods → engine) and the server (transport → edge → limits/auth → response).
"""
import glob
import os
import re
import sys


def graph(root: str) -> dict[str, set[str]]:
    mods: dict[str, set[str]] = {}
    for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(path, root)
        top = rel.split(os.sep)[0].removesuffix(".rs")
        if top in ("lib", "main"):
            continue
        src = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
        code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("//"))
        mods.setdefault(top, set()).update(d for d in re.findall(r"crate::([a-z_]+)", code) if d != top)
    return mods


def cycles(mods: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(u: str) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(mods.get(u, ())):
            if v not in mods:
                continue
            if state.get(v) == 1:
                found.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m)
    return found


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "server/src"
    found = cycles(graph(root))
    for c in found:
        print("import cycle:", " -> ".join(c))
    if found:
        sys.exit(1)
    print(f"{root}: no import cycles between its top-level modules")
