using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Surgery;

/// <summary>
/// Finding, building, merging and describing adapted layers of any method, through <see cref="SvdAdaptedLinear"/> and
/// <see cref="AdapterMethod"/>: nothing here knows a particular method.
/// </summary>
internal static class AdaptedLayers
{
    /// <summary>Whether <paramref name="module"/> is an adapted layer of any method.</summary>
    public static bool IsAdapted(nn.Module module) => module is SvdAdaptedLinear;

    /// <summary>Builds the adapted layer that replaces <paramref name="linear"/>, in the same train/eval mode.</summary>
    public static SvdAdaptedLinear Create(Linear linear, VectorFitLinearOptions options, VectorFitConfig config, SvdCache? cache = null)
        => SameMode(linear, config.Method.CreateLayer(linear, options, cache is null ? null : cache.Get));

    /// <summary>Merges an adapted layer into a plain <c>Linear</c>, in the same train/eval mode.</summary>
    public static Linear Merge(SvdAdaptedLinear layer) => SameMode(layer, layer.ToLinear());

    /// <summary>Distinct adapted layers among <paramref name="occurrences"/>, each with its first name, in walk order.</summary>
    public static List<(string Name, SvdAdaptedLinear Layer)> Distinct(IEnumerable<(ChildSlot Slot, nn.Module Module)> occurrences)
        => ModuleTree.Distinct<SvdAdaptedLinear>(occurrences);

    /// <summary>Every adapted layer of <paramref name="model"/> with its full name, in <c>named_modules()</c> order.</summary>
    public static List<(string Name, SvdAdaptedLinear Layer)> Find(nn.Module model) => Distinct(ModuleTree.Walk(model));

    /// <summary>"VectorFitLinear", "SvftLinear" or "VectorFitLinear and SvftLinear": the kinds among <paramref name="layers"/>.</summary>
    public static string KindsOf(IEnumerable<nn.Module> layers)
        => string.Join(" and ", layers.Select(l => l.GetType().Name).Distinct().Order(StringComparer.Ordinal).Reverse());

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
