import re, sys, pathlib, collections  # python3 cycles.py crates/server/src [depth]; exit 1 on a cycle
src = pathlib.Path(sys.argv[1]); depth = int((sys.argv[2:] or [1])[0]); edges = collections.defaultdict(set)
def mod(f): p = f.relative_to(src).with_suffix("").parts; return p[:-1] if p[-1] in ("mod", "lib", "main") else p
def code(t):  # blank comments/strings/chars (keep line numbers), then drop #[cfg(test)] modules
    t = re.sub(r'//[^\n]*|/\*[\s\S]*?\*/|\br(#*)"[\s\S]*?"\1|"(?:\\[\s\S]|[^"\\])*"|\'(?:\\[\s\S]|[^\\\'])\'', lambda m: "\n" * m[0].count("\n"), t)
    while m := re.search(r"#\[cfg\(test\)\](?:\s*#\[[^\]]*\])*\s*(?:pub\S*\s+)?mod\s+\w+\s*\{", t):
        i, d = m.end(), 1
        while d: d += {"{": 1, "}": -1}.get(t[i], 0); i += 1
        t = t[:m.start()] + "\n" * t[m.start():i].count("\n") + t[i:]
    return t
def expand(u):  # a::{b, c::{d}} -> a::b, a::c::d
    if not (m := re.match(r"(.*?)\{(.*)\}$", u.strip(), re.S)): return [u.strip()]
    parts, d, cur = [], 0, ""
    for ch in m[2] + ",":
        if ch == "," and not d: parts.append(cur); cur = ""; continue
        d += (ch == "{") - (ch == "}"); cur += ch
    return [x for p in parts if p.strip() for x in expand(m[1] + p.strip())]
files = {mod(f): f for f in src.rglob("*.rs")}
for me, f in files.items():
    t = code(f.read_text())
    uses = [(p, u.start()) for u in re.finditer(r"\buse\s+([^;]+);", t) for p in expand(u[1])]
    for p, at in uses + [(m[1], m.start()) for m in re.finditer(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", t)]:
        s = [x.split(" as ")[0].strip() for x in p.split("::")]; tgt = [] if s[0] == "crate" else list(me)
        while s and s[0] in ("crate", "super"): tgt = tgt[:-1] if s.pop(0) == "super" else tgt
        tgt += s
        while tgt and tuple(tgt) not in files: tgt.pop()
        if me[:depth] and tgt[:depth] and me[:depth] != tuple(tgt[:depth]): edges[me[:depth], tuple(tgt[:depth])].add(f"{f.relative_to(src)}:{t[:at].count(chr(10)) + 1}")
graph, cycles = collections.defaultdict(set), set()
for a, b in edges: graph[a].add(b)
def walk(start, v, path):
    for w in graph[v]:
        if w == start: cycles.add(tuple(path))
        elif w > start and w not in path: walk(start, w, path + [w])
for v in list(graph): walk(v, v, [v])
for c in sorted(cycles, key=lambda c: (len(c), c)): print(" -> ".join("::".join(x) for x in c + c[:1]), "|", "; ".join(min(edges[h]) for h in zip(c, c[1:] + c[:1])))
sys.exit(bool(cycles))
