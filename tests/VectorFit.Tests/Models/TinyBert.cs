using TorchSharp;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Models;

/// <summary>
/// A BERT-shaped classifier small enough for tests, built from VectorFit.Transformers' BERT blocks
/// (<see cref="BertEmbeddings"/>, <see cref="BertEncoder"/>), so it has Hugging Face's module names
/// (<c>embeddings.*</c>, <c>encoder.layer.N.attention.self.{query,key,value}</c>, <c>attention.output.dense</c>,
/// <c>intermediate.dense</c>, <c>output.dense</c>, <c>LayerNorm</c>s) and a <c>classifier</c> on the first token.
/// The same seed gives the same weights, so two instances built with one seed are copies of one base model.
/// </summary>
/// <remarks>
/// A thin root rather than <see cref="BertForSequenceClassification"/>: the tests feed token ids alone
/// (<c>Module&lt;Tensor, Tensor&gt;</c>), name layers without the <c>bert.</c> prefix and count parameters of a model
/// without pooler or token-type table, in float64 by default.
/// </remarks>
internal sealed class TinyBert : nn.Module<Tensor, Tensor>
{
    public const int Vocabulary = 20;
    public const int Hidden = 8;
    public const int Heads = 2;
    public const int FeedForward = 16;
    public const int Layers = 2;
    public const int MaxPositions = 8;
    public const int Classes = 3;

    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly nn.Module<Tensor, Tensor> classifier;

    public TinyBert(long seed, ScalarType dtype = ScalarType.Float64)
        : this(Config, Classes, seed, dtype)
    {
    }

    /// <summary>The same classifier in another BERT shape (the distributed tests' MiniLM-shaped benchmark model).</summary>
    public TinyBert(TransformerConfig config, int classes, long seed, ScalarType dtype) : base(nameof(TinyBert))
    {
        // Initialised in the dtype itself (not a cast of float32 values), as a model built for that dtype would be:
        // one seed gives other weights in float32 than in float64 (VectorFitAdapterTests relies on it).
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

        RegisterComponents();
    }

    /// <summary>The configuration: no token types, no dropout, TorchSharp's LayerNorm epsilon (1e-5).</summary>
    public static TransformerConfig Config { get; } = Shape(Vocabulary, Hidden, Heads, FeedForward, Layers, MaxPositions);

    /// <summary>A BERT shape with no token types, no dropout and TorchSharp's LayerNorm epsilon (1e-5).</summary>
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

    /// <summary>Input ids <c>(batch, seq)</c> int64 → logits <c>(batch, Classes)</c> from the first token.</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = embeddings.call(inputIds, torch.zeros_like(inputIds));
        // Every token is real: the additive key mask is all zeros.
        var mask = torch.zeros(inputIds.shape[0], 1, 1, inputIds.shape[1], dtype: hidden.dtype, device: hidden.device);
        var first = encoder.call(hidden, mask).select(1, 0);
        return classifier.call(first).MoveToOuterDisposeScope();
    }

    /// <summary>Seeded token ids <c>(batch, seq)</c>.</summary>
    public static Tensor Tokens(long seed, long batch = 4, long seq = 5)
    {
        torch.manual_seed(seed);
        return torch.randint(0, Vocabulary, new[] { batch, seq }, dtype: ScalarType.Int64);
    }
}
