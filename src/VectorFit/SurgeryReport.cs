using System.Globalization;
using System.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using VectorFit.Surgery;

namespace VectorFit;

/// <summary>
/// What <see cref="ModelSurgery.Apply"/> did: the adapted layers, the fully trained modules, and the
/// parameter counts; <see cref="ToString"/> prints them like PEFT's <c>print_trainable_parameters</c>.
/// </summary>
/// <remarks>
/// <see cref="AllParameterCount"/> counts the base model once (each adapted layer's frozen <c>W₀</c> is held as the
/// buffers <c>U</c>, <c>V</c> but counted as its <c>d_out·d_in</c> weights) plus the σ vectors and any biases the
/// surgery created, as PEFT counts the base model plus the adapter. For DeBERTaV3-base with the default variant,
/// <see cref="AdapterParameterCount"/> is 138,240 (method §1), about 0.08% of <see cref="AllParameterCount"/>.
/// </remarks>
public sealed class SurgeryReport
{
    private readonly nn.Module? _model;
    private readonly IReadOnlyList<SvdAdaptedLinear> _adaptedLayers;

    internal SurgeryReport(
        VectorFitConfig config,
        IReadOnlyList<AdaptedLayerInfo> layers,
        IReadOnlyList<string> modulesToSave,
        IReadOnlyList<string> unmatchedTargets,
        long baseParameters,
        long allParameters,
        long trainableParameters,
        long modulesToSaveParameters,
        nn.Module? model = null,
        IReadOnlyList<SvdAdaptedLinear>? adaptedLayers = null,
        IReadOnlyList<string>? excludedFromAllLinear = null)
    {
        ExcludedFromAllLinear = excludedFromAllLinear ?? Array.Empty<string>();
        _model = model;
        _adaptedLayers = adaptedLayers ?? Array.Empty<SvdAdaptedLinear>();
        Config = config;
        Layers = layers;
        ModulesToSave = modulesToSave;
        UnmatchedTargets = unmatchedTargets;
        BaseParameterCount = baseParameters;
        AllParameterCount = allParameters;
        TrainableParameterCount = trainableParameters;
        ModulesToSaveParameterCount = modulesToSaveParameters;
    }

    /// <summary>The configuration the surgery applied.</summary>
    public VectorFitConfig Config { get; }

    /// <summary>The method applied.</summary>
    public AdaptationMethod Method => Config.Method.Kind;

    /// <summary>The ablation variant applied.</summary>
    public VectorFitVariant Variant => Config.Variant;

    /// <summary>Whether the variant trains with Adaptive Vector Freezing (build an <see cref="AvfScheduler"/>); never for SVFT.</summary>
    public bool UsesAvf => Config.Method.SupportsAvf && Config.Variant.UsesAvf();

    /// <summary>The adapted layers, in <c>named_modules()</c> order.</summary>
    public IReadOnlyList<AdaptedLayerInfo> Layers { get; }

    /// <summary>The full names of the modules trained fully (resolved from <see cref="VectorFitConfig.ModulesToSave"/>).</summary>
    public IReadOnlyList<string> ModulesToSave { get; }

    /// <summary>Selectors that matched no layer (only when <see cref="VectorFitConfig.AllowUnmatchedTargets"/> is set, and unmatched preset suffixes).</summary>
    public IReadOnlyList<string> UnmatchedTargets { get; }

    /// <summary>
    /// With <see cref="VectorFitConfig.TargetAllLinear"/>: the <c>Linear</c> layers left out as the head (inside
    /// <see cref="VectorFitConfig.ModulesToSave"/>, or else the output layer); empty otherwise.
    /// </summary>
    public IReadOnlyList<string> ExcludedFromAllLinear { get; }

    /// <summary>The model's parameter count before surgery.</summary>
    public long BaseParameterCount { get; }

    /// <summary>The base model's parameters plus those the surgery added (σ, or SVFT's entries of <c>M</c>, and created biases); the denominator of <see cref="TrainablePercent"/>.</summary>
    public long AllParameterCount { get; }

    /// <summary>Parameters with <c>requires_grad</c> after surgery: the trained vectors plus the fully trained modules.</summary>
    public long TrainableParameterCount { get; }

    /// <summary>The trained σ (or SVFT <c>M</c> entries) and b values of the adapted layers (the papers' parameter count, which leaves out the task head).</summary>
    public long AdapterParameterCount => Layers.Sum(l => l.TrainableParameterCount);

    /// <summary>The parameters of the fully trained modules (<see cref="ModulesToSave"/>).</summary>
    public long ModulesToSaveParameterCount { get; }

    /// <summary><c>100 · TrainableParameterCount / AllParameterCount</c>.</summary>
    public double TrainablePercent => AllParameterCount == 0 ? 0 : 100.0 * TrainableParameterCount / AllParameterCount;

