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
            else if (rows.Concat(cols).Any(index => index < 0 || index >= layer.rank))
            {
                problems.Add($"'{info.Name}' records positions outside its {layer.rank} × {layer.rank} matrix M (indices must lie in [0, {layer.rank}))");
            }
        }

        return problems;
    }

    /// <summary>
    /// Why a layer's own <c>svft_rows</c>/<c>svft_cols</c> cannot be evaluated (not one position per entry of
    /// <c>svft_values</c>, or a position outside <c>[0, r)</c>: they were overwritten, e.g. by <c>load_state_dict</c>), or <c>null</c>.
    /// </summary>
    public static string? ProblemIn(SvftLinear layer)
    {
        using var scope = torch.NewDisposeScope();
        var (rows, cols, count) = (layer.svft_rows, layer.svft_cols, layer.svft_values.shape[0]);
        var what = $"SvftLinear ({layer.in_features} -> {layer.out_features})";
        const string Fix = "They were overwritten (load_state_dict from another layer, or a corrupt state_dict?); load adapters with VectorFitAdapter.Load, which checks them.";
        if (rows.dim() != 1 || cols.dim() != 1 || rows.shape[0] != count || cols.shape[0] != count)
        {
            return $"{what}: svft_rows {ThinSvd.ShapeText(rows.shape)} and svft_cols {ThinSvd.ShapeText(cols.shape)} do not hold one position per entry of svft_values ({count}). {Fix}";
        }

        if (count == 0)
        {
            return null;
        }

        var low = Math.Min(rows.min().item<long>(), cols.min().item<long>());
        var high = Math.Max(rows.max().item<long>(), cols.max().item<long>());
        return low < 0 || high >= layer.rank
            ? $"{what}: svft_rows/svft_cols hold positions in [{low}, {high}], outside its {layer.rank} × {layer.rank} matrix M (indices must lie in [0, {layer.rank})). {Fix}"
            : null;
    }

    private static long[] HostValues(Tensor tensor)
    {
        using var host = tensor.to(ScalarType.Int64, new Device(DeviceType.CPU));
        return host.data<long>().ToArray();
    }
}
