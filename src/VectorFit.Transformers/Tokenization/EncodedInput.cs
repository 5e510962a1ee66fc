namespace VectorFit.Transformers.Tokenization;

/// <summary>One encoded example: the three model inputs, each of the same length.</summary>
/// <param name="InputIds">Token ids: <c>[CLS] a [SEP] (b [SEP])</c> followed by padding ids.</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding.</param>
/// <param name="TokenTypeIds">0 for <c>[CLS]</c>, the first segment and its <c>[SEP]</c>; 1 for the second segment and its <c>[SEP]</c>; 0 for padding.</param>
/// <param name="TokenCount">Number of real (non-padding) positions, special tokens included.</param>
/// <param name="TruncatedTokens">How many segment tokens truncation removed (0 when the example fitted).</param>
public sealed record EncodedInput(
    long[] InputIds,
    long[] AttentionMask,
    long[] TokenTypeIds,
    int TokenCount,
    int TruncatedTokens)
{
    /// <summary>Length of each array (the padded sequence length).</summary>
    public int Length => InputIds.Length;
}
