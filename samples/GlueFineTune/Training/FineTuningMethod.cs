using System.Globalization;
using VectorFit;

namespace GlueFineTune.Training;

/// <summary>What trains (<c>--method</c>): VectorFit, SVFT or every weight (the baseline the papers compare with).</summary>
internal enum FineTuningMethod
{
    /// <summary>VectorFit: σ and b of the adapted layers (the variant says which), with AVF for the VectorFit variant.</summary>
    VectorFit,

    /// <summary>SVFT: the entries of M on a sparsity pattern (<c>--svft-pattern</c>) and b; σ frozen, no AVF.</summary>
    Svft,

    /// <summary>Full fine-tuning: every weight of the encoder and the head trains.</summary>
    Full,
}

/// <summary>Command-line names of <see cref="FineTuningMethod"/> and of SVFT patterns.</summary>
internal static class MethodNames
{
    /// <summary>The accepted method names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["vectorfit", "svft", "full"];

    /// <summary>Parses a method name (case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <param name="method">The method, when known.</param>
    /// <returns>Whether the name is known.</returns>
    public static bool TryParse(string name, out FineTuningMethod method)
    {
        int index = Names.ToList().FindIndex(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
        method = index < 0 ? default : (FineTuningMethod)index;
        return index >= 0;
    }

    /// <summary>The command-line name.</summary>
    /// <param name="method">A method.</param>
    /// <returns>Its name.</returns>
    public static string Name(FineTuningMethod method) => Names[(int)method];

    /// <summary>
    /// Parses an SVFT pattern: <c>plain</c> (M diagonal), <c>banded:D</c>, <c>random:D</c> (seeded by
    /// <paramref name="seed"/>) or <c>topk:D</c>, with D the off-diagonals (the SVFT paper's B_d, R_d, T_d).
    /// </summary>
    /// <param name="text">The pattern's name.</param>
    /// <param name="seed">The run's seed (for random).</param>
    /// <param name="pattern">The pattern, when valid.</param>
    /// <returns>Whether the text is a pattern.</returns>
    public static bool TryParsePattern(string text, int seed, out SvftPattern pattern)
    {
        pattern = SvftPattern.Plain;
        string[] parts = text.ToLowerInvariant().Split(':');
        if (parts is ["plain"])
        {
            return true;
        }

        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 1)
        {
            return false;
        }

        switch (parts[0])
        {
            case "banded":
                pattern = SvftPattern.Banded(d);
                return true;
            case "random":
                pattern = SvftPattern.Random(d, seed);
                return true;
            case "topk" or "top-k":
                pattern = SvftPattern.TopK(d);
                return true;
            default:
                return false;
        }
    }
}
