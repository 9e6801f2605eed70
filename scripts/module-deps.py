#!/usr/bin/env python3
"""Prints the `crate::` edges between the server's top-level modules, and
any cycle among them. A listing of our own (no cargo tool needed): every
`crate::<module>` path in a module's files is an edge to that module.
Usage: python3 scripts/module-deps.py [server/src]"""

import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "server/src")
modules = sorted(
    p.stem if p.is_file() else p.name
    for p in root.iterdir()
    if (p.suffix == ".rs" and p.stem not in ("lib", "main")) or (p.is_dir() and p.name != "bin")
)
edges = {m: set() for m in modules}
for m in modules:
    files = [root / f"{m}.rs"] if (root / f"{m}.rs").exists() else list((root / m).rglob("*.rs"))
    for f in files:
        text = f.read_text()
        # `use crate::{a, b::c}` and `crate::a::b` anywhere.
        for group in re.findall(r"crate::\{([^;]*?)\};", text, re.S):
            for name in re.findall(r"(?:^|[,{\s])([a-z_]+)(?=::|\s*[,}]|\s*$)", group):
                if name in edges and name != m:
                    edges[m].add(name)
        for name in re.findall(r"crate::([a-z_]+)", text):
            if name in edges and name != m:
                edges[m].add(name)

for m in modules:
    print(f"{m:12} -> {', '.join(sorted(edges[m])) or '-'}")

# Cycles: strongly connected components of more than one module, among the
# capability modules (the ones that own a piece of the platform), then in
# the whole graph, where `error` (which converts every capability's error)
# and `extract` (the extractors every handler uses) sit at the HTTP edge.
CAPABILITIES = {"audit", "auth", "devices", "ingest", "live", "pki", "readings", "south", "tokens", "users"}
def cycles(nodes):
  global index, low, stack, on, sccs, n
  index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
  def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in nodes:
            continue
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))
  for v in sorted(nodes):
    if v not in index:
        visit(v)
  return "; ".join(" <-> ".join(c) for c in sccs) if sccs else "none"

print("cycles among capability modules:", cycles(CAPABILITIES & set(modules)))
print("cycles in the whole graph:", cycles(set(modules)))
