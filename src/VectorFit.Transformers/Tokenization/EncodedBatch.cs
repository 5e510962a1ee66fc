namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// A batch of encoded examples as flat, row-major arrays of shape
/// <c>[BatchSize, SequenceLength]</c>, ready to become <c>int64</c> tensors.
/// </summary>
/// <param name="InputIds">Token ids, <c>BatchSize * SequenceLength</c> entries.</param>
/// <param name="AttentionMask">1 for real tokens, 0 for padding.</param>
/// <param name="TokenTypeIds">Segment ids (0 first segment, 1 second segment).</param>
/// <param name="BatchSize">Number of examples (rows).</param>
/// <param name="SequenceLength">Positions per example (columns).</param>
/// <param name="TruncatedExamples">How many examples lost tokens to truncation.</param>
public sealed record EncodedBatch(
    long[] InputIds,
    long[] AttentionMask,
    long[] TokenTypeIds,
    int BatchSize,
    int SequenceLength,
    int TruncatedExamples)
{
    /// <summary>The tensor shape <c>[BatchSize, SequenceLength]</c>.</summary>
    public long[] Shape => [BatchSize, SequenceLength];
}
