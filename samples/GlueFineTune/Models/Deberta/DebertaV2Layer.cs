using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace GlueFineTune.Models.Deberta;

/// <summary>
/// <c>LayerNorm(dropout(dense(x)) + residual)</c>: DeBERTa's <c>attention.output</c> (the paper's <i>o</i>) and the
/// block's <c>output</c> (the paper's <i>f2</i>).
/// </summary>
internal sealed class DebertaV2ResidualOutput : nn.Module
{
    private nn.Module<Tensor, Tensor> dense;

    [ComponentName(Name = "LayerNorm")]
    private readonly LayerNorm _layerNorm;

    private readonly Dropout dropout;

    /// <summary>Builds the block.</summary>
    /// <param name="inputSize">Width of the dense layer's input.</param>
    /// <param name="config">The model configuration.</param>
    public DebertaV2ResidualOutput(long inputSize, TransformerConfig config)
        : base(nameof(DebertaV2ResidualOutput))
    {
        dense = nn.Linear(inputSize, config.HiddenSize);
        _layerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>Projects, adds the residual and normalises.</summary>
    /// <param name="hidden"><c>(batch, length, inputSize)</c>.</param>
    /// <param name="residual"><c>(batch, length, hidden)</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public Tensor Forward(Tensor hidden, Tensor residual) =>
        _layerNorm.call(dropout.call(dense.call(hidden)).add(residual));
}

/// <summary>One DeBERTa block: <c>attention.self</c>, <c>attention.output</c>, <c>intermediate.dense</c> (<i>f1</i>), <c>output</c>.</summary>
internal sealed class DebertaV2Layer : nn.Module
{
    private readonly DebertaV2Attention attention;
    private readonly DebertaV2Intermediate intermediate;
    private readonly DebertaV2ResidualOutput output;

    /// <summary>Builds the block.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Layer(TransformerConfig config)
        : base(nameof(DebertaV2Layer))
    {
        attention = new DebertaV2Attention(config);
        intermediate = new DebertaV2Intermediate(config);
        output = new DebertaV2ResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    /// <summary>Runs the block.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <param name="pairMask"><c>(batch, 1, length, length)</c>.</param>
    /// <param name="relativePositions">Bucketed relative positions <c>(length, length)</c>.</param>
    /// <param name="relativeEmbeddings">The relative embedding table, or <c>null</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public Tensor Forward(Tensor hidden, Tensor pairMask, Tensor relativePositions, Tensor? relativeEmbeddings)
    {
        Tensor attended = attention.Forward(hidden, pairMask, relativePositions, relativeEmbeddings);
        return output.Forward(intermediate.Forward(attended), attended);
    }
}

/// <summary>The attention block: <c>self</c> (disentangled attention) and <c>output</c>.</summary>
internal sealed class DebertaV2Attention : nn.Module
{
    private readonly DisentangledSelfAttention self;
    private readonly DebertaV2ResidualOutput output;

    /// <summary>Builds the block.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Attention(TransformerConfig config)
        : base(nameof(DebertaV2Attention))
    {
        self = new DisentangledSelfAttention(config);
        output = new DebertaV2ResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    /// <summary>Runs attention and its output projection.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <param name="pairMask"><c>(batch, 1, length, length)</c>.</param>
    /// <param name="relativePositions">Bucketed relative positions <c>(length, length)</c>.</param>
    /// <param name="relativeEmbeddings">The relative embedding table, or <c>null</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public Tensor Forward(Tensor hidden, Tensor pairMask, Tensor relativePositions, Tensor? relativeEmbeddings) =>
        output.Forward(self.Forward(hidden, pairMask, relativePositions, relativeEmbeddings), hidden);
}

/// <summary><c>act(dense(x))</c>, dense hidden → intermediate (the paper's <i>f1</i>).</summary>
internal sealed class DebertaV2Intermediate : nn.Module
{
    private nn.Module<Tensor, Tensor> dense;
    private readonly string activation;

    /// <summary>Builds the layer.</summary>
    /// <param name="config">The model configuration.</param>
    public DebertaV2Intermediate(TransformerConfig config)
        : base(nameof(DebertaV2Intermediate))
    {
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <summary>Applies the layer.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <returns><c>(batch, length, intermediate)</c>.</returns>
    public Tensor Forward(Tensor hidden) => Activations.Apply(activation, dense.call(hidden));
}
