using System.Text;
using GlueFineTune.Training;
using VectorFit.Adapters;
using VectorFit.Serialization;

namespace GlueFineTune.Outputs;

/// <summary>The files a finished (or interrupted) run leaves in its output folder.</summary>
/// <param name="Adapter">The adapter (library format).</param>
/// <param name="Metrics"><c>metrics.json</c>.</param>
/// <param name="StrengthMatrix">The AVF training-strength matrix (CSV, rows = vector types, columns = layers).</param>
/// <param name="StrengthVectors">The same figures, one line per vector (CSV).</param>
/// <param name="HeatMap">The SVG heat map.</param>
internal sealed record RunOutputs(string Adapter, string Metrics, string StrengthMatrix, string StrengthVectors, string HeatMap)
{
    /// <summary>The adapter's file name.</summary>
    public const string AdapterFileName = "adapter.safetensors";

    /// <summary>Writes the adapter and the AVF report of <paramref name="session"/>.</summary>
    /// <param name="session">The trained session.</param>
    /// <returns>The paths written.</returns>
    public static RunOutputs Write(TrainingSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        string folder = session.Options.OutputDirectory;
        Directory.CreateDirectory(folder);
        var outputs = new RunOutputs(
            Path.Combine(folder, AdapterFileName),
            Path.Combine(folder, MetricsLog.FileName),
            Path.Combine(folder, "avf_strength.csv"),
            Path.Combine(folder, "avf_vectors.csv"),
            Path.Combine(folder, "avf_strength.svg"));

        VectorFitAdapter.Save(session.Model, session.Surgery, outputs.Adapter, session.Avf.Options.Enabled ? session.Avf.Options : null);
        AvfStrengthMatrix matrix = AvfStrengthMatrix.From(session.Avf, session.Surgery.Layers);
        AtomicFile.Write(outputs.StrengthMatrix, s => s.Write(Encoding.UTF8.GetBytes(matrix.ToMatrixCsv())));
        AtomicFile.Write(outputs.StrengthVectors, s => s.Write(Encoding.UTF8.GetBytes(matrix.ToVectorsCsv())));
        string title = $"AVF training strength — {session.Options.Task.Name}, {session.Options.MethodDisplay}";
        MetricsLog? log = File.Exists(outputs.Metrics) ? MetricsLog.FromJson(File.ReadAllText(outputs.Metrics)) : null;
        AtomicFile.Write(outputs.HeatMap, s => s.Write(Encoding.UTF8.GetBytes(HeatMapSvg.Render(matrix, title, log?.Epochs, log?.MainMetric))));
        return outputs;
    }

    /// <summary>The paths, one per line, for the console.</summary>
    /// <returns>The lines.</returns>
    public IEnumerable<string> Describe()
    {
        yield return $"  adapter            {Adapter}";
        yield return $"  metrics per epoch  {Metrics}";
        yield return $"  AVF strength (CSV) {StrengthMatrix}";
        yield return $"  per vector (CSV)   {StrengthVectors}";
        yield return $"  heat map (SVG)     {HeatMap} (AVF strength per vector type × layer, with loss and dev metric per epoch)";
    }
}
