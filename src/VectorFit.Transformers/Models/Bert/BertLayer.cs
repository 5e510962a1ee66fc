using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// Multi-head scaled dot-product self-attention, <c>softmax(QKᵀ/√d + mask)·V</c>. The projections
/// <c>query</c>, <c>key</c>, <c>value</c> are <see cref="nn.Module{T, TResult}"/> fields so VectorFit's surgery
/// can replace each with a <c>VectorFitLinear</c>.
/// </summary>
public sealed class BertSelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> query;
    private nn.Module<Tensor, Tensor> key;
    private nn.Module<Tensor, Tensor> value;
    private readonly Dropout dropout;
    private readonly int heads;
    private readonly int headSize;

    /// <summary>Builds the layer for <paramref name="config"/>.</summary>
    /// <param name="config">The model configuration.</param>
    public BertSelfAttention(TransformerConfig config)
        : base(nameof(BertSelfAttention))
    {
        query = nn.Linear(config.HiddenSize, config.HiddenSize);
        key = nn.Linear(config.HiddenSize, config.HiddenSize);
        value = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.AttentionProbsDropoutProb);
        heads = config.NumAttentionHeads;
        headSize = config.HeadSize;
        RegisterComponents();
    }

    /// <summary>Attends over the sequence.</summary>
    /// <param name="hidden">Hidden states <c>(batch, length, hidden)</c>.</param>
    /// <param name="additiveMask">0 for visible keys, a large negative number for padding, <c>(batch, 1, 1, length)</c>.</param>
    /// <returns>The context <c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        Tensor q = SplitHeads(query.call(hidden));
        Tensor k = SplitHeads(key.call(hidden));
        Tensor v = SplitHeads(value.call(hidden));
        using var scale = Math.Sqrt(headSize).ToScalar();
        Tensor scores = q.matmul(k.transpose(-1, -2)).div(scale).add(additiveMask, HeldScalars.One);
        Tensor probabilities = dropout.call(scores.softmax(-1));
        Tensor context = probabilities.matmul(v);
        return MergeHeads(context);
    }

    /// <summary>(batch, length, heads·d) → (batch, heads, length, d).</summary>
    private Tensor SplitHeads(Tensor x) => x.view(x.shape[0], x.shape[1], heads, headSize).transpose(1, 2);

    /// <summary>(batch, heads, length, d) → (batch, length, heads·d).</summary>
    private Tensor MergeHeads(Tensor x) => x.transpose(1, 2).contiguous().view(x.shape[0], x.shape[2], heads * headSize);
}

/// <summary>BERT's attention block: <c>self</c> (the attention) and <c>output</c> (projection + residual + LayerNorm).</summary>
public sealed class BertAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly BertSelfAttention self;
    private readonly ResidualOutput output;

    /// <summary>Builds the block.</summary>
    /// <param name="config">The model configuration.</param>
    public BertAttention(TransformerConfig config)
        : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(config);
        output = new ResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    /// <summary>Runs attention and its output projection.</summary>
    /// <param name="hidden">Hidden states <c>(batch, length, hidden)</c>.</param>
    /// <param name="additiveMask">The additive key mask <c>(batch, 1, 1, length)</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor additiveMask) => output.call(self.call(hidden, additiveMask), hidden);
}

/// <summary>One transformer block: <c>attention</c>, <c>intermediate</c>, <c>output</c>.</summary>
public sealed class BertLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly BertAttention attention;
    private readonly Intermediate intermediate;
    private readonly ResidualOutput output;

    /// <summary>Builds the block.</summary>
    /// <param name="config">The model configuration.</param>
    public BertLayer(TransformerConfig config)
        : base(nameof(BertLayer))
    {
        attention = new BertAttention(config);
        intermediate = new Intermediate(config);
        output = new ResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    /// <summary>Runs the block.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <param name="additiveMask">The additive key mask <c>(batch, 1, 1, length)</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        Tensor attended = attention.call(hidden, additiveMask);
        return output.call(intermediate.call(attended), attended);
    }
}
