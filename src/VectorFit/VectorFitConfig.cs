using System.Text.RegularExpressions;
using TorchSharp.Modules;
using VectorFit.Surgery;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// What <see cref="ModelSurgery.Apply"/> does to a model: which <c>Linear</c> layers become adapted layers
/// (a role <see cref="Preset"/>, exact <see cref="TargetNames"/>, <see cref="TargetSuffixes"/>, regular
/// expressions in <see cref="TargetPatterns"/> or a <see cref="TargetPredicate"/>; a layer matching any of
/// them is selected), which vectors train (<see cref="Variant"/>), and which modules train fully
/// (<see cref="ModulesToSave"/>, e.g. the task head, like PEFT's <c>modules_to_save</c>).
/// </summary>
/// <remarks>
/// A layer matched by the preset gets the preset's role; any other selected layer has
/// <see cref="LayerRole.Other"/>, which the variants treat like f1/f2. Every selector must match at least one
/// <c>Linear</c> unless <see cref="AllowUnmatchedTargets"/> is set (a preset counts as matched when any of its
/// suffixes matches; its unmatched suffixes are listed in <see cref="SurgeryReport.UnmatchedTargets"/>).
/// </remarks>
public sealed record VectorFitConfig
{
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The method applied to the selected layers, with its own options (default <see cref="VectorFitMethod"/>); e.g.
    /// <c>new SvftMethod { Pattern = SvftPattern.Banded(2) }</c> for SVFT.
    /// </summary>
    public AdapterMethod Method { get; init; } = new VectorFitMethod();

    /// <summary>
    /// The ablation variant: which layers are adapted and which vectors train (default <see cref="VectorFitVariant.VectorFit"/>).
    /// With <see cref="SvftMethod"/>, σ reads as <c>M</c>'s entries and AVF does not apply (VectorFit and NoAvf coincide).
    /// </summary>
    public VectorFitVariant Variant { get; init; } = VectorFitVariant.VectorFit;

    /// <summary>A role preset such as <see cref="TargetPreset.Bert"/> (default <c>null</c>: none).</summary>
    public TargetPreset? Preset { get; init; }

    /// <summary>Full module names to adapt, e.g. <c>encoder.layer.0.attention.self.query</c> (default none). Each must name a <c>Linear</c>.</summary>
    public IReadOnlyList<string> TargetNames { get; init; } = Array.Empty<string>();

    /// <summary>Name suffixes to adapt, matched at a '.' boundary: <c>query</c> matches <c>a.query</c> but not <c>a.subquery</c> (default none).</summary>
    public IReadOnlyList<string> TargetSuffixes { get; init; } = Array.Empty<string>();

    /// <summary>.NET regular expressions that must match a layer's whole name, e.g. <c>encoder\.layer\.\d+\.attention\..*</c> (default none).</summary>
    public IReadOnlyList<string> TargetPatterns { get; init; } = Array.Empty<string>();

    /// <summary>A test on each <c>Linear</c> (full name, layer); <c>true</c> selects it (default <c>null</c>: none). Not recorded in adapter files.</summary>
    public Func<string, Linear, bool>? TargetPredicate { get; init; }

    /// <summary>
    /// PEFT's <c>target_modules="all-linear"</c>: select every <c>Linear</c> of the model except the head (default <c>false</c>).
    /// The head is every <c>Linear</c> inside <see cref="ModulesToSave"/> when that is set (e.g. <c>["classifier"]</c>, the usual case);
    /// when <see cref="ModulesToSave"/> is empty, it is the output layer: the <c>Linear</c> registered last in depth-first order
    /// (PyTorch's <c>named_modules()</c> order; <c>lm_head</c>, <c>classifier</c>, the last layer of a <c>Sequential</c>).
    /// <see cref="SurgeryReport.ExcludedFromAllLinear"/> names what was left out. Combines with the other selectors (their union is adapted).
    /// </summary>
    public bool TargetAllLinear { get; init; }

    /// <summary>
    /// Modules trained fully and saved whole in adapters, by full name or '.'-boundary suffix (default none),
    /// e.g. <c>classifier</c>. Each must match a module; adapted layers may not lie inside one.
    /// </summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = Array.Empty<string>();

    /// <summary>
    /// Create a zero-initialised, trainable bias in adapted layers that have none (LLaMA-style projections),
    /// where the variant trains biases (default <c>false</c>: such layers train σ only, method §1).
    /// </summary>
    public bool AddBias { get; init; }

