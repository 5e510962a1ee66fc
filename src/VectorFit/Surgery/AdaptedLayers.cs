using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// The method-specific parts of surgery, in one place: building an adapted layer for a method
/// (<see cref="VectorFitLinear"/> or <see cref="SvftLinear"/>), finding, merging and describing adapted layers, and
/// naming their trained tensors.
/// </summary>
internal static class AdaptedLayers
{
    /// <summary>Whether <paramref name="module"/> is an adapted layer of any method.</summary>
    public static bool IsAdapted(nn.Module module) => module is VectorFitLinear or SvftLinear;

    /// <summary>The layer type a method puts in place of each <c>Linear</c>.</summary>
    public static Type LayerType(AdaptationMethod method) => method switch
    {
        AdaptationMethod.VectorFit => typeof(VectorFitLinear),
        AdaptationMethod.Svft => typeof(SvftLinear),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, $"Surgery does not support method {method}."),
    };

    /// <summary>
    /// Builds the adapted layer that replaces <paramref name="linear"/>, in the same train/eval mode. For SVFT the
    /// variant's options carry over with σ read as <c>M</c>'s entries (<see cref="SvftLinearOptions.TrainValues"/>).
    /// </summary>
    public static nn.Module Create(Linear linear, VectorFitLinearOptions options, VectorFitConfig config, SvdCache? cache = null)
    {
        Func<Tensor, string, ThinSvd>? svdSource = cache is null ? null : cache.Get;
        nn.Module layer = config.Method switch
        {
            AdaptationMethod.VectorFit => new VectorFitLinear(linear, options, svdSource),
            AdaptationMethod.Svft => new SvftLinear(linear, new SvftLinearOptions
            {
                Pattern = config.SvftPattern,
                TrainValues = options.TrainSigma,
                TrainBias = options.TrainBias,
                AddBias = options.AddBias,
            }, svdSource),
            _ => throw new ArgumentOutOfRangeException(nameof(config), config.Method, $"Surgery does not support method {config.Method}."),
        };
        return SameMode(linear, layer);
    }

    /// <summary>Merges an adapted layer into a plain <c>Linear</c>, in the same train/eval mode.</summary>
    public static Linear Merge(nn.Module layer) => layer switch
    {
        VectorFitLinear vectorFit => SameMode(layer, vectorFit.ToLinear()),
        SvftLinear svft => SameMode(layer, svft.ToLinear()),
        _ => throw new ArgumentException($"{layer.GetType().Name} is not an adapted layer.", nameof(layer)),
    };

    /// <summary>Distinct adapted layers among <paramref name="occurrences"/>, each with its first name, in walk order.</summary>
    public static List<(string Name, nn.Module Layer)> Distinct(IEnumerable<(ChildSlot Slot, nn.Module Module)> occurrences)
        => ModuleTree.Distinct<nn.Module>(occurrences.Where(o => IsAdapted(o.Module)));

    /// <summary>Every adapted layer of <paramref name="model"/> with its full name, in <c>named_modules()</c> order.</summary>
    public static List<(string Name, nn.Module Layer)> Find(nn.Module model) => Distinct(ModuleTree.Walk(model));

    /// <summary>"VectorFitLinear", "SvftLinear" or "VectorFitLinear and SvftLinear": the kinds among <paramref name="layers"/>.</summary>
    public static string KindsOf(IEnumerable<nn.Module> layers)
        => string.Join(" and ", layers.Select(l => l.GetType().Name).Distinct().Order(StringComparer.Ordinal).Reverse());

    /// <summary>The parameters an adapted layer may train, each with whether its options let it train.</summary>
    public static IEnumerable<(Parameter Parameter, bool Trainable)> TrainedParameters(nn.Module layer)
    {
        switch (layer)
        {
            case VectorFitLinear vectorFit:
                yield return (vectorFit.sigma, vectorFit.Options.TrainSigma);
                if (vectorFit.bias is { } vectorFitBias)
                {
                    yield return (vectorFitBias, vectorFit.Options.TrainBias);
                }

                break;
            case SvftLinear svft:
                yield return (svft.svft_values, svft.Options.TrainValues);
                if (svft.bias is { } svftBias)
                {
                    yield return (svftBias, svft.Options.TrainBias);
                }

                break;
        }
    }

    /// <summary>The frozen factors of an adapted layer: <c>U</c> <c>(out, r)</c>, <c>V</c> <c>(in, r)</c>, and σ when it is frozen state rather than a parameter.</summary>
    public static (Tensor U, Tensor V, Tensor? FrozenSigma) Factors(nn.Module layer) => layer switch
    {
        VectorFitLinear vectorFit => (vectorFit.U, vectorFit.V, null),
        SvftLinear svft => (svft.U, svft.V, svft.frozen_sigma),
        _ => throw new ArgumentException($"{layer.GetType().Name} is not an adapted layer.", nameof(layer)),
    };

    /// <summary>The SHA-256 and dtype of the weight an adapted layer was built from, or <c>null</c> when it does not know it.</summary>
    public static (string Sha256, ScalarType DType)? SourceWeight(nn.Module layer) => layer switch
    {
        VectorFitLinear vectorFit => vectorFit.SourceWeight,
        SvftLinear svft => svft.SourceWeight,
        _ => null,
    };

    /// <summary>The report entry of an adapted layer.</summary>
    public static AdaptedLayerInfo Describe(string name, LayerRole role, nn.Module layer) => layer switch
    {
        VectorFitLinear vectorFit => new AdaptedLayerInfo
        {
            Name = name,
            Role = role,
            InFeatures = vectorFit.in_features,
            OutFeatures = vectorFit.out_features,
            Rank = vectorFit.rank,
            HasBias = vectorFit.bias is not null,
            TrainSigma = vectorFit.Options.TrainSigma,
            TrainBias = vectorFit.Options.TrainBias && vectorFit.bias is not null,
        },
        SvftLinear svft => new AdaptedLayerInfo
        {
            Name = name,
            Role = role,
            InFeatures = svft.in_features,
            OutFeatures = svft.out_features,
            Rank = svft.rank,
            HasBias = svft.bias is not null,
            TrainSigma = svft.Options.TrainValues,
            TrainBias = svft.Options.TrainBias && svft.bias is not null,
            Method = AdaptationMethod.Svft,
            SvftPattern = svft.Pattern,
        },
        _ => throw new ArgumentException($"{layer.GetType().Name} is not an adapted layer.", nameof(layer)),
    };

    private static T SameMode<T>(nn.Module original, T replacement)
        where T : nn.Module
    {
        if (!original.training)
        {
            replacement.eval();
        }

        return replacement;
    }
}
