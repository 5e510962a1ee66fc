using System.Globalization;
using System.Net;
using System.Text;

namespace GlueFineTune.Outputs;

/// <summary>
/// Draws an <see cref="AvfStrengthMatrix"/> as an SVG heat map like the paper's Figure 3: one row per vector
/// type (σ_q, b_q, …, b_f2), one column per layer, darker for larger training strength; frozen vectors are
/// outlined, untrained cells are grey. Beside it, when the run's epochs are given, the training curves: train
/// loss and the dev metric per epoch.
/// </summary>
internal static class HeatMapSvg
{
    private const int CellWidth = 44;
    private const int CellHeight = 24;
    private const int LeftMargin = 70;
    private const int TopMargin = 58;
    private const int LegendHeight = 56;
    private const int ChartGap = 60;
    private const int ChartWidth = 300;
    private const int ChartHeight = 180;
    private const string LossColour = "#d95f02";
    private const string DevColour = "#1b6ac9";

    /// <summary>Renders the SVG document.</summary>
    /// <param name="matrix">The figures.</param>
    /// <param name="title">The title line (task, variant).</param>
    /// <returns>SVG text.</returns>
    /// <param name="epochs">Epochs of <c>metrics.json</c> for the training-curve panel beside the heat map; <c>null</c> or empty for none.</param>
    /// <param name="mainMetric">The dev metric to plot (e.g. <c>accuracy</c>).</param>
    public static string Render(AvfStrengthMatrix matrix, string title, IReadOnlyList<EpochMetrics>? epochs = null, string? mainMetric = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int columns = Math.Max(1, matrix.Layers);
        int mapWidth = LeftMargin + (columns * CellWidth) + 20;
        bool curves = epochs is { Count: > 0 } && mainMetric is not null;
        int width = curves ? Math.Max(mapWidth + ChartGap + ChartWidth + 60, 600) : Math.Max(mapWidth, 600); // room for the title lines
        int height = Math.Max(TopMargin + (matrix.Rows.Count * CellHeight) + LegendHeight, curves ? TopMargin + 8 + ChartHeight + 60 : 0);
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
        if (curves)
        {
            AppendCurves(svg, epochs!, mainMetric!, mapWidth + ChartGap, TopMargin + 8);
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Train loss (left axis) and the dev metric (right axis) per epoch, as lines with markers.</summary>
    private static void AppendCurves(StringBuilder svg, IReadOnlyList<EpochMetrics> epochs, string metric, int left, int top)
    {
        var points = epochs.OrderBy(e => e.Epoch).ToList();
        double lossMax = Math.Max(1e-9, points.Max(e => double.IsFinite(e.TrainLoss) ? e.TrainLoss : 0)) * 1.1;
        var devValues = points.Select(e => e.Dev.TryGetValue(metric, out double v) ? v : double.NaN).ToList();
        double devMin = Math.Min(0, devValues.Where(double.IsFinite).DefaultIfEmpty(0).Min());
        double devMax = Math.Max(1, devValues.Where(double.IsFinite).DefaultIfEmpty(1).Max());
        int lastEpoch = points[^1].Epoch;
        int firstEpoch = points[0].Epoch;
        double X(int epoch) => left + (lastEpoch == firstEpoch ? ChartWidth / 2.0 : (epoch - firstEpoch) * ChartWidth / (double)(lastEpoch - firstEpoch));
        double YLoss(double v) => top + ChartHeight - (v / lossMax * ChartHeight);
        double YDev(double v) => top + ChartHeight - ((v - devMin) / (devMax - devMin) * ChartHeight);
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        Append(svg, $"<text x=\"{left}\" y=\"{top - 8}\" font-weight=\"bold\">per epoch: train loss and dev {Escape(metric)}</text>");
        Append(svg, $"<rect x=\"{left}\" y=\"{top}\" width=\"{ChartWidth}\" height=\"{ChartHeight}\" fill=\"none\" stroke=\"#999999\"/>");
        for (int i = 0; i <= 4; i++)
        {
            double y = top + (ChartHeight * i / 4.0);
            Append(svg, $"<line x1=\"{left}\" x2=\"{left + ChartWidth}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#eeeeee\"/>");
            Append(svg, string.Create(CultureInfo.InvariantCulture, $"<text x=\"{left - 4}\" y=\"{F(y + 4)}\" text-anchor=\"end\" fill=\"{LossColour}\">{lossMax * (4 - i) / 4:G3}</text>"));
            Append(svg, string.Create(CultureInfo.InvariantCulture, $"<text x=\"{left + ChartWidth + 4}\" y=\"{F(y + 4)}\" fill=\"{DevColour}\">{devMin + ((devMax - devMin) * (4 - i) / 4):G3}</text>"));
        }

        foreach (EpochMetrics e in points)
        {
            Append(svg, $"<text x=\"{F(X(e.Epoch))}\" y=\"{top + ChartHeight + 14}\" text-anchor=\"middle\">{e.Epoch}</text>");
        }

        Append(svg, $"<text x=\"{left + (ChartWidth / 2)}\" y=\"{top + ChartHeight + 28}\" text-anchor=\"middle\">epoch</text>");
        AppendSeries(svg, points.Select(e => (X(e.Epoch), YLoss(e.TrainLoss), e.TrainLoss)).ToList(), LossColour, "train loss");
        AppendSeries(svg, points.Select((e, i) => (X(e.Epoch), YDev(devValues[i]), devValues[i])).ToList(), DevColour, $"dev {metric}");
        Append(svg, $"<text x=\"{left}\" y=\"{top + ChartHeight + 46}\" fill=\"{LossColour}\">● train loss (left axis)</text>");
        Append(svg, $"<text x=\"{left + (ChartWidth / 2)}\" y=\"{top + ChartHeight + 46}\" fill=\"{DevColour}\">● dev {Escape(metric)} (right axis)</text>");
    }

    private static void AppendSeries(StringBuilder svg, IReadOnlyList<(double X, double Y, double Value)> points, string colour, string name)
    {
        var finite = points.Where(p => double.IsFinite(p.Y)).ToList();
        if (finite.Count > 1)
        {
            string path = string.Join(" ", finite.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:0.#},{p.Y:0.#}")));
            Append(svg, $"<polyline points=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>");
        }

        foreach (var p in finite)
        {
            Append(svg, string.Create(CultureInfo.InvariantCulture, $"<circle cx=\"{p.X:0.#}\" cy=\"{p.Y:0.#}\" r=\"3.5\" fill=\"{colour}\"><title>{Escape(name)}: {p.Value:G4}</title></circle>"));
        }
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
