using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.Models;

/// <summary>The shape of the BERT-base-shaped encoder the model-level benchmark trains.</summary>
/// <param name="Layers">Encoder layers (4 or 12 in the benchmark).</param>
/// <param name="Model">Hidden size d (768).</param>
/// <param name="Mlp">MLP width (3072).</param>
/// <param name="Heads">Attention heads (12).</param>
/// <param name="Classes">Classes of the first-token classifier head (2).</param>
public sealed record EncoderShape(int Layers, int Model = 768, int Mlp = 3072, int Heads = 12, int Classes = 2)
{
    /// <summary>LayerNorm epsilon: PyTorch's and TorchSharp's default, which <c>benchmarks/pytorch/step.py</c> uses too.</summary>
    public const double LayerNormEps = 1e-5;

    /// <summary>
    /// The encoder's <see cref="TransformerConfig"/>: no dropout, GELU, LayerNorm eps <see cref="LayerNormEps"/>. The
    /// vocabulary and position fields are required by the record but unused: the model has no embedding table.
    /// </summary>
    public TransformerConfig ToConfig() => new()
    {
        ModelType = "bert",
        VocabSize = 1,
        HiddenSize = Model,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        IntermediateSize = Mlp,
        HiddenAct = "gelu",
        HiddenDropoutProb = 0,
        AttentionProbsDropoutProb = 0,
        LayerNormEps = LayerNormEps,
    };
}

/// <summary>
/// The model of the model-level benchmark: VectorFit.Transformers' <see cref="BertEncoder"/> (post-LayerNorm BERT
/// layers with Hugging Face's names, <c>encoder.layer.N.attention.self.query</c>, …) fed hidden states
/// <c>(batch, tokens, d)</c> (no embedding table, every token real, no dropout), with a classifier <c>head</c> on the
/// first token. <c>benchmarks/pytorch/step.py</c> builds the same model, with the same names, operation for operation.
/// </summary>
/// <remarks>
/// <see cref="TargetPreset.Bert"/> finds its q, k, v, o, f1 and f2 layers; the head is <c>head</c>.
/// </remarks>
public sealed class HiddenStateClassifier : nn.Module<Tensor, Tensor>
{
    private readonly BertEncoder encoder;
    private readonly Linear head;

    /// <summary>A freshly initialised model (seed with <c>torch.manual_seed</c> first for reproducible weights).</summary>
    public HiddenStateClassifier(EncoderShape shape)
        : base(nameof(HiddenStateClassifier))
    {
        ArgumentNullException.ThrowIfNull(shape);
        var config = shape.ToConfig();
        config.Validate();
        Shape = shape;
        encoder = new BertEncoder(config);
        head = nn.Linear(shape.Model, shape.Classes);
        RegisterComponents();
    }

    /// <summary>The model's shape.</summary>
    public EncoderShape Shape { get; }

    /// <summary>The classifier head (trained by every method; <c>modules_to_save</c> for VectorFit).</summary>
    public Linear Head => head;

    /// <summary>Logits <c>(batch, classes)</c> for hidden states <c>(batch, tokens, d)</c>.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        // Every token is real: the additive key mask the encoder takes is all zeros, (batch, 1, 1, tokens).
        var mask = torch.zeros(input.shape[0], 1, 1, input.shape[1], dtype: input.dtype, device: input.device);
        var first = encoder.call(input, mask).select(1, 0);
        return head.call(first).MoveToOuterDisposeScope();
    }
}
