#!/usr/bin/env python3
"""scripts/function_sizes.py [--max-lines N] [--max-depth D] FILES...

Lists each function body in C++ files with its length in lines and its deepest nesting
(control blocks and lambdas inside the body; the body itself is level 0), longest first.
With --max-lines / --max-depth it prints only the functions over the limits and exits 1
when there are any. A rough reader (braces outside strings and comments), enough for
minicope's own code."""
import re, sys

def strip(src):
    # blank out comments, strings and chars, keeping newlines and positions
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif src.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', src[i:])
            end = src.find(')' + m.group(1) + '"', i) + len(m.group(1)) + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:end])); i = end
        elif c in '"\'':
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == '\\' else 1
            out.append(' ' * (j + 1 - i)); i = j + 1
        else:
            out.append(c); i += 1
    return ''.join(out)

HEAD = re.compile(r'([A-Za-z_~][\w:<>,~*&\s]*?)\s*\(([^;{}]*)\)\s*(const)?\s*(noexcept)?\s*(override)?\s*(->[^{;]*)?(:[^;{]*)?$', re.S)
CONTROL = re.compile(r'\b(if|for|while|switch|catch|do|else|try)\b|\]\s*\([^)]*\)\s*(mutable\s*)?(->[^{]*)?$|\]\s*$|\)\s*(const\s*)?$')

def functions(path):
    src = strip(open(path, encoding='utf-8', errors='replace').read())
    stack = []  # (kind, start_pos, name)
    result = []
    last = 0
    for m in re.finditer(r'[{};]', src):
        pos, ch = m.start(), m.group()
        if ch == ';':
            last = pos + 1; continue
        if ch == '{':
            before = src[last:pos].strip()
            in_func = any(k == 'func' for k, *_ in stack)
            if not in_func and re.search(r'\b(namespace|class|struct|enum|union|extern)\b', before.split('(')[0]) and '(' not in before.split('{')[0][-2:]:
                if not HEAD.search(before) or re.match(r'\s*(namespace|class|struct|enum|union|extern)\b', before.split('\n')[-1] if before else ''):
                    stack.append(('scope', pos, '')); last = pos + 1; continue
            if not in_func:
                h = HEAD.search(before)
                if h and not re.search(r'=\s*$', before):
                    name = h.group(1).split()[-1] if h.group(1).split() else '?'
                    stack.append(('func', pos, name)); last = pos + 1; continue
                stack.append(('scope', pos, '')); last = pos + 1; continue
            depth_kind = 'block' if CONTROL.search(before) or re.search(r'\b(if|for|while|switch|catch|do|else|try)\b', before) else 'init'
            stack.append((depth_kind, pos, '')); last = pos + 1; continue
        # '}'
        if not stack: last = pos + 1; continue
        kind, start, name = stack.pop()
        if kind == 'func':
            lines = src.count('\n', start, pos) + 1
            result.append((lines, depths.pop(start, 0), name, src.count('\n', 0, start) + 1))
        elif kind == 'block':
            d = sum(1 for k, *_ in stack if k == 'block')
            fstart = next((s for k, s, _ in reversed(stack) if k == 'func'), None)
            if fstart is not None:
                depths[fstart] = max(depths.get(fstart, 0), d + 1)
        last = pos + 1
    return result

depths = {}
args = sys.argv[1:]
max_lines = max_depth = None
if '--max-lines' in args:
    i = args.index('--max-lines'); max_lines = int(args[i + 1]); del args[i:i + 2]
if '--max-depth' in args:
    i = args.index('--max-depth'); max_depth = int(args[i + 1]); del args[i:i + 2]
rows = []
for p in args:
    for lines, depth, name, line in functions(p):
        rows.append((lines, depth, f'{p}:{line}', name))
rows.sort(reverse=True)
over = [r for r in rows if (max_lines and r[0] > max_lines) or (max_depth is not None and r[1] > max_depth)]
show = over if (max_lines or max_depth is not None) else rows
for lines, depth, where, name in show:
    print(f'{lines:5d} lines  depth {depth}  {name}  {where}')
sys.exit(1 if over else 0)
