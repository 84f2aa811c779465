// What grew between two heap snapshots, by node type and name (constructor
// for objects, "(string)" etc. for the rest), in count and self size:
//   node bench/tools/heap-diff.mjs A.heapsnapshot B.heapsnapshot [--per N] [--top 40]
// --per N also prints bytes per N (e.g. per session).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const files = args.filter((a, i) => !a.startsWith('--') && !(args[i - 1] ?? '').startsWith('--'));
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(args[i + 1]);
};
const per = opt('per', 0);
const top = opt('top', 40);
if (files.length !== 2) throw new Error('usage: heap-diff.mjs A.heapsnapshot B.heapsnapshot [--per N] [--top N]');

function summarize(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const nf = fields.length;
  const typeIx = fields.indexOf('type');
  const nameIx = fields.indexOf('name');
  const sizeIx = fields.indexOf('self_size');
  const types = meta.node_types[typeIx];
  const { nodes, strings } = snap;
  const out = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + typeIx]];
    let name = strings[nodes[i + nameIx]];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '';
    else if (type === 'number') name = '';
    else if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = `${type}:${name}`;
    const size = nodes[i + sizeIx];
    total += size;
    const e = out.get(key);
    if (e) {
      e.count++;
      e.size += size;
    } else out.set(key, { count: 1, size });
  }
  return { out, total };
}

const a = summarize(files[0]);
const b = summarize(files[1]);
const rows = [];
for (const [key, e] of b.out) {
  const o = a.out.get(key) ?? { count: 0, size: 0 };
  rows.push({ key, count: e.count - o.count, size: e.size - o.size });
}
for (const [key, o] of a.out) if (!b.out.has(key)) rows.push({ key, count: -o.count, size: -o.size });
rows.sort((x, y) => Math.abs(y.size) - Math.abs(x.size));
const fmt = (n) => n.toLocaleString('en');
console.log(`total self size ${fmt(a.total)} → ${fmt(b.total)} (${fmt(b.total - a.total)}${per ? `, ${((b.total - a.total) / per).toFixed(1)} B per unit` : ''})`);
for (const r of rows.slice(0, top)) {
  console.log(`${fmt(r.size).padStart(12)} B ${fmt(r.count).padStart(9)}×${per ? ` ${(r.size / per).toFixed(1).padStart(7)} B/u ${(r.count / per).toFixed(2).padStart(6)}/u` : ''}  ${r.key}`);
}
