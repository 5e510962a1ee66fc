using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>What loading a checkpoint did, key by key.</summary>
/// <param name="WeightsPath">The weights file.</param>
/// <param name="LoadedCount">Tensors copied into the model.</param>
/// <param name="Initialised">Head keys the checkpoint lacked (or had with another shape), freshly initialised.</param>
/// <param name="Ignored">Checkpoint keys the model does not use (pre-training heads, position-id buffers).</param>
/// <param name="InitialisedPrefixes">The optional prefixes (<see cref="SequenceClassifier.OptionalPrefixes"/>) that were initialised.</param>
public sealed record LoadReport(
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
/// Reads Hugging Face checkpoint folders (<c>config.json</c> and <c>model.safetensors</c>) into the models of this
/// library, tensor by tensor and by key, checking every key and shape before anything is copied.
/// </summary>
/// <remarks>
/// A folder's weights may come from the bare encoder (<c>BertModel.save_pretrained</c>: keys <c>embeddings.…</c>) or
/// from a model with heads (keys <c>bert.embeddings.…</c>, <c>classifier.…</c>, <c>cls.…</c>); either loads into
/// either kind of model. <c>pytorch_model.bin</c> is not read: convert it to safetensors once (the error says how).
/// </remarks>
public static class CheckpointLoader
{
    /// <summary>The weights file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>Reads the configuration, builds the classifier it describes and loads its weights.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="numLabels">Outputs of the task head (classes, or 1 for regression).</param>
    /// <returns>The model (random head where the checkpoint has none) and the load report.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException"><c>config.json</c> or <c>model.safetensors</c> is missing.</exception>
    /// <exception cref="CheckpointMismatchException">The weights do not fit the model <c>config.json</c> describes.</exception>
    public static (SequenceClassifier Model, LoadReport Report) Load(string directory, int numLabels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numLabels, 1);
        var config = ReadConfig(directory);
        string weights = WeightsPath(directory);
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
        return LoadWeights(model, path, model.Layout);
    }

    /// <summary>Reads and validates <c>config.json</c> of a checkpoint folder.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The configuration.</returns>
    internal static TransformerConfig ReadConfig(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"the model folder {directory} does not exist; pass a Hugging Face checkpoint folder with {TransformerConfig.FileName} and {WeightsFileName}.");
        }

        return TransformerConfig.Load(Path.Combine(directory, TransformerConfig.FileName));
    }

    /// <summary>The folder's <c>model.safetensors</c>, or an error that says how to get one.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The weights file.</returns>
    internal static string WeightsPath(string directory)
    {
        string weights = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weights))
        {
            string hint = File.Exists(Path.Combine(directory, "pytorch_model.bin"))
                ? " The folder has pytorch_model.bin, which is not read (a pickle file): convert it once with Python (safetensors.torch.save_file(torch.load('pytorch_model.bin'), 'model.safetensors')) or download the model.safetensors revision."
                : string.Empty;
            throw new FileNotFoundException($"{weights} does not exist; VectorFit.Transformers reads safetensors weights.{hint}", weights);
        }

        return weights;
    }

    /// <summary>Builds a model from a checkpoint folder and loads its weights, disposing of the model on failure.</summary>
    /// <typeparam name="TModel">The model type.</typeparam>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="build">Builds the model from the folder's configuration (and checks its <c>model_type</c>).</param>
    /// <param name="layout">The model's key layout.</param>
    /// <returns>The loaded model.</returns>
    internal static TModel Load<TModel>(string directory, Func<TransformerConfig, TModel> build, Func<TModel, CheckpointLayout> layout)
        where TModel : nn.Module
    {
        var config = ReadConfig(directory);
        string weights = WeightsPath(directory);
        TModel model = build(config);
        try
        {
            LoadWeights(model, weights, layout(model));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The loader itself: plan every key, refuse on any mismatch, then copy and initialise.</summary>
    /// <param name="model">The model to fill.</param>
    /// <param name="path">A safetensors file with Hugging Face key names.</param>
    /// <param name="layout">How the model's keys relate to a checkpoint's.</param>
    /// <returns>The report.</returns>
    internal static LoadReport LoadWeights(nn.Module model, string path, CheckpointLayout layout)
    {
        ArgumentNullException.ThrowIfNull(model);
        var targets = model.state_dict();
        using var reader = SafetensorsReader.Open(path);
        string basePrefix = layout.BaseModelPrefix + ".";
        bool prefixed = reader.Tensors.Any(t => t.Name.StartsWith(basePrefix, StringComparison.Ordinal));
        // A model with heads reading the bare encoder's checkpoint adds the prefix; the bare encoder reading a
        // checkpoint with heads drops it (and ignores the heads).
        bool addPrefix = !layout.IsBaseModel && !prefixed && reader.Tensors.Any(t => t.Name.StartsWith("embeddings.", StringComparison.Ordinal));
        bool stripPrefix = layout.IsBaseModel && prefixed;

        var plan = new List<(string FileKey, string ModelKey)>();
        var unexpected = new List<string>();
        var ignored = new List<string>();
        var mismatches = new List<string>();
        var reinitialise = new List<string>();
        var mismatchedKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in reader.Tensors)
        {
            string key = ModelKey(info.Name, addPrefix ? basePrefix : null);
            if (stripPrefix && key.StartsWith(basePrefix, StringComparison.Ordinal))
            {
                key = key[basePrefix.Length..];
            }

            if (!targets.TryGetValue(key, out var target))
            {
                if (SequenceClassifier.UnderAny(key, layout.IgnoredPrefixes))
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
                if (SequenceClassifier.UnderAny(key, layout.OptionalPrefixes))
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
        var missingRequired = missing.Where(k => !SequenceClassifier.UnderAny(k, layout.OptionalPrefixes)).ToList();
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
                Initialise(key, targets[key], layout.InitializerRange);
            }

            var prefixes = layout.OptionalPrefixes.Where(p => initialised.Any(k => k.StartsWith(p, StringComparison.Ordinal))).ToList();
            return new LoadReport(path, plan.Count, initialised, ignored, prefixes);
        }
    }

    /// <summary>Hugging Face's key fixes: old LayerNorm names <c>gamma</c>/<c>beta</c> become <c>weight</c>/<c>bias</c>.</summary>
    /// <param name="fileKey">A key from the file.</param>
    /// <param name="prefix">A base-model prefix to prepend (for checkpoints of the bare encoder), or <c>null</c>.</param>
    /// <returns>The model's key.</returns>
    internal static string ModelKey(string fileKey, string? prefix)
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

/// <summary>How a model's state_dict keys relate to the keys of a Hugging Face checkpoint.</summary>
/// <param name="BaseModelPrefix">The encoder's prefix in checkpoints with heads (<c>bert</c>, <c>deberta</c>).</param>
/// <param name="IsBaseModel">Whether the model is the bare encoder (its keys lack <paramref name="BaseModelPrefix"/>).</param>
/// <param name="OptionalPrefixes">Model keys a checkpoint may lack; they are initialised.</param>
/// <param name="IgnoredPrefixes">Checkpoint keys (after mapping) the model does not use and may ignore.</param>
/// <param name="InitializerRange">The standard deviation of initialised weights.</param>
internal sealed record CheckpointLayout(
    string BaseModelPrefix,
    bool IsBaseModel,
    IReadOnlyList<string> OptionalPrefixes,
    IReadOnlyList<string> IgnoredPrefixes,
    double InitializerRange);
