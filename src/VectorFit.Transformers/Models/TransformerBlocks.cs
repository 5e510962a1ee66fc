// The residual-output and intermediate (MLP) blocks that BERT and DeBERTa share, with Hugging Face's names.
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// A projection back to the residual stream: <c>LayerNorm(dropout(dense(x)) + residual)</c>. Used as
/// <c>attention.output</c> (dense: hidden → hidden, the paper's <i>o</i>) and as the layer's <c>output</c>
/// (dense: intermediate → hidden, the paper's <i>f2</i>).
/// </summary>
public sealed class ResidualOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> dense;

    [ComponentName(Name = "LayerNorm")]
    private readonly LayerNorm _layerNorm;

    private readonly Dropout dropout;

    /// <summary>Builds the block.</summary>
    /// <param name="inputSize">Width of the dense layer's input.</param>
    /// <param name="config">The model configuration.</param>
    public ResidualOutput(long inputSize, TransformerConfig config)
        : base(nameof(ResidualOutput))
    {
        dense = nn.Linear(inputSize, config.HiddenSize);
        _layerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>Projects, adds the residual and normalises.</summary>
    /// <param name="hidden">Input of the dense layer <c>(batch, length, inputSize)</c>.</param>
    /// <param name="residual">The residual <c>(batch, length, hidden)</c>.</param>
    /// <returns><c>(batch, length, hidden)</c>.</returns>
    public override Tensor forward(Tensor hidden, Tensor residual) =>
        _layerNorm.call(dropout.call(dense.call(hidden)).add(residual, HeldScalars.One));
}

/// <summary>The MLP's first layer with its activation: <c>act(dense(x))</c>, dense hidden → intermediate (the paper's <i>f1</i>).</summary>
public sealed class Intermediate : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> dense;
    private readonly string activation;

    /// <summary>Builds the layer.</summary>
    /// <param name="config">The model configuration.</param>
    public Intermediate(TransformerConfig config)
        : base(nameof(Intermediate))
    {
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <summary>Applies the layer.</summary>
    /// <param name="hidden"><c>(batch, length, hidden)</c>.</param>
    /// <returns><c>(batch, length, intermediate)</c>.</returns>
    public override Tensor forward(Tensor hidden) => Activations.Apply(activation, dense.call(hidden));
}
