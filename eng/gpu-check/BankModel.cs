using TorchSharp;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace GpuCheck;

/// <summary>
/// The benchmarks' HiddenStateClassifier (benchmarks/VectorFit.Benchmarks/Models/HiddenStateClassifier.cs) with one change:
/// the head sits in a field typed <c>Module&lt;Tensor, Tensor&gt;</c>, so an AdapterBank can wrap it (ModulesToSave = ["head"])
/// and routed rows get their adapter's head too. VectorFit.Transformers' BertEncoder (Hugging Face names, post-LayerNorm,
/// GELU, no dropout, LayerNorm eps 1e-5) fed hidden states (batch, tokens, d), every token real, a first-token Linear head.
/// </summary>
internal sealed class BankEncoder : nn.Module<Tensor, Tensor>
{
    public const int Model = 768;
    public const int Classes = 2;

    private readonly BertEncoder encoder;
    private readonly nn.Module<Tensor, Tensor> head;

    public BankEncoder(int layers) : base(nameof(BankEncoder))
    {
        var config = new TransformerConfig
        {
            ModelType = "bert",
            VocabSize = 1,
            HiddenSize = Model,
            NumHiddenLayers = layers,
            NumAttentionHeads = 12,
            IntermediateSize = 3072,
            HiddenAct = "gelu",
            HiddenDropoutProb = 0,
            AttentionProbsDropoutProb = 0,
            LayerNormEps = 1e-5,
        };
        config.Validate();
        encoder = new BertEncoder(config);
        head = nn.Linear(Model, Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var mask = torch.zeros(input.shape[0], 1, 1, input.shape[1], dtype: input.dtype, device: input.device);
        var first = encoder.call(input, mask).select(1, 0);
        return head.call(first).MoveToOuterDisposeScope();
    }
}
