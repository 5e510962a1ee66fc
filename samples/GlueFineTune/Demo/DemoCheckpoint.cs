using TorchSharp;
using GlueFineTune.Data;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace GlueFineTune.Demo;

/// <summary>
/// The demo's base checkpoint: a tiny BERT (the <c>bert-base-uncased</c> layout at toy size) with a vocabulary
/// covering the demo sentences, pre-trained for a few seconds with masked-language modelling on the unlabelled
/// training sentences, then written as a Hugging Face folder (<c>config.json</c>, <c>vocab.txt</c>,
/// <c>model.safetensors</c>) — the same files a real checkpoint has.
/// </summary>
internal static class DemoCheckpoint
{
    /// <summary>The integer 1, held for the whole native call (see ScalarLifetimeTests).</summary>
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>The toy model's configuration for a vocabulary of <paramref name="vocabularySize"/> entries.</summary>
    /// <param name="vocabularySize">Vocabulary entries.</param>
    /// <returns>A 2-layer, 64-wide, 4-head BERT configuration.</returns>
    public static TransformerConfig Config(int vocabularySize) => new()
    {
        ModelType = "bert",
        VocabSize = vocabularySize,
        HiddenSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 128,
        MaxPositionEmbeddings = 64,
        TypeVocabSize = 2,
        HiddenDropoutProb = 0.1,
        AttentionProbsDropoutProb = 0.1,
        LayerNormEps = 1e-12,
    };

    /// <summary>Builds, pre-trains and writes the checkpoint into <paramref name="folder"/>.</summary>
    /// <param name="folder">The checkpoint folder to create.</param>
    /// <param name="pretrainingSteps">Masked-LM steps (0 writes the random initialisation).</param>
    /// <param name="learningRate">Pre-training learning rate.</param>
    /// <param name="seed">Seed of the initialisation and the masking.</param>
    /// <param name="log">Where to describe what happens.</param>
    /// <returns>The pre-training result.</returns>
    public static PretrainingResult Create(string folder, int pretrainingSteps, double learningRate, int seed, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        Directory.CreateDirectory(folder);
        IReadOnlyList<string> vocabulary = DemoSentimentData.BuildBertVocabulary();
        File.WriteAllLines(Path.Combine(folder, WordPieceTokenizer.VocabularyFileName), vocabulary);
        TransformerConfig config = Config(vocabulary.Count);
        File.WriteAllText(Path.Combine(folder, TransformerConfig.FileName), config.ToJson());
        log.WriteLine($"      {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {config.NumAttentionHeads} heads, MLP {config.IntermediateSize}, vocabulary {vocabulary.Count} words");

        manual_seed(seed);
        using var model = SequenceClassifier.Create(config, numLabels: 2);
        InitialiseLikeBert(model, config.InitializerRange);
        var tokenizer = WordPieceTokenizer.FromDirectory(folder);
        DemoSourceTask source = DemoSourceTask.Build(DemoSentimentData.Train);
        log.WriteLine($"      source task: sentiment of the {source.LabelledCount} training sentences that use only the sentiment words");
        log.WriteLine($"        {string.Join(" ", source.SourceWords)}");
        log.WriteLine($"      held out (never labelled in pre-training): {string.Join(" ", source.HeldOutWords)}");
        int maskId = vocabulary.ToList().IndexOf("[MASK]");
        var result = pretrainingSteps > 0
            ? DemoPretraining.Run(model, tokenizer, source.Sentences, source.Labels, maskId, pretrainingSteps, batchSize: 32, learningRate, seed)
            : new PretrainingResult(0, double.NaN, double.NaN, TimeSpan.Zero);

        // Like bert-base-uncased, the checkpoint has the pre-trained pooler but no classifier; the pre-training heads are not kept.
        var tensors = model.state_dict()
            .Where(kv => !SequenceClassifier.UnderAny(kv.Key, ["classifier."]))
            .ToList();
        SafetensorsWriter.Save(Path.Combine(folder, CheckpointLoader.WeightsFileName), tensors);
        return result;
    }

    /// <summary>Hugging Face's BERT initialisation: normal(0, 0.02) weights and embeddings, zero biases, LayerNorm 1/0.</summary>
    /// <param name="model">The model.</param>
    /// <param name="std">The standard deviation (<c>initializer_range</c>).</param>
    public static void InitialiseLikeBert(SequenceClassifier model, double std)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal))
            {
                parameter.fill_(One);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
            else
            {
                parameter.normal_(0, std);
            }
        }
    }
}
