#!/usr/bin/env python3
"""Which of a running process's binary pages are resident: by ELF section and, for .text, by
crate (the first path segment of each symbol's demangled name). Reads /proc/PID/pagemap (root).
A page shared by several crates' code counts once, for the first symbol on it.

usage: bench/tools/resident-code.py PID BINARY     (BENCHMARKS.md, "Memory, sixth cut")"""
import collections, re, struct, subprocess, sys

pid, binary = sys.argv[1], sys.argv[2]
maps = [l.split() for l in open(f'/proc/{pid}/maps')]
mine = [l for l in maps if len(l) >= 6 and l[5].endswith(binary.split('/')[-1])]
base = min(int(l[0].split('-')[0], 16) - int(l[2], 16) for l in mine)
resident = set()
with open(f'/proc/{pid}/pagemap', 'rb') as pm:
    for l in mine:
        a, b = (int(x, 16) for x in l[0].split('-'))
        pm.seek(a // 4096 * 8)
        data = pm.read((b - a) // 4096 * 8)
        for i in range((b - a) // 4096):
            e = struct.unpack_from('<Q', data, i * 8)[0]
            if (e >> 63) & 1:
                resident.add(a // 4096 + i)
print(f'resident pages of the binary: {len(resident)} = {len(resident)*4/1024:.1f} MiB')
# sections
secs = []
for line in subprocess.run(['readelf', '-SW', binary], capture_output=True, text=True).stdout.splitlines():
    m = re.match(r'\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)', line)
    if m and int(m.group(2), 16):
        secs.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
for name, addr, size in secs:
    pages = set(range((base + addr) // 4096, (base + addr + size + 4095) // 4096))
    r = len(pages & resident)
    if r:
        print(f'  {name:24s} size {size/1048576:7.1f} MiB  resident {r*4/1024:6.1f} MiB')
# .text by crate
text = next(s for s in secs if s[0] == '.text')
syms = []
for line in subprocess.run(['nm', '-C', '-S', '--defined-only', binary], capture_output=True, text=True).stdout.splitlines():
    parts = line.split(' ', 3)
    if len(parts) == 4 and parts[2] in 'tTwW':
        syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
syms.sort()
def crate(name):
    n = name.lstrip('<&*(').replace('dyn ', '').replace('mut ', '')
    m = re.match(r'([A-Za-z_][A-Za-z0-9_]*)', n)
    return m.group(1) if m else '?'
by_crate = collections.Counter()
by_crate_size = collections.Counter()
owner = {}
for addr, size, name in syms:
    c = crate(name)
    by_crate_size[c] += size
    for p in range((base + addr) // 4096, (base + addr + max(size, 1) - 1) // 4096 + 1):
        if p in resident:
            # a page shared by several crates counts once, for the first symbol on it
            owner.setdefault(p, c)
for p, c in owner.items():
    by_crate[c] += 1
print(f'.text resident by crate (MiB resident / MiB of code):')
for c, n in by_crate.most_common(40):
    print(f'  {c:32s} {n*4/1024:6.2f} / {by_crate_size[c]/1048576:6.2f}')
