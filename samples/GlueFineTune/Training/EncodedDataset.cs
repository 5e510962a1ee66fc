using GlueFineTune.Data;
using VectorFit.Transformers.Tokenization;
using static TorchSharp.torch;

namespace GlueFineTune.Training;

/// <summary>One batch as tensors: the three model inputs <c>(batch, length)</c> and the targets.</summary>
/// <param name="InputIds">Token ids, int64.</param>
/// <param name="AttentionMask">1 for tokens, 0 for padding, int64.</param>
/// <param name="TokenTypeIds">Segment ids, int64.</param>
/// <param name="Labels">Class ids (int64) or regression scores (float32), <c>(batch)</c>.</param>
internal sealed record TensorBatch(Tensor InputIds, Tensor AttentionMask, Tensor TokenTypeIds, Tensor Labels)
{
    /// <summary>Examples in the batch.</summary>
    public long Size => InputIds.shape[0];
}

/// <summary>
/// A split tokenised once up front; batches are padded to their longest row (dynamic padding, the
/// same result as padding to the maximum length for a model that honours the attention mask).
/// </summary>
internal sealed class EncodedDataset
{
    private readonly EncodedInput[] rows;
    private readonly SpecialTokenIds special;
    private readonly bool regression;

    /// <summary>Tokenises every example.</summary>
    /// <param name="tokenizer">The checkpoint's tokenizer.</param>
    /// <param name="examples">The split.</param>
    /// <param name="task">The task (regression or classification targets).</param>
    /// <param name="maxLength">Longest row, special tokens included.</param>
    /// <param name="vocabularyLimit">The model's vocabulary size: every id must be below it.</param>
    public EncodedDataset(ITokenizer tokenizer, IReadOnlyList<GlueExample> examples, GlueTask task, int maxLength, int vocabularyLimit)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(task);
        if (examples.Count == 0)
        {
            throw new ArgumentException($"the {task.Name} split is empty; check the data folder.", nameof(examples));
        }

        if (tokenizer.VocabularySize > vocabularyLimit)
        {
            throw new ArgumentException($"the tokenizer has {tokenizer.VocabularySize} entries but the model's vocab_size is {vocabularyLimit}; the tokenizer files do not belong to this checkpoint.", nameof(tokenizer));
        }

        special = tokenizer.SpecialTokens;
        regression = task.IsRegression;
        Examples = examples;
        rows = new EncodedInput[examples.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            GlueExample e = examples[i];
            IReadOnlyList<int> first = tokenizer.TokenizeToIds(e.First);
            IReadOnlyList<int>? second = e.Second is null ? null : tokenizer.TokenizeToIds(e.Second);
            rows[i] = PairEncoder.Encode(first, second, maxLength, special, padToMaxLength: false);
            if (rows[i].TruncatedTokens > 0)
            {
                TruncatedCount++;
            }
        }
    }

    /// <summary>The examples, in their original order.</summary>
    public IReadOnlyList<GlueExample> Examples { get; }

    /// <summary>Number of examples.</summary>
    public int Count => rows.Length;

    /// <summary>The number of tokens of example <paramref name="index"/> (special tokens included, padding not).</summary>
    /// <param name="index">The example's index.</param>
    /// <returns>Its encoded length.</returns>
    public int LengthOf(int index) => rows[index].Length;

    /// <summary>Examples that lost tokens to truncation.</summary>
    public int TruncatedCount { get; }

    /// <summary>Builds the tensors of the examples at <paramref name="indices"/>, padded to the longest of them.</summary>
    /// <param name="indices">Example indices.</param>
    /// <param name="device">Where to put the tensors.</param>
    /// <returns>The batch (tensors belong to the current dispose scope).</returns>
    public TensorBatch MakeBatch(IReadOnlyList<int> indices, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int batch = indices.Count;
        int length = indices.Max(i => rows[i].Length);
        var ids = new long[batch * length];
        var mask = new long[batch * length];
        var types = new long[batch * length];
        ids.AsSpan().Fill(special.Pad);
        var classLabels = new long[batch];
        var scores = new float[batch];
        for (int b = 0; b < batch; b++)
        {
            EncodedInput row = rows[indices[b]];
            row.InputIds.CopyTo(ids, b * length);
            row.AttentionMask.CopyTo(mask, b * length);
            row.TokenTypeIds.CopyTo(types, b * length);
            classLabels[b] = Examples[indices[b]].Label;
            scores[b] = Examples[indices[b]].Score;
        }

        long[] shape = [batch, length];
        Tensor labels = regression ? tensor(scores, device: device) : tensor(classLabels, device: device);
        return new TensorBatch(tensor(ids, shape, device: device), tensor(mask, shape, device: device), tensor(types, shape, device: device), labels);
    }
}