    /// <summary>
    /// The parameters to give the optimizer: every σ (or SVFT value vector) and bias the surgery made trainable, and every
    /// parameter of <see cref="ModulesToSave"/>, in <c>named_parameters()</c> order, read from the model now, so build the optimizer
    /// after <see cref="ModelSurgery.Apply"/> and after any <c>model.to(device or dtype)</c>:
    /// <c>new VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: 1e-3)</c>.
    /// </summary>
    /// <returns>A new list; vectors that AVF has frozen for the moment are included (their <c>requires_grad</c> comes back when they thaw, and optimizers skip them meanwhile).</returns>
    /// <remarks>
    /// An optimizer built from <c>model.parameters()</c> before the surgery holds the replaced <c>Linear</c> weights instead of σ and b, and its
    /// <c>step()</c> fails inside TorchSharp with <c>KeyNotFoundException: The given key '…' was not present in the dictionary</c> (or trains nothing).
    /// This is PEFT's <c>[p for p in model.parameters() if p.requires_grad]</c>, taken from the adapted model.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The report was not made by <see cref="ModelSurgery.Apply"/>, or the model's adapted layers were merged or replaced since.</exception>
    public List<Parameter> GetTrainableParameters()
    {
        if (_model is null)
        {
            throw new InvalidOperationException("This report was not made by ModelSurgery.Apply, so it has no model to take parameters from; use the report Apply returned.");
        }

        var present = AdaptedLayers.Find(_model).Select(l => l.Layer).ToHashSet(ReferenceEqualityComparer.Instance);
        var missing = _adaptedLayers.Count(l => !present.Contains(l));
        if (missing > 0)
        {
            throw new InvalidOperationException(
                $"{missing} of the {_adaptedLayers.Count} layers this surgery adapted are no longer in the model (ModelSurgery.MergeAndUnload was called, or they were replaced): " +
                "there is nothing of this surgery left to train. Apply a new surgery and use its report.");
        }

        var wanted = new HashSet<IntPtr>();
        foreach (var layer in _adaptedLayers)
        {
            foreach (var (parameter, trainable) in layer.TrainedParameters())
            {
                if (trainable)
                {
                    wanted.Add(parameter.Handle);
                }
            }
        }

        foreach (var module in ModelSurgery.ModulesByName(_model, ModulesToSave))
        {
            foreach (var (_, parameter) in module.named_parameters())
            {
                wanted.Add(parameter.Handle);
            }
        }

        var seen = new HashSet<IntPtr>();
        var result = new List<Parameter>();
        foreach (var (_, parameter) in _model.named_parameters())
        {
            if (wanted.Contains(parameter.Handle) && seen.Add(parameter.Handle))
            {
                result.Add(parameter);
            }
        }

        return result;
    }

    /// <summary>
    /// Why the run may not train what it should, or <c>null</c>: with <see cref="VectorFitConfig.TargetAllLinear"/> and no
    /// <see cref="VectorFitConfig.ModulesToSave"/>, the head all-linear left out stays frozen (a new task head then keeps its random
    /// weights: 0.752 against 0.859 dev accuracy in a trial). <see cref="ToString"/> prints it; the library writes nothing to the console.
    /// </summary>
    public string? HeadWarning => Config.TargetAllLinear && ModulesToSave.Count == 0 && ExcludedFromAllLinear.Count > 0
        ? $"all-linear left out the head {string.Join(", ", ExcludedFromAllLinear.Select(n => $"'{n}'"))}, which stays frozen (not trained, not saved): " +
          $"if it is a new task head, set ModulesToSave = [{string.Join(", ", ExcludedFromAllLinear.Select(n => $"\"{n}\""))}] to train and save it"
        : null;

    /// <summary>
    /// PEFT's one-line summary: <c>trainable params: 138,240 || all params: 184,478,208 || trainable%: 0.0749</c>, followed on a second
    /// line by <see cref="HeadWarning"/> when there is one.
    /// </summary>
    /// <returns>The summary line (and the warning).</returns>
    public override string ToString()
    {
        var summary = string.Create(
            CultureInfo.InvariantCulture,
            $"trainable params: {TrainableParameterCount:N0} || all params: {AllParameterCount:N0} || trainable%: {TrainablePercent:F4}");
        return HeadWarning is { } warning ? $"{summary}{Environment.NewLine}warning: {warning}" : summary;
    }

    /// <summary>A multi-line description: the summary line, the variant, one line per adapted layer, the fully trained modules and unmatched selectors.</summary>
    /// <returns>The description.</returns>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine(ToString());
        // Under a method without AVF, VectorFit and NoAvf are the same variant: name the variant only where it says something.
        var variant = Config.Method.SupportsAvf || Variant is not (VectorFitVariant.VectorFit or VectorFitVariant.NoAvf)
            ? $"variant: {Variant}{(UsesAvf ? " (train with AVF)" : string.Empty)}, "
            : string.Empty;
        text.AppendLine(CultureInfo.InvariantCulture, $"method: {Config.Method}, {variant}adapted layers: {Layers.Count}, adapter params: {AdapterParameterCount:N0}");
        foreach (var layer in Layers)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {layer}");
        }

        if (ModulesToSave.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"trained fully: {string.Join(", ", ModulesToSave)} ({ModulesToSaveParameterCount:N0} params)");
        }

        if (ExcludedFromAllLinear.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"all-linear left out the head: {string.Join(", ", ExcludedFromAllLinear)}");
        }

        if (UnmatchedTargets.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"matched nothing: {string.Join(", ", UnmatchedTargets)}");
        }

        return text.ToString();
    }
}
