using VectorFit;

namespace GlueFineTune.Training;

/// <summary>Command-line names of the ablation variants (paper §6.3).</summary>
internal static class VariantNames
{
    private static readonly (string Name, VectorFitVariant Variant, string Display)[] Table =
    [
        ("vectorfit", VectorFitVariant.VectorFit, "VectorFit (σ, b of q,k,v,o,f1,f2 + AVF)"),
        ("no-avf", VectorFitVariant.NoAvf, "VectorFit without AVF (σ, b of q,k,v,o,f1,f2)"),
        ("sigma-a-b", VectorFitVariant.SigmaAttentionAndBias, "Σa + b (σ of q,k,v,o + all biases)"),
        ("sigma", VectorFitVariant.Sigma, "Σ (σ of q,k,v,o,f1,f2)"),
        ("sigma-a", VectorFitVariant.SigmaAttention, "Σa (σ of q,k,v,o)"),
    ];

    /// <summary>The accepted names, in the paper's order.</summary>
    public static IEnumerable<string> Names => Table.Select(t => t.Name);

    /// <summary>Parses a variant name (the names above or the enum names, case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <param name="variant">The variant, when known.</param>
    /// <returns>Whether the name is known.</returns>
    public static bool TryParse(string name, out VectorFitVariant variant)
    {
        foreach (var entry in Table)
        {
            if (string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase)
                || string.Equals(entry.Variant.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                variant = entry.Variant;
                return true;
            }
        }

        variant = default;
        return false;
    }

    /// <summary>The command-line name of <paramref name="variant"/>.</summary>
    /// <param name="variant">A variant.</param>
    /// <returns>Its name.</returns>
    public static string Name(VectorFitVariant variant) => Table.First(t => t.Variant == variant).Name;

    /// <summary>A readable description of <paramref name="variant"/>.</summary>
    /// <param name="variant">A variant.</param>
    /// <returns>The description.</returns>
    public static string Display(VectorFitVariant variant) => Table.First(t => t.Variant == variant).Display;
}
