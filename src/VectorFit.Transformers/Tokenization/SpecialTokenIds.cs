namespace VectorFit.Transformers.Tokenization;

/// <summary>The vocabulary ids of the special tokens a tokenizer uses to build model inputs.</summary>
/// <param name="Cls">Id of the classification token placed first (<c>[CLS]</c>).</param>
/// <param name="Sep">Id of the separator token closing each segment (<c>[SEP]</c>).</param>
/// <param name="Pad">Id of the padding token (<c>[PAD]</c>).</param>
/// <param name="Unk">Id of the unknown token (<c>[UNK]</c>).</param>
public readonly record struct SpecialTokenIds(int Cls, int Sep, int Pad, int Unk);
