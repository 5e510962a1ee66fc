using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using VectorFit.Surgery;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>
/// The configuration recorded in an adapter file: the method, variant and targets of the surgery that
/// produced it, each adapted layer with its shape, the fully trained modules, the AVF schedule if given and
/// the library version. Read it with <see cref="VectorFitAdapter.ReadInfo"/>.
/// </summary>
public sealed record AdapterInfo
{
    /// <summary>The adapter format version (<see cref="VectorFitAdapter.FormatVersion"/> when written by this library).</summary>
    public required int FormatVersion { get; init; }

    /// <summary>The VectorFit library version that wrote the file.</summary>
    public required string LibraryVersion { get; init; }

    /// <summary>The method of the adapted layers.</summary>
    public required AdaptationMethod Method { get; init; }

    /// <summary>The SVFT pattern of <c>M</c> when <see cref="Method"/> is <see cref="AdaptationMethod.Svft"/>; <c>null</c> for VectorFit.</summary>
    public SvftPattern? SvftPattern { get; init; }

    /// <summary>The ablation variant.</summary>
    public required VectorFitVariant Variant { get; init; }

    /// <summary>Whether training used (or was meant to use) Adaptive Vector Freezing.</summary>
    public required bool UsesAvf { get; init; }

    /// <summary>The name of the role preset, or <c>null</c> when none was used.</summary>
    public string? Preset { get; init; }

    /// <summary>The exact target names of the surgery.</summary>
    public IReadOnlyList<string> TargetNames { get; init; } = Array.Empty<string>();

    /// <summary>The target suffixes of the surgery.</summary>
    public IReadOnlyList<string> TargetSuffixes { get; init; } = Array.Empty<string>();

    /// <summary>The target regular expressions of the surgery.</summary>
    public IReadOnlyList<string> TargetPatterns { get; init; } = Array.Empty<string>();

    /// <summary>Whether the surgery selected every Linear but the head (<see cref="VectorFitConfig.TargetAllLinear"/>).</summary>
    public bool TargetAllLinear { get; init; }

    /// <summary>Whether a target predicate was used (predicates cannot be recorded; <see cref="Layers"/> lists what it chose).</summary>
    public bool UsedPredicate { get; init; }

    /// <summary>Whether zero biases were created where layers had none.</summary>
    public bool AddBias { get; init; }

    /// <summary>
    /// The dtype the adapted layers stored U and V in during training (<see cref="VectorFitConfig.FactorDType"/>); <c>null</c>
    /// when they were in the weights' own dtype (the default, and every file written before this field). The adapter loads
    /// only into a model whose factors have this dtype (or, for <c>null</c>, the model's compute dtype).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("factor_dtype")]
    public ScalarType? FactorDType { get; init; }

    /// <summary>The full names of the fully trained modules, whose tensors the file holds.</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = Array.Empty<string>();

    /// <summary>The AVF schedule, when one was given on saving.</summary>
    public AvfOptions? AvfOptions { get; init; }

    /// <summary>
    /// The AVF steps the run took (<see cref="AvfScheduler.AvfStepsTaken"/>) when the scheduler itself was given on saving; <c>null</c>
    /// when it was not (only the schedule, or nothing, was given; files written before this field have none). 0 with an enabled
    /// <see cref="AvfOptions"/> means AVF froze nothing.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? AvfStepsTaken { get; init; }

    /// <summary>Every adapted layer, with its role, shape and trained vectors.</summary>
    public required IReadOnlyList<AdaptedLayerInfo> Layers { get; init; }

    /// <summary>The names of the tensors in the file (model <c>state_dict</c> keys).</summary>
    public IReadOnlyList<string> TensorNames { get; init; } = Array.Empty<string>();

