using System.Reflection;
using System.Text.Json;
using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;
using VectorFit.Surgery;

namespace VectorFit.Adapters;

/// <summary>
/// Adapter files: only what was trained (every trained σ and b of the adapted layers — for SVFT layers the entries of
/// <c>M</c> with their int64 row and column indices — and the tensors of the fully trained modules, under their
/// <c>state_dict</c> keys) in a safetensors file, with a JSON record of the
/// configuration, the layers, the AVF schedule, the library version, a fingerprint of the base model and a
/// checksum of every tensor.
/// </summary>
/// <remarks>
/// To reuse an adapter: build a fresh copy of the same base model, apply the same surgery
/// (<see cref="AdapterInfo.ToSurgeryConfig"/> rebuilds it from the file), then <see cref="Load"/>. Loading checks
/// everything (format, checksums, layers, keys, shapes, dtypes, base model) before it copies anything, so on any
/// error the model is unchanged.
/// </remarks>
public static class VectorFitAdapter
{
    /// <summary>The value of the <c>format</c> metadata key of adapter files.</summary>
    public const string FormatName = "vectorfit-adapter";

    /// <summary>The adapter format version this library writes and reads.</summary>
    public const int FormatVersion = 2;

    private const string FormatKey = "format";
    private const string DocumentKey = "vectorfit";
    private const string DocumentChecksumKey = "vectorfit_sha256";

    /// <summary>Saves the trained vectors and fully trained modules of <paramref name="model"/>, atomically.</summary>
    /// <param name="model">The adapted model.</param>
    /// <param name="report">The report <see cref="ModelSurgery.Apply"/> returned for this model.</param>
    /// <param name="path">The file to create or replace (conventionally <c>*.safetensors</c>); its folder must exist.</param>
    /// <param name="avfOptions">The AVF schedule used in training, recorded for reference; <c>null</c> for none.</param>
    /// <param name="fingerprintBuffers">
    /// Whether the base-model fingerprint covers persistent buffers (e.g. BatchNorm running statistics) besides frozen
    /// parameters (the default). Pass <c>false</c> only when the buffers legitimately differ between the trained model and a
    /// fresh copy of the base (they were updated in training and loading should keep the fresh base's).
    /// </param>
    /// <exception cref="InvalidOperationException">
    /// The report does not describe the model's adapted layers; or a tensor to save holds NaN or infinite values (training
    /// diverged: the message names them, and nothing is written).
    /// </exception>
    public static void Save(nn.Module model, SurgeryReport report, string path, AvfOptions? avfOptions = null, bool fingerprintBuffers = true)
        => Write(model, report, path, avfOptions, avfStepsTaken: null, fingerprintBuffers);

    /// <summary>
    /// Saves the trained vectors and fully trained modules of <paramref name="model"/>, atomically, recording the AVF schedule of
    /// <paramref name="avf"/> and the AVF steps it took (<see cref="AdapterInfo.AvfStepsTaken"/>); says when AVF never ran.
    /// </summary>
    /// <param name="model">The adapted model.</param>
    /// <param name="report">The report <see cref="ModelSurgery.Apply"/> returned for this model.</param>
    /// <param name="path">The file to create or replace (conventionally <c>*.safetensors</c>); its folder must exist.</param>
    /// <param name="avf">The run's AVF scheduler, built on this model.</param>
    /// <param name="fingerprintBuffers">Whether the base-model fingerprint covers persistent buffers (see the other overload).</param>
    /// <returns>
    /// The record written, and a <see cref="AdapterSaveResult.Warning"/> when the schedule has AVF steps but none was taken (the
    /// training loop never called <c>avf.step()</c>, or stopped before the first AVF step): the file is written all the same,
    /// and the library prints nothing (print the warning).
    /// </returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="avf"/> tracks layers that are not this model's, or is an <see cref="AdapterBank"/> adapter's scheduler (save that
    /// adapter with <see cref="AdapterBank.Save(string, string, AvfScheduler)"/>); nothing is written.
    /// </exception>
    /// <exception cref="InvalidOperationException">See the other overload.</exception>
    public static AdapterSaveResult Save(nn.Module model, SurgeryReport report, string path, AvfScheduler avf, bool fingerprintBuffers = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(avf);
        if (avf.AdapterName is { } adapter)
        {
            throw new ArgumentException(
                $"The AVF scheduler is for the adapter '{adapter}' of an AdapterBank (it froze that adapter's σ and b, not the model's): save that adapter with " +
                $"bank.Save(\"{adapter}\", path, avf). Nothing was written to '{path}'.",
                nameof(avf));
        }

        return SaveWithAvf(model, report, path, avf, fingerprintBuffers);
    }

