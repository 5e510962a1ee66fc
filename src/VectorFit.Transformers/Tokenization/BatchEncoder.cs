namespace VectorFit.Transformers.Tokenization;

/// <summary>Encodes many examples into the flat <c>[batch, length]</c> arrays the model consumes.</summary>
public static class BatchEncoder
{
    /// <summary>
    /// Encodes every (first, second) pair and stacks them row by row. Each row is truncated to
    /// <paramref name="maxLength"/>; rows are padded to <paramref name="maxLength"/>, or, with
    /// <paramref name="padToLongest"/>, only to the longest row of this batch (faster, same results
    /// for a model that honours the attention mask).
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="examples">The examples; <c>Second</c> is <see langword="null"/> for single-sentence tasks.</param>
    /// <param name="maxLength">Maximum sequence length including special tokens.</param>
    /// <param name="padToLongest">Pad to the longest row instead of to <paramref name="maxLength"/>.</param>
    /// <returns>The stacked batch.</returns>
    public static EncodedBatch EncodeBatch(
        this ITokenizer tokenizer,
        IReadOnlyList<(string First, string? Second)> examples,
        int maxLength,
        bool padToLongest = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
        {
            throw new ArgumentException("cannot encode an empty batch; pass at least one example.", nameof(examples));
        }

        var rows = new EncodedInput[examples.Count];
        int longest = 0;
        int truncatedExamples = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            var (first, second) = examples[i];
            IReadOnlyList<int> firstIds = tokenizer.TokenizeToIds(first);
            IReadOnlyList<int>? secondIds = second is null ? null : tokenizer.TokenizeToIds(second);
            rows[i] = PairEncoder.Encode(firstIds, secondIds, maxLength, tokenizer.SpecialTokens, padToMaxLength: !padToLongest);
            longest = Math.Max(longest, rows[i].Length);
            if (rows[i].TruncatedTokens > 0)
            {
                truncatedExamples++;
            }
        }

        int length = padToLongest ? longest : maxLength;
        var ids = new long[rows.Length * length];
        var mask = new long[rows.Length * length];
        var types = new long[rows.Length * length];
        ids.AsSpan().Fill(tokenizer.SpecialTokens.Pad);
        for (int i = 0; i < rows.Length; i++)
        {
            int offset = i * length;
            rows[i].InputIds.CopyTo(ids, offset);
            rows[i].AttentionMask.CopyTo(mask, offset);
            rows[i].TokenTypeIds.CopyTo(types, offset);
        }

        return new EncodedBatch(ids, mask, types, rows.Length, length, truncatedExamples);
    }
}
