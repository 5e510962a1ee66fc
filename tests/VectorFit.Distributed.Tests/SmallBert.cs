using TorchSharp;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace VectorFit.Distributed.Tests;

/// <summary>
/// A BERT-shaped classifier (Hugging Face module names, so <c>TargetPreset.Bert</c> finds its layers) of any size: the same seed gives
/// the same weights, so every rank builds the same base model.
/// </summary>
internal sealed class SmallBert : nn.Module<Tensor, Tensor>
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public SmallBert(TransformerConfig config, int classes, long seed, ScalarType dtype = ScalarType.Float32) : base(nameof(SmallBert))
    {
        var defaultType = torch.get_default_dtype();
        torch.set_default_dtype(dtype);
        try
        {
            torch.manual_seed(seed);
            embeddings = new BertEmbeddings(config);
            encoder = new BertEncoder(config);
            classifier = nn.Linear(config.HiddenSize, classes);
        }
        finally
        {
            torch.set_default_dtype(defaultType);
        }

        Config = config;
        RegisterComponents();
    }

    public TransformerConfig Config { get; }

    /// <summary>The tests' model: 2 layers, hidden 8, 3 classes.</summary>
    public static TransformerConfig Tiny { get; } = Shape(vocabulary: 20, hidden: 8, heads: 2, feedForward: 16, layers: 2, positions: 8);

    /// <summary>all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads, feed-forward 1536), with a small vocabulary.</summary>
    public static TransformerConfig MiniLm { get; } = Shape(vocabulary: 1000, hidden: 384, heads: 12, feedForward: 1536, layers: 6, positions: 128);

    public static TransformerConfig Shape(int vocabulary, int hidden, int heads, int feedForward, int layers, int positions) => new()
    {
        ModelType = "bert",
        VocabSize = vocabulary,
        HiddenSize = hidden,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        IntermediateSize = feedForward,
        MaxPositionEmbeddings = positions,
        TypeVocabSize = 0,
        LayerNormEps = 1e-5,
        HiddenDropoutProb = 0,
        AttentionProbsDropoutProb = 0,
    };

    /// <summary>Input ids <c>(batch, seq)</c> int64 → logits <c>(batch, classes)</c> from the first token.</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = embeddings.call(inputIds, torch.zeros_like(inputIds));
        var mask = torch.zeros(inputIds.shape[0], 1, 1, inputIds.shape[1], dtype: hidden.dtype, device: hidden.device);
        var first = encoder.call(hidden, mask).select(1, 0);
        return classifier.call(first).MoveToOuterDisposeScope();
    }
}
