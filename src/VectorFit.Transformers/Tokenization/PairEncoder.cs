namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// Builds BERT-style model inputs from already tokenized segments: adds <c>[CLS]</c>/<c>[SEP]</c>,
/// truncates, pads and computes attention masks and token type ids. Shared by every <see cref="ITokenizer"/>.
/// </summary>
public static class PairEncoder
{
    /// <summary>
    /// Encodes <c>[CLS] first [SEP]</c> or <c>[CLS] first [SEP] second [SEP]</c>. Segments are truncated to fit
    /// <paramref name="maxLength"/>: a single segment loses its tail; a pair is truncated longest first
    /// (one token at a time from the end of the longer segment, from the second segment on ties), as
    /// Hugging Face's <c>truncation="longest_first"</c> does.
    /// </summary>
    /// <param name="first">Ids of the first segment.</param>
    /// <param name="second">Ids of the second segment, or <see langword="null"/>.</param>
    /// <param name="maxLength">Maximum sequence length including special tokens.</param>
    /// <param name="special">Special token ids.</param>
    /// <param name="padToMaxLength">When <see langword="true"/> the arrays have exactly <paramref name="maxLength"/>
    /// entries; otherwise they end at the last real token.</param>
    /// <returns>The encoded example.</returns>
    public static EncodedInput Encode(
        IReadOnlyList<int> first,
        IReadOnlyList<int>? second,
        int maxLength,
        SpecialTokenIds special,
        bool padToMaxLength = true)
    {
        ArgumentNullException.ThrowIfNull(first);
        int specialCount = second is null ? 2 : 3;
        if (maxLength < specialCount)
        {
            throw new ArgumentOutOfRangeException(
                nameof(maxLength),
                maxLength,
                $"maxLength {maxLength} cannot hold the {specialCount} special tokens of a "
                + (second is null ? "single-segment" : "pair")
                + $" input; use a maxLength of at least {specialCount + 1} (GLUE recipes use 128 or 256).");
        }

        int budget = maxLength - specialCount;
        int firstKept;
        int secondKept = 0;
        if (second is null)
        {
            firstKept = Math.Min(first.Count, budget);
        }
        else
        {
            (firstKept, secondKept) = TruncateLongestFirst(first.Count, second.Count, budget);
        }

        int tokenCount = firstKept + secondKept + specialCount;
        int length = padToMaxLength ? maxLength : tokenCount;
        var ids = new long[length];
        var mask = new long[length];
        var types = new long[length];

        int position = 0;
        ids[position++] = special.Cls;
        for (int i = 0; i < firstKept; i++)
        {
            ids[position++] = first[i];
        }

        ids[position++] = special.Sep;
        if (second is not null)
        {
            int secondStart = position;
            for (int i = 0; i < secondKept; i++)
            {
                ids[position++] = second[i];
            }

            ids[position++] = special.Sep;
            types.AsSpan(secondStart, position - secondStart).Fill(1);
        }

        mask.AsSpan(0, tokenCount).Fill(1);
        ids.AsSpan(tokenCount).Fill(special.Pad);
        int truncated = first.Count - firstKept + (second is null ? 0 : second.Count - secondKept);
        return new EncodedInput(ids, mask, types, tokenCount, truncated);
    }

    /// <summary>
    /// How many tokens of each segment survive longest-first truncation to <paramref name="budget"/>
    /// segment tokens: while the pair is too long, drop the last token of the longer segment
    /// (of the second segment when both are equally long).
    /// </summary>
    /// <remarks>
    /// This is transformers' Python tokenizers' rule (<c>truncate_sequences</c> with <c>longest_first</c>), kept on
    /// purpose: it is what the GLUE scripts of the papers ran with. Hugging Face's Rust ("fast") tokenizers split
    /// the cut differently — each segment is first cut to half the budget, and when the budget is odd the odd token
    /// goes to the other segment — so on 6–9% of truncated pairs one token differs from a fast tokenizer's output.
    /// </remarks>
    /// <param name="firstLength">Tokens in the first segment.</param>
    /// <param name="secondLength">Tokens in the second segment.</param>
    /// <param name="budget">Tokens available to both segments together.</param>
    /// <returns>The kept lengths of the first and second segment.</returns>
    public static (int FirstKept, int SecondKept) TruncateLongestFirst(int firstLength, int secondLength, int budget)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstLength);
        ArgumentOutOfRangeException.ThrowIfNegative(secondLength);
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        int a = firstLength;
        int b = secondLength;
        int excess = a + b - budget;
        if (excess <= 0)
        {
            return (a, b);
        }

        // Bring the longer segment down to the shorter one, then alternate (second first on ties).
        int gap = Math.Abs(a - b);
        int fromGap = Math.Min(gap, excess);
        if (a > b)
        {
            a -= fromGap;
        }
        else
        {
            b -= fromGap;
        }

        excess -= fromGap;
        b -= (excess + 1) / 2;
        a -= excess / 2;
        return (a, b);
    }

    /// <summary>Pads an unpadded encoding with the pad id (mask 0, type 0) up to <paramref name="length"/>.</summary>
    /// <param name="input">An encoding no longer than <paramref name="length"/>.</param>
    /// <param name="length">Target length.</param>
    /// <param name="padId">Id written into the padding positions.</param>
    /// <returns>A new encoding of exactly <paramref name="length"/> positions.</returns>
    public static EncodedInput Pad(EncodedInput input, int length, int padId)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length > length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(length),
                length,
                $"cannot pad an encoding of {input.Length} positions to {length}; pass a length of at least {input.Length}.");
        }

        var ids = new long[length];
        var mask = new long[length];
        var types = new long[length];
        input.InputIds.CopyTo(ids, 0);
        input.AttentionMask.CopyTo(mask, 0);
        input.TokenTypeIds.CopyTo(types, 0);
        ids.AsSpan(input.Length).Fill(padId);
        return input with { InputIds = ids, AttentionMask = mask, TokenTypeIds = types };
    }
}
