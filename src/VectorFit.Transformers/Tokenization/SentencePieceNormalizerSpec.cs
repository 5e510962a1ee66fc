namespace VectorFit.Transformers.Tokenization;

/// <summary>The options of SentencePiece's <c>NormalizerSpec</c> that encoding uses (proto2 defaults).</summary>
/// <param name="Name">Normalization rule name (<c>nmt_nfkc</c>, <c>nfkc</c>, <c>nmt_nfkc_cf</c>, <c>nfkc_cf</c>, <c>identity</c>).</param>
/// <param name="AddDummyPrefix">Prepend a space so the first word is spelt like any other (field 3).</param>
/// <param name="RemoveExtraWhitespaces">Trim and collapse runs of spaces (field 4).</param>
/// <param name="EscapeWhitespaces">Write spaces as U+2581 "▁" (field 5).</param>
/// <param name="PrecompiledCharsMap">The compiled normalization rules (field 2); <see langword="null"/> when the model has none.</param>
internal sealed record SentencePieceNormalizerSpec(
    string Name = "nmt_nfkc",
    bool AddDummyPrefix = true,
    bool RemoveExtraWhitespaces = true,
    bool EscapeWhitespaces = true,
    PrecompiledCharsMap? PrecompiledCharsMap = null);
