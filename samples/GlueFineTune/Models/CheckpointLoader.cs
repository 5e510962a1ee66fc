using VectorFit.Serialization;
using static TorchSharp.torch;

namespace GlueFineTune.Models;

/// <summary>What loading a checkpoint did, key by key.</summary>
/// <param name="WeightsPath">The weights file.</param>
/// <param name="LoadedCount">Tensors copied into the model.</param>
/// <param name="Initialised">Head keys the checkpoint lacked (or had with another shape), freshly initialised.</param>
/// <param name="Ignored">Checkpoint keys the model does not use (pre-training heads, position-id buffers).</param>
/// <param name="InitialisedPrefixes">The optional prefixes (<see cref="SequenceClassifier.OptionalPrefixes"/>) that were initialised.</param>
internal sealed record LoadReport(
    string WeightsPath,
    int LoadedCount,
    IReadOnlyList<string> Initialised,
    IReadOnlyList<string> Ignored,
    IReadOnlyList<string> InitialisedPrefixes)
{
    /// <summary>Human-readable lines for the console.</summary>
    /// <returns>The summary.</returns>
    public IEnumerable<string> Describe()
    {
        yield return $"loaded {LoadedCount} tensors from {WeightsPath}";
        var buffers = Ignored.Where(IsBuffer).ToList();
        var heads = Ignored.Where(n => !IsBuffer(n)).ToList();
        if (heads.Count > 0)
        {
            yield return $"ignored {heads.Count} checkpoint tensors of pre-training heads the classifier does not use: {Summarise(heads)}";
        }

        if (buffers.Count > 0)
        {
            yield return $"ignored {buffers.Count} buffer(s) the model computes itself: {Summarise(buffers)}";
        }

        if (Initialised.Count > 0)
        {
            yield return $"initialised (not in the checkpoint, trained with the head): {Summarise(Initialised)}";
        }
    }

    private static bool IsBuffer(string name) => name.EndsWith("position_ids", StringComparison.Ordinal) || name.EndsWith("token_type_ids", StringComparison.Ordinal);

    private static string Summarise(IReadOnlyList<string> names) =>
        names.Count <= 6 ? string.Join(", ", names) : string.Join(", ", names.Take(6)) + $", … ({names.Count - 6} more)";
}

