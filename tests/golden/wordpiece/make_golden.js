// Golden ids for vidx's WordPiece tokenizer (encoder/wordpiece.c), from Hugging Face's
// tokenizers (the Rust core, npm @anush008/tokenizers) on a tokenizer.json in the layout
// the multilingual text tower publishes (DistilBERT's: BertNormalizer, cased, CJK split;
// BertPreTokenizer; WordPiece, "##", 100 characters a word; [CLS] $A [SEP]), with a
// vocabulary of its own (the real one is not reachable from here): the specials where
// multilingual BERT has them, characters of many scripts with their "##" forms, and
// words and word pieces from MSR-VTT captions and from the texts below.
//
// A development tool, not a test dependency; its output is committed:
//   (cd /tmp/hf && npm install @anush008/tokenizers)
//   NODE_PATH=/tmp/hf/node_modules node tests/golden/wordpiece/make_golden.js SHARED_DATA tests/golden/wordpiece
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');

const [shared, out] = process.argv.slice(2);

// ---- the vocabulary ----
const vocab = new Map();
const add = (p) => { if (!vocab.has(p) && p.length) vocab.set(p, vocab.size); };
add('[PAD]');
for (let i = 1; i < 100; i++) add(`[unused${i}]`);
['[UNK]', '[CLS]', '[SEP]', '[MASK]'].forEach(add);
const range = (a, b) => { for (let c = a; c <= b; c++) { const s = String.fromCodePoint(c); add(s); add('##' + s); } };
range(0x21, 0x7E);            // ASCII
range(0xC0, 0xFF);            // Latin-1 letters
range(0x391, 0x3C9);          // Greek
range(0x410, 0x451);          // Cyrillic
range(0x3041, 0x3096);        // Hiragana
range(0x30A1, 0x30FA);        // Katakana
range(0x4E00, 0x4FFF);        // a part of the CJK ideographs (the rest: those of the texts)
['，', '。', '！', '？', '、', '「', '」', '😀', '🎉'].forEach((s) => { add(s); add('##' + s); });
const captions = fs.readFileSync(path.join(shared, 'captions', 'MSRVTT_JSFUSION_test.csv'), 'utf8')
  .split('\n').slice(1).map((l) => l.split(';')[3] || '').filter(Boolean);
const counts = new Map();
for (const c of captions) for (const w of c.split(/\s+/)) if (/^[a-z]+$/.test(w)) counts.set(w, (counts.get(w) || 0) + 1);
const common = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 1500).map((e) => e[0]);
for (const w of common) {
  add(w);
  add(w[0].toUpperCase() + w.slice(1));
  if (w.length > 5) { add(w.slice(0, 4)); add('##' + w.slice(4)); } // pieces, so long words split
}
['##ing', '##ed', '##s', '##er', '##ly', '##tion', '##ung', '##en', '##ment', '##ité'].forEach(add);
['Katze', 'Hund', 'Straße', 'über', 'Mädchen', 'spielt', 'chat', 'été', 'plage', 'voiture', 'rouge', 'кошка',
 'собака', 'играет', 'на', 'улице', 'дом', 'корабль', 'в', 'и'].forEach(add);

// ---- the texts ----
const longText = captions.slice(0, 60).join(' ');  // about 400 words
const texts = [
  '厨房里的鹦鹉',
  '一只猫在沙发上睡觉，窗外下着雨。',
  '東京の街を歩く人々 — 夜のネオン',
  'カタカナとひらがな、漢字もまざる文章です。',
  'Кошка играет на улице, а собака спит в доме.',
  'Ein Mädchen spielt mit der Katze auf der Straße über die Brücke.',
  "L'été, une voiture rouge roule vers la plage à côté de l'hôtel.",
  'Η γάτα κοιμάται στον καναπέ',
  '고양이가 소파에서 자고 있다',
  'القطة تنام على الأريكة',
  'แมวนอนอยู่บนโซฟา',
  'emoji 😀🎉👍🏽 and a family 👨‍👩‍👧 in a row',
  'controls\u0007 here\u200b, zero\u200dwidth, bom\ufeff, tab\tnew\nline\r\nend',
  'a private use \ue000 char and a replacement \ufffd char and\u0001soh',
  'combining: e\u0301 versus é, and ﬁ ligature, ＦＵＬＬ ｗｉｄｔｈ',
  'spaces:\u00a0nbsp\u3000ideographic\u2028line\u2029para',
  'ascii punctuation: $5 + 3 <= 8 | a~b `quote` ^hat [x] {y} @z #tag 50% a&b',
  'special tokens inside: [CLS] a [MASK] b[SEP]c [UNK] [PAD]',
  '',
  '   ',
  'a' + 'b'.repeat(119),                          // a 120-character word: [UNK]
  'x'.repeat(100),                                // exactly 100: spelled
  'unbelievablyunrecognisable supercalifragilistic',
  longText,
  'A man is playing guitar while a woman sings; children are dancing around the fire.',
];

const spec = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => ({
    id: vocab.get(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: false },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
             { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
           { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
           { SpecialToken: { id: '[SEP]', type_id: 1 } }],
    special_tokens: {
      '[CLS]': { id: '[CLS]', ids: [vocab.get('[CLS]')], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [vocab.get('[SEP]')], tokens: ['[SEP]'] },
    },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
           vocab: Object.fromEntries(vocab) },
};

async function main() {
  fs.writeFileSync(path.join(out, 'tokenizer.json'), JSON.stringify(spec));
  const tok = Tokenizer.fromFile(path.join(out, 'tokenizer.json'));
  const cases = [];
  for (const max of [512, 128, 16]) {
    tok.setTruncation(max);
    for (const text of texts) {
      const e = await tok.encode(text);
      cases.push({ max_len: max, text, ids: e.getIds() });
    }
  }
  fs.writeFileSync(path.join(out, 'golden.json'), JSON.stringify({
    made_by: 'npm @anush008/tokenizers ' + require('@anush008/tokenizers/package.json').version, cases }, null, 0) + '\n');
  console.log(`${vocab.size} pieces, ${cases.length} cases`);
}
main().catch((e) => { console.error(e); process.exit(1); });
