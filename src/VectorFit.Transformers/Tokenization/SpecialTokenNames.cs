namespace VectorFit.Transformers.Tokenization;

/// <summary>The strings of the special tokens, as written in the vocabulary.</summary>
/// <param name="Cls">Classification token, <c>[CLS]</c> by default.</param>
/// <param name="Sep">Separator token, <c>[SEP]</c> by default.</param>
/// <param name="Pad">Padding token, <c>[PAD]</c> by default.</param>
/// <param name="Unk">Unknown token, <c>[UNK]</c> by default.</param>
/// <param name="Mask">Mask token, <c>[MASK]</c> by default (kept whole in text; not needed for classification).</param>
public sealed record SpecialTokenNames(
    string Cls = "[CLS]",
    string Sep = "[SEP]",
    string Pad = "[PAD]",
    string Unk = "[UNK]",
    string Mask = "[MASK]")
{
    /// <summary>BERT's and DeBERTa-v3's names: <c>[CLS]</c>, <c>[SEP]</c>, <c>[PAD]</c>, <c>[UNK]</c>, <c>[MASK]</c>.</summary>
    public static SpecialTokenNames Default { get; } = new();

    /// <summary>All five names, in the order Cls, Sep, Pad, Unk, Mask.</summary>
    public IReadOnlyList<string> All => [Cls, Sep, Pad, Unk, Mask];
}