    /// <summary>
    /// The dtype the adapted layers store their frozen U and V in (default <c>null</c>: each weight's own dtype); e.g.
    /// <c>ScalarType.BFloat16</c> on a float32 model halves what U and V take while σ, the bias and all arithmetic stay float32.
    /// VectorFit only (<see cref="VectorFitMethod"/>). See <see cref="VectorFitLinearOptions.FactorDType"/>; recorded in adapter files.
    /// </summary>
    /// <remarks>
    /// Must be a floating dtype no wider than the weight of every selected layer (checked before anything changes); σ is trained
    /// against the rounded factors, so an adapter trained with one factor dtype loads only into a model adapted with the same.
    /// </remarks>
    public ScalarType? FactorDType { get; init; }

    /// <summary>
    /// Accept selectors that match no layer, listing them in <see cref="SurgeryReport.UnmatchedTargets"/> instead of throwing
    /// (default <c>false</c>). With <see cref="ModulesToSave"/> set, a config that then selects no layer at all is accepted too:
    /// only the modules to save train (e.g. full fine-tuning of an encoder and its head, as a baseline).
    /// </summary>
    public bool AllowUnmatchedTargets { get; init; }

    /// <summary>Whether any selector is set.</summary>
    public bool HasTargets => TargetAllLinear || Preset is not null || TargetNames.Count > 0 || TargetSuffixes.Count > 0 || TargetPatterns.Count > 0 || TargetPredicate is not null;

    /// <summary>Checks every field and the cross-field rules; throws naming the field, the value and the fix.</summary>
    /// <exception cref="ArgumentException">A field is invalid (see the message).</exception>
    public void Validate()
    {
        if (Method is null)
        {
            throw new ArgumentException("Method is null; use new VectorFitMethod() (the default) or new SvftMethod { Pattern = ... }.", nameof(Method));
        }

        Method.Validate();

        if (!Enum.IsDefined(Variant))
        {
            throw new ArgumentException($"Variant {(int)Variant} is not a defined VectorFitVariant; use one of {string.Join(", ", Enum.GetNames<VectorFitVariant>())}.", nameof(Variant));
        }

        Preset?.Validate();
        ValidateNames(TargetNames, nameof(TargetNames));
        ValidateNames(TargetSuffixes, nameof(TargetSuffixes));
        ValidateNames(ModulesToSave, nameof(ModulesToSave));
        _ = CompilePatterns();

        if (!HasTargets)
        {
            throw new ArgumentException(
                "No layers are selected: set Preset (e.g. TargetPreset.Bert), TargetAllLinear, TargetNames, TargetSuffixes, TargetPatterns or TargetPredicate (there is no TargetModules: PEFT's target_modules list is TargetSuffixes, its regex string TargetPatterns, and \"all-linear\" TargetAllLinear).",
                nameof(Preset));
        }

        VectorFitLinearOptions.CheckFactorDType(FactorDType, nameof(FactorDType));
        if (FactorDType is { } factors && Method is not VectorFitMethod)
        {
            throw new ArgumentException(
                $"FactorDType is {factors} but method {Method} does not support a factor dtype yet (only VectorFit does). Set FactorDType = null for SVFT, or use Method = new VectorFitMethod().",
                nameof(FactorDType));
        }

        if (AddBias && Variant is VectorFitVariant.Sigma or VectorFitVariant.SigmaAttention)
        {
            throw new ArgumentException(
                $"AddBias is true but Variant {Variant} trains no bias, so a new zero bias would never train. Use a variant that trains biases (VectorFit, NoAvf, SigmaAttentionAndBias) or set AddBias = false.",
                nameof(AddBias));
        }
    }

    /// <summary>The patterns compiled to whole-name regular expressions.</summary>
    internal IReadOnlyList<Regex> CompilePatterns()
    {
        if (TargetPatterns is null)
        {
            throw new ArgumentException("TargetPatterns is null; use an empty list.", nameof(TargetPatterns));
        }

        var compiled = new List<Regex>();
        foreach (var pattern in TargetPatterns)
        {
            if (string.IsNullOrEmpty(pattern))
            {
                throw new ArgumentException("TargetPatterns holds an empty pattern; remove it or write a regular expression such as 'encoder\\.layer\\.\\d+\\..*'.", nameof(TargetPatterns));
            }

            try
            {
                compiled.Add(new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, RegexTimeout));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"TargetPatterns entry '{pattern}' is not a valid .NET regular expression: {e.Message}", nameof(TargetPatterns), e);
            }
        }

        return compiled;
    }

    private static void ValidateNames(IReadOnlyList<string> names, string field)
    {
        if (names is null)
        {
            throw new ArgumentException($"{field} is null; use an empty list.", field);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            NameMatch.ValidateDottedName(name, $"{field} entry", field);
            if (!seen.Add(name))
            {
                throw new ArgumentException($"{field} lists '{name}' twice; remove the duplicate.", field);
            }
        }
    }
}