    /// <summary>The save of <see cref="Save(nn.Module, SurgeryReport, string, AvfScheduler, bool)"/> once the scheduler is known to fit (a bank checks its own).</summary>
    internal static AdapterSaveResult SaveWithAvf(nn.Module model, SurgeryReport report, string path, AvfScheduler avf, bool fingerprintBuffers = true)
    {
        var layers = AdaptedLayers.Find(model).Select(l => l.Layer).ToHashSet(ReferenceEqualityComparer.Instance);
        var foreign = avf.Vectors.Where(v => !layers.Contains(v.Layer)).Select(v => v.Name).ToList();
        if (foreign.Count > 0)
        {
            throw new ArgumentException(
                $"The AVF scheduler tracks layers that are not this model's adapted layers ({NameMatch.Sample(foreign)}): it was built on another model, or before this surgery. " +
                $"Pass the scheduler built on this model with AvfScheduler.FromModel(model, ...). Nothing was written to '{path}'.",
                nameof(avf));
        }

        var info = Write(model, report, path, avf.Options, avf.AvfStepsTaken, fingerprintBuffers);
        return new AdapterSaveResult { Info = info, Warning = AvfNeverRan(avf) };
    }

    private static AdapterInfo Write(nn.Module model, SurgeryReport report, string path, AvfOptions? avfOptions, int? avfStepsTaken, bool fingerprintBuffers)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(path);

        var layers = AdaptedLayers.Find(model);
        var layerNames = layers.Select(l => l.Name).ToList();
        if (!layerNames.ToHashSet(StringComparer.Ordinal).SetEquals(report.Layers.Select(l => l.Name)))
        {
            throw new InvalidOperationException(
                $"The report lists {report.Layers.Count} adapted layers ({NameMatch.Sample(report.Layers.Select(l => l.Name).ToList())}) but the model holds " +
                $"{layers.Count} ({NameMatch.Sample(layerNames)}). Pass the report ModelSurgery.Apply returned for this model.");
        }

