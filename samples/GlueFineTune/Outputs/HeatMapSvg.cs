using System.Globalization;
using System.Net;
using System.Text;

namespace GlueFineTune.Outputs;

/// <summary>
/// Draws an <see cref="AvfStrengthMatrix"/> as an SVG heat map like the paper's Figure 3: one row per vector
/// type (σ_q, b_q, …, b_f2), one column per layer, darker for larger training strength; frozen vectors are
/// outlined, untrained cells are grey.
/// </summary>
internal static class HeatMapSvg
{
    private const int CellWidth = 44;
    private const int CellHeight = 24;
    private const int LeftMargin = 70;
    private const int TopMargin = 58;
    private const int LegendHeight = 56;

    /// <summary>Renders the SVG document.</summary>
    /// <param name="matrix">The figures.</param>
    /// <param name="title">The title line (task, variant).</param>
    /// <returns>SVG text.</returns>
    public static string Render(AvfStrengthMatrix matrix, string title)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int columns = Math.Max(1, matrix.Layers);
        int width = Math.Max(LeftMargin + (columns * CellWidth) + 20, 600); // room for the title lines
        int height = TopMargin + (matrix.Rows.Count * CellHeight) + LegendHeight;
        double max = matrix.Vectors.Count == 0 ? 0 : matrix.Vectors.Max(v => v.Strength);
        double min = matrix.Vectors.Count == 0 ? 0 : matrix.Vectors.Min(v => v.Strength);

        var svg = new StringBuilder();
        Append(svg, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">");
        Append(svg, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        Append(svg, $"<text x=\"{LeftMargin}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{Escape(title)}</text>");
        Append(svg, $"<text x=\"{LeftMargin}\" y=\"34\">training strength S_v = |v0 - v|_1 / dim(v) at step {matrix.Step}; outlined: frozen by AVF</text>");
        for (int l = 0; l < matrix.Layers; l++)
        {
            Append(svg, $"<text x=\"{LeftMargin + (l * CellWidth) + (CellWidth / 2)}\" y=\"{TopMargin - 6}\" text-anchor=\"middle\">L{l}</text>");
        }

        for (int r = 0; r < matrix.Rows.Count; r++)
        {
            string row = matrix.Rows[r];
            int y = TopMargin + (r * CellHeight);
            Append(svg, $"<text x=\"{LeftMargin - 8}\" y=\"{y + (CellHeight / 2) + 4}\" text-anchor=\"end\">{Escape(Label(row))}</text>");
            for (int l = 0; l < matrix.Layers; l++)
            {
                int x = LeftMargin + (l * CellWidth);
                AvfVectorFigures? cell = matrix.Cell(row, l);
                string fill = cell is null ? "#dddddd" : Colour(Normalise(cell.Strength, min, max));
                string stroke = cell is { Frozen: true } ? " stroke=\"#d62728\" stroke-width=\"2.5\"" : " stroke=\"white\" stroke-width=\"1\"";
                string tooltip = cell is null
                    ? $"{Label(row)} layer {l}: not trained"
                    : string.Create(CultureInfo.InvariantCulture, $"{cell.Name}: S={cell.Strength:G4}, S'={cell.Smoothed:G4}{(cell.Frozen ? ", frozen" : string.Empty)}");
                Append(svg, $"<rect x=\"{x}\" y=\"{y}\" width=\"{CellWidth}\" height=\"{CellHeight}\" fill=\"{fill}\"{stroke}><title>{Escape(tooltip)}</title></rect>");
            }
        }

        int legendY = TopMargin + (matrix.Rows.Count * CellHeight) + 18;
        const int Steps = 10;
        for (int i = 0; i < Steps; i++)
        {
            Append(svg, $"<rect x=\"{LeftMargin + (i * 16)}\" y=\"{legendY}\" width=\"16\" height=\"10\" fill=\"{Colour(i / (double)(Steps - 1))}\"/>");
        }

        Append(svg, string.Create(CultureInfo.InvariantCulture, $"<text x=\"{LeftMargin}\" y=\"{legendY + 24}\">{min:G3}</text>"));
        Append(svg, string.Create(CultureInfo.InvariantCulture, $"<text x=\"{LeftMargin + (Steps * 16)}\" y=\"{legendY + 24}\" text-anchor=\"end\">{max:G3}</text>"));
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>σ_q for sigma_q, b_f1 for b_f1.</summary>
    /// <param name="row">A row label.</param>
    /// <returns>The display label.</returns>
    public static string Label(string row) => row.StartsWith("sigma_", StringComparison.Ordinal) ? "σ_" + row["sigma_".Length..] : row;

    /// <summary>A white → dark-blue ramp.</summary>
    /// <param name="t">0 … 1.</param>
    /// <returns>A <c>#rrggbb</c> colour.</returns>
    public static string Colour(double t)
    {
        t = double.IsFinite(t) ? Math.Clamp(t, 0, 1) : 0;
        (int r, int g, int b) low = (247, 251, 255);
        (int r, int g, int b) high = (8, 48, 107);
        int Mix(int a, int z) => (int)Math.Round(a + ((z - a) * t));
        return string.Create(CultureInfo.InvariantCulture, $"#{Mix(low.r, high.r):x2}{Mix(low.g, high.g):x2}{Mix(low.b, high.b):x2}");
    }

    private static double Normalise(double value, double min, double max) => max > min ? (value - min) / (max - min) : 0.5;

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static void Append(StringBuilder svg, string line) => svg.Append(line).Append('\n');
}
