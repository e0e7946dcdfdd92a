/**
 * `node dist/bench/profile-summary.js <file.cpuprofile> [top]`: self time by function, and
 * by package (node_modules/<name>, node internals, the project), to see where CPU goes.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
const [file, topArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file as string, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm:');
  byFunction.set(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`, (byFunction.get(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`) ?? 0) + us);
  const pkg = url.includes('node_modules/')
    ? (/node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? 'node_modules')
    : url.startsWith('node:') || url === ''
      ? functionName.startsWith('(') ? functionName : 'node internals'
      : 'project';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
}
// Native and node-internal time charged to the nearest caller in a package or the project.
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const owner = (id: number): string => {
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const url = byId.get(current)?.callFrame.url ?? '';
    if (url.includes('node_modules/')) return /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? 'node_modules';
    if (url.startsWith('file://')) return `project ${url.replace(/.*\/dist\//, '')}`;
  }
  const fn = byId.get(id)?.callFrame.functionName ?? '';
  return fn.startsWith('(') ? fn : 'node internals (no package caller)';
};
const attributed = new Map<string, number>();
for (const [id, us] of selfUs) attributed.set(owner(id), (attributed.get(owner(id)) ?? 0) + us);

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\nby package:');
for (const [name, us] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(us)}  ${name}`);
console.log('\nby package, native time charged to the calling package (idle excluded from %):');
const busy = total - (attributed.get('(idle)') ?? 0);
for (const [name, us] of [...attributed].filter(([n]) => n !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${name}`);
console.log('\nby function (self):');
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 30))) console.log(`${pct(us)}  ${name}`);