        var state = model.state_dict();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var key in ExpectedLayerKeys(report.Layers))
        {
            tensors.Add(new(key, state.TryGetValue(key, out var t)
                ? t
                : throw new InvalidOperationException($"The model's state_dict has no '{key}', which the report says is trained.")));
        }

        foreach (var (name, module) in report.ModulesToSave.Zip(ModelSurgery.ModulesByName(model, report.ModulesToSave)))
        {
            tensors.AddRange(module.state_dict().Select(kv => new KeyValuePair<string, Tensor>($"{name}.{kv.Key}", kv.Value)));
        }

        NonFiniteValues.RejectOnSave(tensors, path);
        var config = report.Config;
        var document = new AdapterDocument
        {
            Adapter = new AdapterInfo
            {
                FormatVersion = FormatVersion,
                LibraryVersion = LibraryVersion,
                Method = config.Method.Kind,
                SvftPattern = config.Method.RecordedSvftPattern,
                Variant = config.Variant,
                UsesAvf = report.UsesAvf,
                Preset = config.Preset?.Name,
                TargetNames = config.TargetNames,
                TargetSuffixes = config.TargetSuffixes,
                TargetPatterns = config.TargetPatterns,
                TargetAllLinear = config.TargetAllLinear,
                UsedPredicate = config.TargetPredicate is not null,
                AddBias = config.AddBias,
                FactorDType = config.FactorDType,
                ModulesToSave = report.ModulesToSave,
                AvfOptions = avfOptions,
                AvfStepsTaken = avfStepsTaken,
                Layers = report.Layers,
                TensorNames = tensors.Select(t => t.Key).ToList(),
                FingerprintsBuffers = fingerprintBuffers,
            },
            BaseModel = BaseModelFingerprint.Compute(model, layers, report.ModulesToSave, tensors.Select(t => t.Key).ToList(), fingerprintBuffers),
            TensorSha256 = tensors.ToDictionary(t => t.Key, t => SafetensorsWriter.Sha256(t.Value), StringComparer.Ordinal),
        };

        var json = document.ToJson();
        var metadata = new Dictionary<string, string> { [FormatKey] = FormatName, [DocumentKey] = json, [DocumentChecksumKey] = AdapterDocument.Checksum(json) };
        SafetensorsWriter.Save(path, tensors, metadata);
        return document.Adapter;
    }

    // A library does not write to the console: the warning is returned for the caller to print (as AvfScheduler.ScheduleWarning).
    private static string? AvfNeverRan(AvfScheduler avf)
    {
        if (!avf.Options.Enabled || avf.AvfStepsTaken > 0)
        {
            return null;
        }

        var recorded = $"the adapter records 0 of its {avf.Options.AvfSteps} AVF steps as taken.";
        return avf.StepCount == 0
            ? $"the AVF scheduler counted no optimizer step (avf.step() was never called), so AVF froze nothing in this run: {recorded} Call avf.step() after every optimizer.step()."
            : $"the AVF scheduler counted {avf.StepCount} optimizer steps, fewer than its first AVF step ({avf.Options.InitialStep}), so AVF froze nothing in this run: {recorded} " +
              "Call avf.step() after every optimizer.step(), and fit the schedule to the run (AvfOptions.FromEpochs(stepsPerEpoch, epochs)).";
    }

    /// <summary>Reads the configuration recorded in an adapter file, without loading its tensors.</summary>
    /// <param name="path">An adapter file.</param>
    /// <returns>The recorded configuration and layers.</returns>
    /// <exception cref="AdapterFormatException">The file is truncated, corrupt (its record states something impossible) or not a VectorFit adapter, or the path is a directory.</exception>
    public static AdapterInfo ReadInfo(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = OpenAdapter(path);
        return ReadDocument(reader).Adapter;
    }

    /// <summary>
    /// Loads an adapter into a model that was adapted with the same surgery: checks the file and the model
    /// completely, then copies each tensor into the model (<c>copy_</c> under <c>no_grad</c>).
    /// </summary>
    /// <param name="model">A freshly adapted copy of the adapter's base model.</param>
    /// <param name="path">The adapter file.</param>
    /// <returns>The configuration recorded in the file.</returns>
    /// <exception cref="AdapterFormatException">
    /// The file is truncated, corrupt (a checksum failed, or its record states something impossible) or not a VectorFit adapter, or the path is a directory. The model is unchanged.
    /// </exception>
    /// <exception cref="AdapterMismatchException">
    /// The adapted layers, methods, SVFT patterns, keys, shapes or dtypes differ, or the base model is a different one. The model is unchanged.
    /// </exception>
    /// <remarks>
    /// SVFT layers take the file's entry positions as well as its values, so a Random or Top-k pattern reloads exactly even
    /// where the positions would be drawn differently (another version, or Top-k ties broken by round-off on another device).
    /// </remarks>
    public static AdapterInfo Load(nn.Module model, string path)
    {
        var (info, loaded) = ReadChecked(model, path);
        var state = model.state_dict();
        try
        {
            using var noGrad = torch.no_grad();
            foreach (var (key, tensor) in loaded)
            {
                state[key].copy_(tensor);
            }
        }
        finally
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }
        }

        return info;
    }

    /// <summary>
    /// Everything <see cref="Load"/> checks, without changing the model: the file's record and its verified tensors (the caller
    /// owns and disposes them), keyed by the model's state_dict keys. <see cref="AdapterBank"/> loads through it.
    /// </summary>
    internal static (AdapterInfo Info, Dictionary<string, Tensor> Loaded) ReadChecked(nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.RemoveStaleTemporaries(path);
        using var reader = OpenAdapter(path);
        var document = ReadDocument(reader);
        var info = document.Adapter;

        var layers = AdaptedLayers.Find(model);
        var problems = CompareLayers(info.Layers, layers);
        if (problems.Count > 0)
        {
            throw Mismatch(path, "its adapted layers do not match the model's", problems,
                "Apply the surgery the adapter was made with to a fresh copy of its base model first: ModelSurgery.Apply(model, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig()).");
        }

        // σ was trained against U and V rounded to the recorded dtype: other factors give another function, so this is not a cast.
        var factorProblems = CompareFactorDTypes(info, layers);
        if (factorProblems.Count > 0)
        {
            throw Mismatch(path, "its layers were trained on U and V in another dtype than the model's", factorProblems,
                $"Adapt a fresh copy of the base model with the adapter's config, FactorDType = {info.FactorDType?.ToString() ?? "null"} included: " +
                "ModelSurgery.Apply(model, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig()).");
        }

        var fingerprint = BaseModelFingerprint.Compare(
            document.BaseModel, BaseModelFingerprint.Compute(model, layers, info.ModulesToSave, document.TensorSha256.Keys, info.FingerprintsBuffers, document.BaseModel));
        if (fingerprint.Count > 0)
        {
            throw Mismatch(path, "the model is not the base model the adapter was trained on", fingerprint,
                "Load the adapter onto a copy of the same base checkpoint (same architecture and weights; the floating dtype may differ, e.g. trained in bf16 and served in fp32).");
        }

        var state = model.state_dict();
        var keyProblems = CompareKeys(reader, info, state);
        if (keyProblems.Count > 0)
        {
            throw Mismatch(path, "its tensors do not fit the model's state_dict", keyProblems,
                "Adapt the model with the adapter's config (same variant, AddBias and ModulesToSave); floating tensors load with a cast to the model's dtype.");
        }

        var loaded = ReadVerified(reader, document);
        var nonFinite = loaded.Where(kv => NonFiniteValues.Any(kv.Value)).Select(kv => kv.Key).ToList();
        if (nonFinite.Count > 0)
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }

            throw new AdapterFormatException(
                $"'{path}' holds NaN or infinite values in {NameMatch.Sample(nonFinite)}: it records a diverged training run, and loading it would make the model output NaN. " +
                "The model was not changed. Use an adapter saved before the divergence.");
        }

        var layerByName = layers.ToDictionary(l => l.Name, l => l.Layer, StringComparer.Ordinal);
        var positionProblems = info.Layers.SelectMany(l => layerByName[l.Name].LoadProblems(l.Name, loaded)).ToList();
        if (positionProblems.Count > 0)
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }

            throw new AdapterFormatException(
                $"'{path}' is corrupt: its SVFT entry positions contradict its recorded patterns; the model was not changed.{Environment.NewLine}{string.Join(Environment.NewLine, positionProblems.Select(p => "  " + p))}");
        }

        return (info, loaded);
    }

    private static string LibraryVersion =>
        typeof(VectorFitAdapter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(VectorFitAdapter).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    private static IEnumerable<string> ExpectedLayerKeys(IEnumerable<AdaptedLayerInfo> layers)
        => layers.SelectMany(layer => AdapterMethod.For(layer.Method).AdapterKeys(layer));

    private static SafetensorsReader OpenAdapter(string path)
    {
        if (Directory.Exists(path))
        {
            throw new AdapterFormatException($"'{path}' is a directory; pass the adapter file (the *.safetensors file VectorFitAdapter.Save wrote), not its folder.");
        }

        try
        {
            return SafetensorsReader.Open(path);
        }
        catch (SafetensorsFormatException e)
        {
            throw new AdapterFormatException($"'{path}' is not a readable adapter: {e.Message}", e);
        }
    }

    private static AdapterDocument ReadDocument(SafetensorsReader reader)
    {
        if (!reader.Metadata.TryGetValue(FormatKey, out var format) || format != FormatName || !reader.Metadata.TryGetValue(DocumentKey, out var json))
        {
            throw new AdapterFormatException(
                $"'{reader.Path}' is a safetensors file but not a VectorFit adapter (its metadata has no '{FormatKey}: {FormatName}' and '{DocumentKey}' entries). " +
                "Use SafetensorsReader to read plain checkpoints.");
        }

        if (!reader.Metadata.TryGetValue(DocumentChecksumKey, out var checksum) || checksum != AdapterDocument.Checksum(json))
        {
            var version = AdapterDocument.TryReadFormatVersion(json);
            if (version is { } v && v != FormatVersion)
            {
                throw new AdapterFormatException(
                    $"'{reader.Path}' is adapter format version {v}; this library reads version {FormatVersion}. Use a matching VectorFit version, or save the adapter again with this one.");
            }

            throw new AdapterFormatException(
                $"'{reader.Path}' is corrupt: its adapter record (metadata '{DocumentKey}') does not match its SHA-256 checksum ('{DocumentChecksumKey}'), so the record was damaged or edited. Save the adapter again.");
        }

        AdapterDocument document;
        try
        {
            document = AdapterDocument.FromJson(json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            throw new AdapterFormatException($"'{reader.Path}' has a corrupt adapter record: {e.Message}", e);
        }

        if (document.RecordProblem() is { } problem)
        {
            throw new AdapterFormatException($"'{reader.Path}' has a corrupt adapter record: {problem}.");
        }

        if (document.Adapter.FormatVersion != FormatVersion)
        {
            throw new AdapterFormatException(
                $"'{reader.Path}' is adapter format version {document.Adapter.FormatVersion} (written by VectorFit {document.Adapter.LibraryVersion}); this library reads version {FormatVersion}. Use a matching VectorFit version.");
        }

        var badLayer = document.Adapter.Layers.FirstOrDefault(l => !AdapterMethod.IsRegistered(l.Method) || !AdapterMethod.For(l.Method).RecordIsConsistent(l));
        if (badLayer is not null)
        {
            throw new AdapterFormatException(
                $"'{reader.Path}' has a corrupt adapter record: layer '{badLayer.Name}' records method {badLayer.Method} with SVFT pattern {badLayer.SvftPattern?.ToString() ?? "(none)"}; SVFT layers need a pattern and VectorFit layers none.");
        }

        if (RecordedValueProblem(document.Adapter) is { } valueProblem)
        {
            throw new AdapterFormatException($"'{reader.Path}' has a corrupt adapter record: {valueProblem}. Save the adapter again.");
        }

        var recorded = document.TensorSha256.Keys.Order(StringComparer.Ordinal);
        var present = reader.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal);
        var expected = ExpectedLayerKeys(document.Adapter.Layers).ToList();
        if (!recorded.SequenceEqual(present) || expected.Any(k => !document.TensorSha256.ContainsKey(k)))
        {
            throw new AdapterFormatException(
                $"'{reader.Path}' is corrupt: its tensors ({reader.Tensors.Count}) do not match its own record ({document.TensorSha256.Count} checksums, {expected.Count} layer vectors).");
        }

        // Every tensor must be one the record trains: a layer vector it lists, or a tensor of a module to save. Anything else would be
        // copied into the model although the record says it does not train (e.g. σ of a layer recorded with train_sigma = false).
        var expectedSet = expected.ToHashSet(StringComparer.Ordinal);
        var unaccounted = reader.Tensors.Select(t => t.Name)
            .Where(n => !expectedSet.Contains(n) && !document.Adapter.ModulesToSave.Any(m => NameMatch.IsWithin(n, m))).ToList();
        if (unaccounted.Count > 0)
        {
            throw new AdapterFormatException(
                $"'{reader.Path}' is corrupt: it holds tensors its record does not account for (no adapted layer trains them and no module to save holds them): " +
                $"{NameMatch.Sample(unaccounted)}. Save the adapter again.");
        }

        return document;
    }

    /// <summary>What a parsed record states that cannot be (an undefined enum value, an invalid AVF schedule), or <c>null</c>.</summary>
    private static string? RecordedValueProblem(AdapterInfo info)
    {
        if (!AdapterMethod.IsRegistered(info.Method))
        {
            return $"it records the method {(int)info.Method}, which is not a registered method ({string.Join(", ", Enum.GetNames<AdaptationMethod>())})";
        }

        if (!Enum.IsDefined(info.Variant))
        {
            return $"it records the variant {(int)info.Variant}, which is not a VectorFitVariant ({string.Join(", ", Enum.GetNames<VectorFitVariant>())})";
        }

        if (info.FactorDType is { } factors && factors is not (ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
        {
            return $"it records the factor dtype {factors} (factor_dtype), which is not a floating dtype";
        }

        if (info.Layers.FirstOrDefault(l => !Enum.IsDefined(l.Role)) is { } layer)
        {
            return $"layer '{layer.Name}' records the role {(int)layer.Role}, which is not a LayerRole ({string.Join(", ", Enum.GetNames<LayerRole>())})";
        }

        if (info.AvfOptions is { } avf)
        {
            try
            {
                avf.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                // The message without .NET's "(Parameter '…')" and "Actual value was …" suffixes: the text names the field and the value.
                return $"its AVF schedule (avf_options) is invalid: {e.Message.Split(" (Parameter '")[0]}";
            }
        }

        var most = info.AvfOptions?.AvfSteps ?? 0;
        if (info.AvfStepsTaken is { } taken && (taken < 0 || taken > most))
        {
            return $"it records {taken} AVF steps taken (avf_steps_taken), but its AVF schedule has {most}";
        }

        return null;
    }

    private static List<string> CompareLayers(IReadOnlyList<AdaptedLayerInfo> recorded, IReadOnlyList<(string Name, SvdAdaptedLinear Layer)> layers)
    {
        var problems = new List<string>();
        var byName = layers.ToDictionary(l => l.Name, l => l.Layer.Describe(l.Name, LayerRole.Other), StringComparer.Ordinal);
        foreach (var info in recorded)
        {
            if (!byName.Remove(info.Name, out var layer))
            {
                problems.Add($"'{info.Name}' is an adapted layer in the adapter but not {WithArticle(info.Method)} in the model");
            }
            else if (layer.Method != info.Method)
            {
                problems.Add($"'{info.Name}' is {WithArticle(info.Method)} in the adapter but {WithArticle(layer.Method)} in the model (adapt the model with Method = {info.Method})");
            }
            else if (layer.InFeatures != info.InFeatures || layer.OutFeatures != info.OutFeatures || layer.Rank != info.Rank)
            {
                problems.Add($"'{info.Name}' is {layer.InFeatures}->{layer.OutFeatures} (r={layer.Rank}) in the model but {info.InFeatures}->{info.OutFeatures} (r={info.Rank}) in the adapter");
            }
            else if (layer.SvftPattern != info.SvftPattern)
            {
                problems.Add($"'{info.Name}' has SVFT pattern {layer.SvftPattern} in the model but {info.SvftPattern} in the adapter (adapt the model with Method = new SvftMethod {{ Pattern = {info.SvftPattern} }})");
            }
            else if (info.HasBias && !layer.HasBias)
            {
                problems.Add($"'{info.Name}' has a bias in the adapter but none in the model (was the surgery run without AddBias?)");
            }
        }

        problems.AddRange(byName.Values.Select(layer => $"the model's {AdapterMethod.For(layer.Method).LayerType.Name} '{layer.Name}' is not in the adapter"));
        return problems;
    }

    private static List<string> CompareFactorDTypes(AdapterInfo info, IReadOnlyList<(string Name, SvdAdaptedLinear Layer)> layers)
    {
        var problems = new List<string>();
        foreach (var (name, layer) in layers)
        {
            var stored = layer.ReadOnlyFactors.U.dtype;
            var expected = info.FactorDType ?? layer.ComputeDType;
            if (stored != expected)
            {
                var trained = info.FactorDType is { } factors
                    ? $"{factors} factors (FactorDType = {factors})"
                    : $"factors in the weights' own dtype (FactorDType = null, here {layer.ComputeDType})";
                problems.Add($"'{name}' stores U and V in {stored} in the model but the adapter was trained on {trained}");
            }
        }

        return problems;
    }

    private static string WithArticle(AdaptationMethod method)
    {
        return AdapterMethod.IsRegistered(method) ? AdapterMethod.For(method).LayerWithArticle : $"a layer of method {method}";
    }

    private static List<string> CompareKeys(SafetensorsReader reader, AdapterInfo info, Dictionary<string, Tensor> state)
    {
        var problems = new List<string>();
        foreach (var entry in reader.Tensors)
        {
            if (!state.TryGetValue(entry.Name, out var target))
            {
                problems.Add($"the model's state_dict has no key '{entry.Name}'");
            }
            else if ((entry.ScalarType != target.dtype && !(entry.ScalarType is { } fileType && IsFloating(fileType) && IsFloating(target.dtype))) || !entry.Shape.SequenceEqual(target.shape))
            {
                problems.Add($"'{entry.Name}' is {entry.DType} [{string.Join(", ", entry.Shape)}] in the adapter but {target.dtype} [{string.Join(", ", target.shape)}] in the model");
            }
        }

        foreach (var module in info.ModulesToSave)
        {
            var missing = state.Keys.Where(k => NameMatch.IsWithin(k, module) && !reader.Contains(k)).ToList();
            if (missing.Count > 0)
            {
                problems.Add($"the model's '{module}' has tensors the adapter does not: {NameMatch.Sample(missing)}");
            }
        }

        return problems;
    }

    // Floating tensors load into another floating dtype with a cast (copy_ casts): train in bf16, serve in fp32, or the reverse.
    private static bool IsFloating(ScalarType type) => type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;

    private static Dictionary<string, Tensor> ReadVerified(SafetensorsReader reader, AdapterDocument document)
    {
        Dictionary<string, Tensor> loaded;
        try
        {
            loaded = reader.ReadAll();
        }
        catch (SafetensorsFormatException e)
        {
            throw new AdapterFormatException($"'{reader.Path}' could not be read: {e.Message}", e);
        }

        foreach (var (key, tensor) in loaded)
        {
            if (SafetensorsWriter.Sha256(tensor) != document.TensorSha256[key])
            {
                foreach (var t in loaded.Values)
                {
                    t.Dispose();
                }

                throw new AdapterFormatException($"'{reader.Path}' is corrupt: the bytes of tensor '{key}' do not match their recorded SHA-256 checksum. Save the adapter again.");
            }
        }

        return loaded;
    }

    private static AdapterMismatchException Mismatch(string path, string what, List<string> problems, string fix)
    {
        var shown = string.Join(Environment.NewLine, problems.Take(10).Select(p => "  " + p));
        var more = problems.Count > 10 ? $"{Environment.NewLine}  … and {problems.Count - 10} more" : string.Empty;
        return new AdapterMismatchException(
            $"Cannot load adapter '{path}': {what} ({problems.Count} difference(s)); the model was not changed. {fix}{Environment.NewLine}{shown}{more}",
            problems);
    }
}
