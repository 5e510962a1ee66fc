using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using VectorFit;

namespace GlueFineTune.Outputs;

/// <summary>One trained vector's AVF figures.</summary>
/// <param name="Name">The vector's parameter name (e.g. <c>bert.encoder.layer.3.attention.self.query.sigma</c>).</param>
/// <param name="Layer">The transformer block index.</param>
/// <param name="Row">The row label: <c>sigma_q</c>, <c>b_q</c>, …, <c>b_f2</c>.</param>
/// <param name="Length">dim(v).</param>
/// <param name="Strength">The training strength <c>S_v = ‖v₀ − v‖₁ / dim(v)</c> now.</param>
/// <param name="Smoothed">The smoothed strength <c>S'_v</c> of the last AVF step.</param>
/// <param name="Frozen">Whether AVF holds the vector frozen now.</param>
internal sealed record AvfVectorFigures(string Name, int Layer, string Row, long Length, double Strength, double Smoothed, bool Frozen);

/// <summary>
/// The AVF training-strength matrix, as the paper's Figure 3: rows are vector types (σ and b of q, k, v, o, f1,
/// f2), columns are layers, each cell the training strength of that vector.
/// </summary>
internal sealed partial class AvfStrengthMatrix
{
    /// <summary>The row order: σ and b of each module in the paper's order.</summary>
    public static IReadOnlyList<string> RowOrder { get; } =
        ["sigma_q", "b_q", "sigma_k", "b_k", "sigma_v", "b_v", "sigma_o", "b_o", "sigma_f1", "b_f1", "sigma_f2", "b_f2"];

    /// <summary>Builds the matrix from per-vector figures.</summary>
    /// <param name="vectors">The figures.</param>
    /// <param name="step">The step they were taken at.</param>
    public AvfStrengthMatrix(IReadOnlyList<AvfVectorFigures> vectors, long step)
    {
        Vectors = vectors;
        Step = step;
        Layers = vectors.Count == 0 ? 0 : vectors.Max(v => v.Layer) + 1;
        Rows = RowOrder.Where(r => vectors.Any(v => v.Row == r)).ToList();
    }

    /// <summary>Every vector, in the scheduler's order.</summary>
    public IReadOnlyList<AvfVectorFigures> Vectors { get; }

    /// <summary>The optimizer step the figures were taken at.</summary>
    public long Step { get; }

    /// <summary>Number of layer columns.</summary>
    public int Layers { get; }

    /// <summary>The rows that have at least one vector, in <see cref="RowOrder"/>.</summary>
    public IReadOnlyList<string> Rows { get; }

    /// <summary>The figures of the vector at (<paramref name="row"/>, <paramref name="layer"/>), or <c>null</c>.</summary>
    /// <param name="row">A row label.</param>
    /// <param name="layer">A layer index.</param>
    /// <returns>The vector, if the variant trains it.</returns>
    public AvfVectorFigures? Cell(string row, int layer) => Vectors.FirstOrDefault(v => v.Row == row && v.Layer == layer);

    /// <summary>Reads the scheduler's vectors, naming each by its layer's role.</summary>
    /// <param name="scheduler">The AVF scheduler (or a tracking-only one for variants without AVF).</param>
    /// <param name="layers">The adapted layers from the surgery report (names and roles).</param>
    /// <returns>The matrix.</returns>
    public static AvfStrengthMatrix From(AvfScheduler scheduler, IReadOnlyList<AdaptedLayerInfo> layers)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(layers);
        var roles = layers.ToDictionary(l => l.Name, l => l.Role, StringComparer.Ordinal);
        IReadOnlyList<double> strengths = scheduler.TrainingStrength();
        var figures = new List<AvfVectorFigures>();
        for (int i = 0; i < scheduler.Vectors.Count; i++)
        {
            AvfVector v = scheduler.Vectors[i];
            string module = roles.TryGetValue(v.LayerName, out LayerRole role) ? RoleSuffix(role) : "other";
            string kind = v.Kind == AvfVectorKind.Sigma ? "sigma" : "b";
            figures.Add(new AvfVectorFigures(v.Name, LayerIndex(v.LayerName), $"{kind}_{module}", v.Length, strengths[i], v.SmoothedStrength, v.IsFrozen));
        }

        return new AvfStrengthMatrix(figures, scheduler.StepCount);
    }

    /// <summary>The matrix as CSV: a header <c>vector,layer_0,…</c>, one row per vector type, empty cells where nothing trains.</summary>
    /// <returns>The CSV text.</returns>
    public string ToMatrixCsv()
    {
        var text = new StringBuilder();
        text.Append("vector");
        for (int l = 0; l < Layers; l++)
        {
            text.Append(CultureInfo.InvariantCulture, $",layer_{l}");
        }

        text.Append('\n');
        foreach (string row in Rows)
        {
            text.Append(row);
            for (int l = 0; l < Layers; l++)
            {
                text.Append(',');
                if (Cell(row, l) is { } cell)
                {
                    text.Append(cell.Strength.ToString("R", CultureInfo.InvariantCulture));
                }
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    /// <summary>One CSV line per vector: name, layer, type, length, strength, smoothed strength, frozen.</summary>
    /// <returns>The CSV text.</returns>
    public string ToVectorsCsv()
    {
        var text = new StringBuilder("name,layer,vector,length,training_strength,smoothed_strength,frozen\n");
        foreach (AvfVectorFigures v in Vectors)
        {
            text.Append(CultureInfo.InvariantCulture, $"{v.Name},{v.Layer},{v.Row},{v.Length},{v.Strength:R},{v.Smoothed:R},{(v.Frozen ? "true" : "false")}\n");
        }

        return text.ToString();
    }

    /// <summary>The block index in a name like <c>bert.encoder.layer.3.attention.self.query</c> (0 when it has none).</summary>
    /// <param name="layerName">A module name.</param>
    /// <returns>The index.</returns>
    public static int LayerIndex(string layerName)
    {
        Match m = LayerNumber().Match(layerName);
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>The paper's short name of a role: q, k, v, o, f1, f2.</summary>
    /// <param name="role">The role.</param>
    /// <returns>The short name.</returns>
    public static string RoleSuffix(LayerRole role) => role switch
    {
        LayerRole.Query => "q",
        LayerRole.Key => "k",
        LayerRole.Value => "v",
        LayerRole.AttentionOutput => "o",
        LayerRole.FeedForward1 => "f1",
        LayerRole.FeedForward2 => "f2",
        _ => "other",
    };

    [GeneratedRegex(@"(?:^|\.)layer\.(\d+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex LayerNumber();
}
