using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>One DeBERTa block: <c>attention.self</c>, <c>attention.output</c>, <c>intermediate.dense</c> (<i>f1</i>), <c>output</c>.</summary>
public sealed class DebertaV2Layer : nn.Module<Tensor, Tensor, Tensor, Tensor?, Tensor>
{
    private readonly DebertaV2Attention attention;
    private readonly Intermediate intermediate;
    private readonly ResidualOutput output;

    /// <summary>Builds the block.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Layer(TransformerConfig config)
        : base(nameof(DebertaV2Layer))
    {
        attention = new DebertaV2Attention(config);
        intermediate = new Intermediate(config);
        output = new ResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    /// <summary>Runs the block.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <param name="pairMask"><c>(batch, 1, length, length)</c>.</param>
    /// <param name="relativePositions">Bucketed relative positions <c>(length, length)</c>.</param>
    /// <param name="relativeEmbeddings">The relative embedding table, or <c>null</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor pairMask, Tensor relativePositions, Tensor? relativeEmbeddings)
    {
        Tensor attended = attention.call(hidden, pairMask, relativePositions, relativeEmbeddings);
        return output.call(intermediate.call(attended), attended);
    }
}

/// <summary>The attention block: <c>self</c> (disentangled attention) and <c>output</c>.</summary>
public sealed class DebertaV2Attention : nn.Module<Tensor, Tensor, Tensor, Tensor?, Tensor>
{
    private readonly DisentangledSelfAttention self;
    private readonly ResidualOutput output;

    /// <summary>Builds the block.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Attention(TransformerConfig config)
        : base(nameof(DebertaV2Attention))
    {
        self = new DisentangledSelfAttention(config);
        output = new ResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    /// <summary>Runs attention and its output projection.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <param name="pairMask"><c>(batch, 1, length, length)</c>.</param>
    /// <param name="relativePositions">Bucketed relative positions <c>(length, length)</c>.</param>
    /// <param name="relativeEmbeddings">The relative embedding table, or <c>null</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor pairMask, Tensor relativePositions, Tensor? relativeEmbeddings) =>
        output.call(self.call(hidden, pairMask, relativePositions, relativeEmbeddings), hidden);
}

