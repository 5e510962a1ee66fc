using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// DeBERTa's disentangled self-attention: content-to-content scores plus, over bucketed relative
/// positions, content-to-position (<c>c2p</c>) and position-to-content (<c>p2c</c>) scores, each divided by
/// <c>√(d · scaleFactor)</c> (DeBERTa-v3: <c>√(3d)</c>). <c>query_proj</c>, <c>key_proj</c>, <c>value_proj</c>
/// are <see cref="nn.Module{T, TResult}"/> fields so VectorFit's surgery can replace them.
/// </summary>
/// <remarks>
/// For query <c>i</c> and key <c>j</c> with <c>δ = bucket(i − j)</c>, span <c>k</c> and relative embeddings
/// <c>P</c> (<c>2k</c> rows): <c>A(i,j) = [Q_i·K_j + Q_i·Kr_{c(δ)} + K_j·Qr_{c(−δ')}] / √(d·s)</c>, where
/// <c>Kr = key_proj(P)</c>, <c>Qr = query_proj(P)</c> (shared keys), <c>c(x) = clamp(x + k, 0, 2k − 1)</c> and
/// <c>δ' = bucket(j − i)</c> (Hugging Face <c>disentangled_attention_bias</c>).
/// </remarks>
public sealed class DisentangledSelfAttention : nn.Module<Tensor, Tensor, Tensor, Tensor?, Tensor>
{
    private nn.Module<Tensor, Tensor> query_proj;
    private nn.Module<Tensor, Tensor> key_proj;
    private nn.Module<Tensor, Tensor> value_proj;
    private readonly Linear? pos_key_proj;
    private readonly Linear? pos_query_proj;
    private readonly Dropout pos_dropout;
    private readonly Dropout dropout;
    private readonly TransformerConfig config;
    private readonly int heads;
    private readonly int headSize;

    /// <summary>Builds the layer for <paramref name="config"/>.</summary>
    /// <param name="config">The model configuration.</param>
    public DisentangledSelfAttention(TransformerConfig config)
        : base(nameof(DisentangledSelfAttention))
    {
        this.config = config;
        heads = config.NumAttentionHeads;
        headSize = config.HeadSize;
        query_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        key_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        value_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        if (config.RelativeAttention && !config.ShareAttKey)
        {
            pos_key_proj = config.PosAttType.Contains("c2p") ? nn.Linear(config.HiddenSize, config.HiddenSize) : null;
            pos_query_proj = config.PosAttType.Contains("p2c") ? nn.Linear(config.HiddenSize, config.HiddenSize) : null;
        }

        pos_dropout = nn.Dropout(config.HiddenDropoutProb);
        dropout = nn.Dropout(config.AttentionProbsDropoutProb);
        RegisterComponents();
    }

    /// <summary>Attends over the sequence.</summary>
    /// <param name="hidden">Hidden states <c>(batch, length, hidden)</c>.</param>
    /// <param name="pairMask">1 where query <c>i</c> may attend key <c>j</c>, <c>(batch, 1, length, length)</c>.</param>
    /// <param name="relativePositions">Bucketed <c>i − j</c>, int64 <c>(length, length)</c>; ignored without relative attention.</param>
    /// <param name="relativeEmbeddings">The (normalised) relative embedding table <c>(2·span, hidden)</c>, or <c>null</c>.</param>
    /// <returns>The context <c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor pairMask, Tensor relativePositions, Tensor? relativeEmbeddings)
    {
        Tensor q = SplitHeads(query_proj.call(hidden));
        Tensor k = SplitHeads(key_proj.call(hidden));
        Tensor v = SplitHeads(value_proj.call(hidden));
        using var scale = Math.Sqrt(headSize * (double)config.AttentionScaleFactor).ToScalar();
        Tensor scores = q.matmul(k.transpose(-1, -2)).div(scale);
        if (config.RelativeAttention && relativeEmbeddings is not null)
        {
            scores = scores.add(RelativeBias(q, k, relativePositions, pos_dropout.call(relativeEmbeddings), scale), HeldScalars.One);
        }

        Tensor probabilities = dropout.call(MaskedSoftmax(scores, pairMask));
        return MergeHeads(probabilities.matmul(v));
    }

    /// <summary>
    /// Softmax over keys that leaves masked entries at exactly 0 (Hugging Face <c>XSoftmax</c>): a fully masked
    /// row (a padding query) becomes all zeros instead of uniform.
    /// </summary>
    /// <param name="scores">Scores <c>(batch, heads, length, length)</c>.</param>
    /// <param name="pairMask">1 for visible pairs, <c>(batch, 1, length, length)</c>.</param>
    /// <returns>Probabilities of the same shape.</returns>
    public static Tensor MaskedSoftmax(Tensor scores, Tensor pairMask)
    {
        Tensor hiddenPairs = pairMask.eq(HeldScalars.Zero);
        using var min = (scores.dtype == ScalarType.Float64 ? double.MinValue : float.MinValue).ToScalar();
        return scores.masked_fill(hiddenPairs, min).softmax(-1).masked_fill(hiddenPairs, HeldScalars.Zero);
    }

    private Tensor RelativeBias(Tensor q, Tensor k, Tensor relativePositions, Tensor relativeEmbeddings, Scalar scale)
    {
        long span = config.PositionEmbeddingSpan;
        using var spanScalar = span.ToScalar();
        using var lastBucket = ((2 * span) - 1).ToScalar();
        long length = q.shape[2];
        Tensor table = relativeEmbeddings.narrow(0, 0, Math.Min(2 * span, relativeEmbeddings.shape[0])).unsqueeze(0);
        long[] expanded = [q.shape[0], q.shape[1], length, length];
        Tensor? bias = null;
        if (config.PosAttType.Contains("c2p"))
        {
            // Content-to-position: Q_i · Kr at column c(δ(i, j)).
            Tensor positionKeys = SplitHeads(config.ShareAttKey ? key_proj.call(table) : pos_key_proj!.call(table));
            Tensor c2p = q.matmul(positionKeys.transpose(-1, -2));
            Tensor index = relativePositions.add(spanScalar, HeldScalars.One).clamp(HeldScalars.Zero, lastBucket).expand(expanded);
            bias = c2p.gather(-1, index).div(scale);
        }

        if (config.PosAttType.Contains("p2c"))
        {
            // Position-to-content: K_j · Qr at column c(−δ(j, i)), computed per key row, then transposed.
            Tensor positionQueries = SplitHeads(config.ShareAttKey ? query_proj.call(table) : pos_query_proj!.call(table));
            Tensor p2c = k.matmul(positionQueries.transpose(-1, -2));
            Tensor index = relativePositions.neg().add(spanScalar, HeldScalars.One).clamp(HeldScalars.Zero, lastBucket).expand(expanded);
            Tensor term = p2c.gather(-1, index).transpose(-1, -2).div(scale);
            bias = bias is null ? term : bias.add(term, HeldScalars.One);
        }

        return bias ?? zeros(1, dtype: q.dtype, device: q.device);
    }

    /// <summary>(batch, length, heads·d) → (batch, heads, length, d).</summary>
    private Tensor SplitHeads(Tensor x) => x.view(x.shape[0], x.shape[1], heads, headSize).transpose(1, 2);

    /// <summary>(batch, heads, length, d) → (batch, length, heads·d).</summary>
    private Tensor MergeHeads(Tensor x) => x.transpose(1, 2).contiguous().view(x.shape[0], x.shape[2], heads * headSize);
}
