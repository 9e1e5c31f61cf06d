#!/usr/bin/env python3
"""The shape of the code base (not a test): the largest source files, the longest functions
and the import cycles between modules of the `infermeter` crate.

    scripts/code-shape.py [ROOT]        # ROOT defaults to the repository

A module is a file under src/ (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`). Module A
depends on B when A's code (tests excluded) names `crate::B...` or `super::...` resolving to B.
Cycles are the strongly connected components of that graph with more than one module.
Function length counts lines from the `fn` line to its closing brace.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
root = os.path.abspath(root)


def rust_files():
    for top in ("src", "crates", "tests", "examples", "benches"):
        base = os.path.join(root, top)
        for d, _, files in os.walk(base):
            if "/target" in d or "/fuzz" in d:
                continue
            for f in files:
                if f.endswith(".rs"):
                    yield os.path.join(d, f)


def strip_tests(text):
    """Drop `#[cfg(test)] mod x { ... }` blocks (brace-matched)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 0, m.end() - 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        i = j + 1
    out.append(text[i:])
    return "".join(out)


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    fn_re = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")
    for i, line in enumerate(lines):
        m = fn_re.match(line)
        if not m:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            # Character literals such as b'{' are not braces.
            code = re.sub(r"b?'(\\.|[^'\\])'", "''", code)
            depth += code.count("{") - code.count("}")
            if "{" in code:
                started = True
            if started and depth <= 0:
                yield m.group(6), j - i + 1, i + 1
                break
            if not started and code.rstrip().endswith(";"):
                break


def module_of(path):
    rel = os.path.relpath(path, os.path.join(root, "src"))
    if rel.startswith(".."):
        return None
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return "crate"
    return "::".join(parts)


def main():
    files = list(rust_files())
    sizes = sorted(((sum(1 for _ in open(f, encoding="utf-8")), f) for f in files), reverse=True)
    print("## Ten largest files (lines)")
    for n, f in sizes[:10]:
        print(f"{n:6d}  {os.path.relpath(f, root)}")
    fns = sorted(((n, name, os.path.relpath(f, root), at) for f in files for name, n, at in functions(f)), reverse=True)
    print("\n## Ten longest functions (lines)")
    for n, name, f, at in fns[:10]:
        print(f"{n:6d}  {name}  {f}:{at}")

    mods = {}
    for f in files:
        m = module_of(f)
        if m and m != "crate":
            mods[m] = strip_tests(open(f, encoding="utf-8").read())
    names = set(mods)

    def resolve(path_parts):
        # Longest prefix that is a module.
        for k in range(len(path_parts), 0, -1):
            cand = "::".join(path_parts[:k])
            if cand in names:
                return cand
        return None

    graph = {m: set() for m in names}
    for m, text in mods.items():
        for ref in re.findall(r"crate::((?:\w+::)*\w+)", text):
            t = resolve(ref.split("::"))
            if t and t != m and not m.startswith(t + "::") and not t.startswith(m + "::"):
                graph[m].add(t)
        for ref in re.findall(r"\bsuper::((?:\w+::)*\w+)", text):
            parent = m.split("::")[:-1]
            t = resolve(parent + ref.split("::"))
            if t and t != m and not t.startswith(m + "::"):
                graph[m].add(t)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    print("\n## Import cycles between modules")
    if not sccs:
        print("none")
    for comp in sccs:
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        print(f"- {' , '.join(comp)}: {'; '.join(edges)}")


main()
