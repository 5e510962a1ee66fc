using TorchSharp.Modules;

namespace VectorFit;

/// <summary>
/// The method-specific parts of surgery, in one place: building an adapted layer for a method and
/// describing one for the report. (A second method adds its case here.)
/// </summary>
internal static class AdaptedLayers
{
    /// <summary>Builds the adapted layer that replaces <paramref name="linear"/>.</summary>
    public static VectorFitLinear Create(Linear linear, VectorFitLinearOptions options, AdaptationMethod method) => method switch
    {
        AdaptationMethod.VectorFit => new VectorFitLinear(linear, options),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, $"Surgery does not support method {method}."),
    };

    /// <summary>The report entry of an adapted layer.</summary>
    public static AdaptedLayerInfo Describe(string name, LayerRole role, VectorFitLinear layer) => new()
    {
        Name = name,
        Role = role,
        InFeatures = layer.in_features,
        OutFeatures = layer.out_features,
        Rank = layer.Rank,
        HasBias = layer.bias is not null,
        TrainSigma = layer.Options.TrainSigma,
        TrainBias = layer.Options.TrainBias && layer.bias is not null,
    };
}
