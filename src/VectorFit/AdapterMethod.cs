using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// A fine-tuning method on the frozen thin SVD of each adapted layer, with its own options: what
/// <see cref="VectorFitConfig.Method"/> holds. Each method is one record (<see cref="VectorFitMethod"/>,
/// <see cref="SvftMethod"/>) and one layer type deriving from <see cref="SvdAdaptedLinear"/>; surgery, reports, adapter
/// files, the fingerprint, AVF and merging reach it only through these two types.
/// </summary>
/// <remarks>Like PEFT's per-tuner configs (<c>LoraConfig</c>, <c>VeraConfig</c>): a method's options live with the method.</remarks>
public abstract record AdapterMethod
{
    // The one registration of every method: its default instance (with default options), by kind.
    private static readonly AdapterMethod[] Registered = [new VectorFitMethod(), new SvftMethod()];

    private protected AdapterMethod()
    {
    }

    /// <summary>Every registered method, with default options.</summary>
    internal static IReadOnlyList<AdapterMethod> All => Registered;

    /// <summary>The method's identity, as recorded in reports and adapter files.</summary>
    public abstract AdaptationMethod Kind { get; }

    /// <summary>The layer type the method puts in place of each selected <c>Linear</c>.</summary>
    public abstract Type LayerType { get; }

    /// <summary>Whether Adaptive Vector Freezing (method §3) applies to the method's trained vectors.</summary>
    internal virtual bool SupportsAvf => false;

    /// <summary>The registered method of <paramref name="kind"/>, with default options.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a registered method.</exception>
    internal static AdapterMethod For(AdaptationMethod kind)
        => Array.Find(Registered, m => m.Kind == kind)
           ?? throw new ArgumentOutOfRangeException(nameof(kind), kind,
               $"{(int)kind} is not a registered adaptation method; use one of {string.Join(", ", Registered.Select(m => m.Kind))}.");

    /// <summary>Whether <paramref name="kind"/> is a registered method.</summary>
    internal static bool IsRegistered(AdaptationMethod kind) => Array.Exists(Registered, m => m.Kind == kind);

    /// <summary>The method (with its options) that an adapter file's record describes.</summary>
    internal static AdapterMethod FromRecord(AdaptationMethod kind, SvftPattern? svftPattern) => For(kind).WithRecordedOptions(svftPattern);

    /// <summary>Builds the adapted layer that replaces <paramref name="linear"/>; the variant's per-layer switches come in <paramref name="training"/>.</summary>
    internal abstract SvdAdaptedLinear CreateLayer(Linear linear, VectorFitLinearOptions training, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource);

    /// <summary>Checks the method's own options; throws naming the option and the fix.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    internal virtual void Validate()
    {
    }

    /// <summary>Why the method cannot adapt a <paramref name="inFeatures"/> → <paramref name="outFeatures"/> layer, or <c>null</c>.</summary>
    internal virtual string? ProblemFor(long inFeatures, long outFeatures) => null;

    /// <summary>The layer-relative state_dict keys of the method's trained tensors (not the bias), as adapter files hold them.</summary>
    internal abstract IReadOnlyList<string> TrainedKeys { get; }

    /// <summary>The layer type in a sentence, with its article (<c>a VectorFitLinear</c>, <c>an SvftLinear</c>).</summary>
    internal abstract string LayerWithArticle { get; }

    /// <summary>How many values the method's trained tensor of a layer described by <paramref name="layer"/> holds.</summary>
    internal abstract long TrainedLength(AdaptedLayerInfo layer);

    /// <summary>The trained tensor in a layer description, e.g. <c>sigma[768]</c>.</summary>
    internal string TrainedText(AdaptedLayerInfo layer) => $"{TrainedKeys[0]}[{TrainedLength(layer)}]";

    /// <summary>The method's options in a layer description (e.g. <c> svft Banded(2)</c>); empty when there are none.</summary>
    internal virtual string LayerText(AdaptedLayerInfo layer) => string.Empty;

    /// <summary>The SVFT pattern adapter records carry for this method (<c>null</c> for methods without one).</summary>
    internal virtual SvftPattern? RecordedSvftPattern => null;

    /// <summary>Whether a layer record's method-specific fields are consistent with this method.</summary>
    internal virtual bool RecordIsConsistent(AdaptedLayerInfo layer) => layer.SvftPattern is null;

    /// <summary>The same method with the options an adapter record gives.</summary>
    private protected virtual AdapterMethod WithRecordedOptions(SvftPattern? svftPattern) => this;

    /// <summary>The adapter file keys (model-relative) of a layer described by <paramref name="layer"/>: its trained tensors, then its bias when it trains.</summary>
    internal IEnumerable<string> AdapterKeys(AdaptedLayerInfo layer)
    {
        if (layer.TrainSigma)
        {
            foreach (var key in TrainedKeys)
            {
                yield return $"{layer.Name}.{key}";
            }
        }

        if (layer.TrainBias)
        {
            yield return $"{layer.Name}.{SvdAdaptedLinear.BiasKey}";
        }
    }
}
