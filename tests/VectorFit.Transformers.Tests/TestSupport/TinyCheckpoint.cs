using VectorFit.Transformers.Models;
using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.TestSupport;

/// <summary>Tiny BERT and DeBERTa-v3 configurations and checkpoint folders written like Hugging Face's.</summary>
internal static class TinyCheckpoint
{
    /// <summary>Words of the tiny vocabulary (after the five special tokens).</summary>
    public static readonly string[] Words = ["the", "movie", "was", "good", "bad", "a", "film", "great", "awful", "."];

    /// <summary>A 2-layer BERT, hidden 16, 2 heads.</summary>
    public static TransformerConfig Bert(int layers = 2) => new()
    {
        ModelType = "bert",
        VocabSize = 5 + Words.Length,
        HiddenSize = 16,
        NumHiddenLayers = layers,
        NumAttentionHeads = 2,
        IntermediateSize = 32,
        MaxPositionEmbeddings = 32,
        TypeVocabSize = 2,
        HiddenDropoutProb = 0,
        AttentionProbsDropoutProb = 0,
    };

    /// <summary>A 2-layer DeBERTa-v3 layout: relative attention (4 buckets, max 8), shared keys, p2c|c2p, no absolute positions.</summary>
    public static TransformerConfig Deberta(int layers = 2) => new()
    {
        ModelType = "deberta-v2",
        VocabSize = 5 + Words.Length,
        HiddenSize = 16,
        NumHiddenLayers = layers,
        NumAttentionHeads = 2,
        IntermediateSize = 32,
        MaxPositionEmbeddings = 32,
        TypeVocabSize = 0,
        LayerNormEps = 1e-7,
        HiddenDropoutProb = 0,
        AttentionProbsDropoutProb = 0,
        RelativeAttention = true,
        PositionBuckets = 4,
        MaxRelativePositions = 8,
        PositionBiasedInput = false,
        PosAttType = ["p2c", "c2p"],
        ShareAttKey = true,
        NormRelativeEmbeddings = true,
    };

    /// <summary>Builds a model with random weights (seeded).</summary>
    public static SequenceClassifier Model(TransformerConfig config, int numLabels = 2, int seed = 7)
    {
        torch.manual_seed(seed);
        var model = SequenceClassifier.Create(config, numLabels);
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!name.EndsWith("LayerNorm.weight", StringComparison.Ordinal))
            {
                p.normal_(0, 0.2);
            }
        }

        return model;
    }

    /// <summary>
    /// Writes <c>config.json</c>, <c>vocab.txt</c> and <c>model.safetensors</c> from <paramref name="model"/>'s
    /// state_dict; <paramref name="edit"/> may rename, replace or drop (return null) each entry, and
    /// <paramref name="extra"/> adds entries.
    /// </summary>
    public static void Write(
        string folder,
        SequenceClassifier model,
        Func<string, Tensor, (string Key, Tensor Value)?>? edit = null,
        IEnumerable<(string Key, Tensor Value)>? extra = null)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, TransformerConfig.FileName), model.Config.ToJson());
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Words]);
        var entries = new List<KeyValuePair<string, Tensor>>();
        foreach (var (key, value) in model.state_dict())
        {
            var edited = edit is null ? (key, value) : edit(key, value);
            if (edited is { } e)
            {
                entries.Add(new(e.Key, e.Value));
            }
        }

        foreach (var (key, value) in extra ?? [])
        {
            entries.Add(new(key, value));
        }

        SafetensorsWriter.Save(Path.Combine(folder, CheckpointLoader.WeightsFileName), entries);
    }

    /// <summary>A batch of token ids (2 rows, the second padded) with its mask and token types.</summary>
    public static (Tensor Ids, Tensor Mask, Tensor Types) Batch()
    {
        long[] ids = [2, 5, 6, 7, 8, 3, 2, 9, 10, 3, 0, 0];
        long[] mask = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        long[] types = [0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0];
        return (torch.tensor(ids, [2, 6]), torch.tensor(mask, [2, 6]), torch.tensor(types, [2, 6]));
    }
}
