"""The import graph of the porthos package, as import-linter sees it: modules, edges,
cycles (strongly connected groups), function-level imports that run up a layer, and the
longest modules. Imports under ``if TYPE_CHECKING:`` are left out, and
``porthos._native`` counts as a module of its own (``from porthos import _native``
does not depend on the package root's other imports).

    python3 tools/import_graph.py python/porthos [v]     # v: list every module's imports

Used for the before/after figures of the layer split (issue 15); ``make lint`` runs
lint-imports, which is what enforces the layers.
"""
import ast, sys, pathlib
root = pathlib.Path(sys.argv[1])
pkg = root.name
mods = {}
for p in root.rglob('*.py'):
    rel = p.relative_to(root.parent).with_suffix('')
    name = '.'.join(rel.parts)
    if name.endswith('.__init__'): name = name[:-9]
    mods[name] = p
mods[pkg + '._native'] = None  # the extension: a module of its own, not the package root
edges = {}
def type_checking_nodes(tree):
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub): skip.add(id(n))
    return skip
for name, p in mods.items():
    if p is None: continue
    tree = ast.parse(p.read_text())
    skip = type_checking_nodes(tree)
    is_pkg = p.name == '__init__.py'
    for node in ast.walk(tree):
        if id(node) in skip: continue
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split('.') if is_pkg else name.split('.')[:-1]
                base = base[:len(base)-(node.level-1)]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ''
            for a in node.names:
                cand = mod + '.' + a.name
                targets.append(cand if cand in mods else mod)
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        toplevel = node in tree.body
        for t in targets:
            while t and t not in mods:
                t = t.rpartition('.')[0]
            if t and t != name and t.startswith(pkg):
                edges.setdefault(name, {})[t] = edges.get(name, {}).get(t, False) or toplevel
# cycles via SCC (Tarjan)
idx = {}; low = {}; st=[]; on=set(); sccs=[]; c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0]; c[0]+=1; st.append(v); on.add(v)
    for w in edges.get(v,{}):
        if w not in idx: sc(w); low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop(); on.discard(w); comp.append(w)
            if w==v: break
        sccs.append(comp)
for v in mods:
    if v not in idx: sc(v)
cyc = [s for s in sccs if len(s)>1]
print('modules', len(mods))
print('edges', sum(len(e) for e in edges.values()), 'function-level', sum(1 for e in edges.values() for t in e.values() if not t))
print('SCCs with cycles', len(cyc))
for s in cyc: print('  ', sorted(s))
lines = sorted(((len(p.read_text().splitlines()), n) for n,p in mods.items() if p), reverse=True)
print('longest', lines[:6]); print('over 500 lines', sum(1 for l,_ in lines if l > 500))
if len(sys.argv)>2:
    for n in sorted(edges):
        print(n, '->', ', '.join(f"{t}{'' if top else '(fn)'}" for t, top in sorted(edges[n].items())))
RANK = {'cli': 7, 'bench': 6, 'workflows': 5, 'workspace': 4, 'cpcps': 3, 'issuance': 2, 'store': 2, 'hsm': 1}
OLD = {'ca': 'workspace', 'changeover': 'workflows', 'lifecycle': 'workflows', 'ra': 'workflows', 'key_export': 'workflows',
       'demo_lifecycle': 'workflows', 'crl': 'issuance', 'signers': 'issuance', 'verify': 'issuance', 'pipeline': 'issuance',
       'store': 'store', 'writeback': 'store', 'audit': 'store', 'hsm': 'hsm', 'hsm_workers': 'hsm', '_hsm_worker': 'hsm',
       'profiles': 'cpcps', 'policy': 'cpcps'}
def rank(m):
    parts = m.split('.')
    if len(parts) < 2: return 0
    top = parts[1]
    if top.startswith('cli'): return 7
    return RANK.get(top, RANK.get(OLD.get(top, ''), 0))
up = [(a, b) for a, es in edges.items() for b, top in es.items() if not top and rank(b) > rank(a)]
print('function-level imports up a layer', len(up))
for a, b in up[:40]: print('   ', a, '->', b)
