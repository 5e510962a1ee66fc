using System.Text;
using GlueFineTune.Training;
using VectorFit.Adapters;
using VectorFit.Serialization;

namespace GlueFineTune.Outputs;

/// <summary>The files a finished (or interrupted) run leaves in its output folder.</summary>
/// <param name="Weights">
/// What training produced: the adapter (VectorFit, SVFT: the trained vectors and the head), or, for <c>--method full</c>, the
/// fine-tuned weights (every weight of the encoder and the head), both in the library's adapter format.
/// </param>
/// <param name="Metrics"><c>metrics.json</c>.</param>
/// <param name="StrengthMatrix">The AVF training-strength matrix (CSV, rows = vector types, columns = layers); <c>null</c> without VectorFit vectors.</param>
/// <param name="StrengthVectors">The same figures, one line per vector (CSV); <c>null</c> without VectorFit vectors.</param>
/// <param name="HeatMap">The SVG heat map; <c>null</c> without VectorFit vectors.</param>
/// <param name="FullFineTuning">Whether <see cref="Weights"/> holds every weight rather than an adapter.</param>
internal sealed record RunOutputs(string Weights, string Metrics, string? StrengthMatrix, string? StrengthVectors, string? HeatMap, bool FullFineTuning)
{
    /// <summary>The adapter's file name (VectorFit, SVFT).</summary>
    public const string AdapterFileName = "adapter.safetensors";

    /// <summary>The file name of full fine-tuning's weights.</summary>
    public const string FineTunedFileName = "finetuned.safetensors";

    /// <summary>Writes the adapter (or full fine-tuning's weights) and, for VectorFit, the AVF report of <paramref name="session"/>.</summary>
    /// <param name="session">The trained session.</param>
    /// <returns>The paths written.</returns>
    public static RunOutputs Write(TrainingSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        string folder = session.Options.OutputDirectory;
        Directory.CreateDirectory(folder);
        bool full = session.Options.Method == FineTuningMethod.Full;
        bool avfReport = session.Avf.Vectors.Count > 0; // VectorFit's σ and b; SVFT and full fine-tuning have none to report
        var outputs = new RunOutputs(
            Path.Combine(folder, full ? FineTunedFileName : AdapterFileName),
            Path.Combine(folder, MetricsLog.FileName),
            avfReport ? Path.Combine(folder, "avf_strength.csv") : null,
            avfReport ? Path.Combine(folder, "avf_vectors.csv") : null,
            avfReport ? Path.Combine(folder, "avf_strength.svg") : null,
            full);

        if (session.Avf.Options.Enabled)
        {
            // The adapter records how many AVF steps ran; the library returns its warning rather than printing it.
            var saved = VectorFitAdapter.Save(session.Model, session.Surgery, outputs.Weights, session.Avf);
            if (saved.Warning is { } warning)
            {
                Console.Error.WriteLine($"warning: {warning}");
            }
        }
        else
        {
            VectorFitAdapter.Save(session.Model, session.Surgery, outputs.Weights);
        }
        if (!full)
        {
            // The class names beside the adapter, for predict (the adapter file holds tensors only).
            MultiTask.AdapterLabels.Write(outputs.Weights, session.Options.Task.LabelNames);
        }

        if (outputs is { StrengthMatrix: { } matrixPath, StrengthVectors: { } vectorsPath, HeatMap: { } heatMapPath })
        {
            AvfStrengthMatrix matrix = AvfStrengthMatrix.From(session.Avf, session.Surgery.Layers);
            AtomicFile.Write(matrixPath, s => s.Write(Encoding.UTF8.GetBytes(matrix.ToMatrixCsv())));
            AtomicFile.Write(vectorsPath, s => s.Write(Encoding.UTF8.GetBytes(matrix.ToVectorsCsv())));
            string title = $"AVF training strength — {session.Options.Task.Name}, {session.Options.MethodDisplay}";
            MetricsLog? log = File.Exists(outputs.Metrics) ? MetricsLog.FromJson(File.ReadAllText(outputs.Metrics)) : null;
            AtomicFile.Write(heatMapPath, s => s.Write(Encoding.UTF8.GetBytes(HeatMapSvg.Render(matrix, title, log?.Epochs, log?.MainMetric))));
        }

        return outputs;
    }

    /// <summary>The paths, one per line, for the console.</summary>
    /// <returns>The lines.</returns>
    public IEnumerable<string> Describe()
    {
        yield return FullFineTuning
            ? $"  fine-tuned weights {Weights} (every weight of the encoder and the head)"
            : $"  adapter            {Weights}";
        yield return $"  metrics per epoch  {Metrics}";
        if (StrengthMatrix is not null)
        {
            yield return $"  AVF strength (CSV) {StrengthMatrix}";
            yield return $"  per vector (CSV)   {StrengthVectors}";
            yield return $"  heat map (SVG)     {HeatMap} (AVF strength per vector type × layer, with loss and dev metric per epoch)";
        }
    }
}