/// <summary>
/// Builds a <see cref="SequenceClassifier"/> from a Hugging Face checkpoint folder (<c>config.json</c> and
/// <c>model.safetensors</c>), loading tensors by key one at a time.
/// </summary>
internal static class CheckpointLoader
{
    /// <summary>The weights file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>Reads the configuration, builds the model and loads its weights.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="numLabels">Outputs of the task head.</param>
    /// <returns>The model (random head where the checkpoint has none) and the load report.</returns>
    public static (SequenceClassifier Model, LoadReport Report) Load(string directory, int numLabels)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"--model folder {directory} does not exist; pass a Hugging Face checkpoint folder with {TransformerConfig.FileName} and {WeightsFileName}.");
        }

        var config = TransformerConfig.Load(Path.Combine(directory, TransformerConfig.FileName));
        string weights = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weights))
        {
            string hint = File.Exists(Path.Combine(directory, "pytorch_model.bin"))
                ? " The folder has pytorch_model.bin: convert it once with Python (safetensors.torch.save_file(torch.load(...), 'model.safetensors')) or download the model.safetensors revision."
                : string.Empty;
            throw new FileNotFoundException($"{weights} does not exist; this sample reads safetensors weights.{hint}", weights);
        }

        var model = SequenceClassifier.Create(config, numLabels);
        try
        {
            return (model, LoadWeights(model, weights));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies every tensor of <paramref name="path"/> into the parameter of the same name. Checks everything
    /// first and changes nothing when a required key is missing, a key is unknown or a shape differs;
    /// head keys (<see cref="SequenceClassifier.OptionalPrefixes"/>) that are missing or shaped for another
    /// label count are initialised instead (normal(0, initializer_range) weights, zero biases).
    /// </summary>
    /// <param name="model">The model to fill.</param>
    /// <param name="path">A safetensors file with Hugging Face key names.</param>
    /// <returns>The report.</returns>
    /// <exception cref="CheckpointMismatchException">Keys are missing or unexpected, or shapes differ (all listed).</exception>
    public static LoadReport LoadWeights(SequenceClassifier model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        var targets = model.state_dict();
        using var reader = SafetensorsReader.Open(path);
        bool addPrefix = NeedsBasePrefix(reader, model);

        var plan = new List<(string FileKey, string ModelKey)>();
        var unexpected = new List<string>();
        var ignored = new List<string>();
        var mismatches = new List<string>();
        var reinitialise = new List<string>();
        var mismatchedKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in reader.Tensors)
        {
            string key = ModelKey(info.Name, addPrefix ? model.BaseModelPrefix + "." : null);
            if (!targets.TryGetValue(key, out var target))
            {
                if (SequenceClassifier.UnderAny(key, model.IgnoredCheckpointPrefixes))
                {
                    ignored.Add(info.Name);
                }
                else
                {
                    unexpected.Add(info.Name);
                }

                continue;
            }

            if (!info.Shape.SequenceEqual(target.shape))
            {
                string line = $"{key}: checkpoint {Shape(info.Shape)} vs model {Shape(target.shape)}";
                if (SequenceClassifier.UnderAny(key, model.OptionalPrefixes))
                {
                    reinitialise.Add(key);
                }
                else
                {
                    mismatches.Add(line);
                    mismatchedKeys.Add(key);
                }

                continue;
            }

            if (info.ScalarType is not { } type || !(IsFloat(type) || type == target.dtype))
            {
                mismatches.Add($"{key}: checkpoint dtype {info.DType} cannot be copied into {target.dtype}");
                mismatchedKeys.Add(key);
                continue;
            }

            plan.Add((info.Name, key));
        }

        var covered = new HashSet<string>(plan.Select(p => p.ModelKey), StringComparer.Ordinal);
        covered.UnionWith(reinitialise);
        covered.UnionWith(mismatchedKeys);
        var missing = targets.Keys.Where(k => !covered.Contains(k)).ToList();
        var missingRequired = missing.Where(k => !SequenceClassifier.UnderAny(k, model.OptionalPrefixes)).ToList();
        if (missingRequired.Count > 0 || unexpected.Count > 0 || mismatches.Count > 0)
        {
            throw new CheckpointMismatchException(path, missingRequired, unexpected, mismatches);
        }

        using (no_grad())
        {
            foreach (var (fileKey, modelKey) in plan)
            {
                using var source = reader.ReadTensor(fileKey);
                targets[modelKey].copy_(source);
            }

            var initialised = missing.Concat(reinitialise).Order(StringComparer.Ordinal).ToList();
            foreach (string key in initialised)
            {
                Initialise(key, targets[key], model.Config.InitializerRange);
            }

            var prefixes = model.OptionalPrefixes.Where(p => initialised.Any(k => k.StartsWith(p, StringComparison.Ordinal))).ToList();
            return new LoadReport(path, plan.Count, initialised, ignored, prefixes);
        }
    }

    /// <summary>Hugging Face's key fixes: old LayerNorm names <c>gamma</c>/<c>beta</c> become <c>weight</c>/<c>bias</c>.</summary>
    /// <param name="fileKey">A key from the file.</param>
    /// <param name="prefix">A base-model prefix to prepend (for checkpoints of the bare encoder), or <c>null</c>.</param>
    /// <returns>The model's key.</returns>
    public static string ModelKey(string fileKey, string? prefix)
    {
        string key = fileKey;
        if (key.EndsWith(".gamma", StringComparison.Ordinal))
        {
            key = key[..^".gamma".Length] + ".weight";
        }
        else if (key.EndsWith(".beta", StringComparison.Ordinal))
        {
            key = key[..^".beta".Length] + ".bias";
        }

        return prefix is null ? key : prefix + key;
    }

    /// <summary>A checkpoint of the bare encoder (<c>BertModel.save_pretrained</c>) has no <c>bert.</c> prefix.</summary>
    private static bool NeedsBasePrefix(SafetensorsReader reader, SequenceClassifier model)
    {
        string prefix = model.BaseModelPrefix + ".";
        return !reader.Tensors.Any(t => t.Name.StartsWith(prefix, StringComparison.Ordinal))
            && reader.Tensors.Any(t => t.Name.StartsWith("embeddings.", StringComparison.Ordinal));
    }

    private static void Initialise(string key, Tensor target, double std)
    {
        if (key.EndsWith("LayerNorm.weight", StringComparison.Ordinal))
        {
            target.fill_(HeldScalars.One);
        }
        else if (key.EndsWith(".bias", StringComparison.Ordinal))
        {
            target.zero_();
        }
        else
        {
            target.normal_(0, std);
        }
    }

    private static bool IsFloat(ScalarType type) =>
        type is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    private static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