    /// <summary>
    /// A readable summary: format and library version, method, variant, preset, the adapted layers and trained values, the fully
    /// trained modules, the AVF schedule (with the AVF steps taken, when recorded) and the number of tensors, e.g.
    /// <c>VectorFit adapter (format 2, VectorFit 0.1.0): method VectorFit, variant VectorFit, preset bert, 12 layers (960 trained values), modules to save: classifier, AVF t_i=800 t_f=70 n_f=27 k=5, 25 tensors</c>.
    /// </summary>
    /// <returns>One line.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"VectorFit adapter (format {FormatVersion}, VectorFit {LibraryVersion}): method {Method}");
        if (SvftPattern is { } pattern)
        {
            text.Append(CultureInfo.InvariantCulture, $" {pattern}");
        }

        // Under a method without AVF (SVFT) the VectorFit and NoAvf variants coincide: only an ablation that changes what trains is named.
        if (AdapterMethod.For(Method).SupportsAvf || Variant is not (VectorFitVariant.VectorFit or VectorFitVariant.NoAvf))
        {
            text.Append(CultureInfo.InvariantCulture, $", variant {Variant}");
        }

        var selectors = new List<string>();
        if (Preset is not null)
        {
            selectors.Add($"preset {Preset}");
        }

        if (TargetAllLinear)
        {
            selectors.Add("all-linear");
        }

        AddList(selectors, "names", TargetNames);
        AddList(selectors, "suffixes", TargetSuffixes);
        AddList(selectors, "patterns", TargetPatterns);
        if (UsedPredicate)
        {
            selectors.Add("a predicate");
        }

        if (selectors.Count > 0)
        {
            text.Append(", ").AppendJoin(", ", selectors);
        }

        text.Append(CultureInfo.InvariantCulture, $", {Layers.Count} layer(s) ({Layers.Sum(l => l.TrainableParameterCount):N0} trained values)");
        if (AddBias)
        {
            text.Append(", added biases");
        }

        if (FactorDType is { } factors)
        {
            text.Append(CultureInfo.InvariantCulture, $", U and V in {factors}");
        }

        text.Append(", modules to save: ").Append(ModulesToSave.Count == 0 ? "none" : string.Join(", ", ModulesToSave));
        text.Append(AvfOptions is { } avf
            ? string.Create(CultureInfo.InvariantCulture, $", AVF t_i={avf.InitialStep} t_f={avf.Interval} n_f={avf.AvfSteps} k={avf.K} beta={avf.Beta}")
              + (AvfStepsTaken is { } taken ? string.Create(CultureInfo.InvariantCulture, $" ({taken} of {avf.AvfSteps} AVF steps taken)") : string.Empty)
            : UsesAvf ? ", AVF (schedule not recorded)" : ", no AVF");
        text.Append(CultureInfo.InvariantCulture, $", {TensorNames.Count} tensor(s)");
        return text.ToString();
    }

    /// <summary>
    /// Whether the base-model fingerprint covers the model's persistent buffers (e.g. BatchNorm running statistics) as well
    /// as its frozen parameters; <see cref="VectorFitAdapter.Load"/> checks the same set.
    /// </summary>
    public bool FingerprintsBuffers { get; init; }

    /// <summary>
    /// A surgery config that adapts exactly the recorded layers with their recorded roles, method (and SVFT pattern),
    /// variant, bias option and factor dtype, and trains the recorded modules fully: apply it to a fresh copy of the base model, then
    /// load the adapter into it.
    /// </summary>
    /// <returns>A config for <see cref="ModelSurgery.Apply"/>.</returns>
    public VectorFitConfig ToSurgeryConfig() => new()
    {
        Method = AdapterMethod.FromRecord(Method, SvftPattern),
        Variant = Variant,
        Preset = new TargetPreset($"adapter:{Preset ?? "custom"}", Layers.Select(l => new RoleTarget(l.Name, l.Role)).ToList()),
        ModulesToSave = ModulesToSave,
        AddBias = AddBias,
        FactorDType = FactorDType,
    };

    private static void AddList(List<string> selectors, string what, IReadOnlyList<string> values)
    {
        if (values.Count > 0)
        {
            selectors.Add($"{what} {string.Join(", ", values)}");
        }
    }
}
