using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>
/// Checks the entry positions (<c>svft_rows</c>, <c>svft_cols</c>) an adapter file holds for its SVFT layers before they
/// are loaded: band patterns (Plain, Banded) are evaluated by diagonal slices, so the file's positions must be exactly the
/// band's; Random and Top-k positions are taken from the file (that is what makes them reload exactly) and must lie in
/// the layer's <c>r × r</c> matrix.
/// </summary>
internal static class SvftPositions
{
    /// <summary>One line per SVFT layer whose recorded positions cannot be loaded; empty when all can.</summary>
    public static List<string> Problems(
        IReadOnlyDictionary<string, Tensor> loaded, IReadOnlyList<AdaptedLayerInfo> recorded, IReadOnlyList<(string Name, nn.Module Layer)> layers)
    {
        var problems = new List<string>();
        var byName = layers.ToDictionary(l => l.Name, l => l.Layer, StringComparer.Ordinal);
        foreach (var info in recorded.Where(l => l.Method == AdaptationMethod.Svft && l.TrainSigma))
        {
            if (byName[info.Name] is not SvftLinear layer)
            {
                continue;
            }

            var rows = HostValues(loaded[$"{info.Name}.svft_rows"]);
            var cols = HostValues(loaded[$"{info.Name}.svft_cols"]);
            if (layer.Pattern.Kind is SvftPatternKind.Plain or SvftPatternKind.Banded)
            {
                if (!rows.SequenceEqual(HostValues(layer.svft_rows)) || !cols.SequenceEqual(HostValues(layer.svft_cols)))
                {
                    problems.Add($"'{info.Name}' records positions for its {layer.Pattern} entries that are not the band |i - j| <= {layer.Pattern.OffDiagonals}");
                }
            }
            else if (rows.Concat(cols).Any(index => index < 0 || index >= layer.Rank))
            {
                problems.Add($"'{info.Name}' records positions outside its {layer.Rank} × {layer.Rank} matrix M (indices must lie in [0, {layer.Rank}))");
            }
        }

        return problems;
    }

    private static long[] HostValues(Tensor tensor)
    {
        using var host = tensor.to(ScalarType.Int64, new Device(DeviceType.CPU));
        return host.data<long>().ToArray();
    }
}
