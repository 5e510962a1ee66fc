using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// The method-specific parts of surgery, in one place: building an adapted layer for a method and
/// describing one for the report. (A second method adds its case here.)
/// </summary>
internal static class AdaptedLayers
{
    /// <summary>Builds the adapted layer that replaces <paramref name="linear"/>, in the same train/eval mode.</summary>
    public static VectorFitLinear Create(Linear linear, VectorFitLinearOptions options, AdaptationMethod method)
    {
        var layer = method switch
        {
            AdaptationMethod.VectorFit => new VectorFitLinear(linear, options),
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, $"Surgery does not support method {method}."),
        };
        return SameMode(linear, layer);
    }

    /// <summary>Merges an adapted layer into a plain <c>Linear</c>, in the same train/eval mode.</summary>
    public static Linear Merge(VectorFitLinear layer) => SameMode(layer, layer.ToLinear());

    private static T SameMode<T>(nn.Module original, T replacement)
        where T : nn.Module
    {
        if (!original.training)
        {
            replacement.eval();
        }

        return replacement;
    }

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
