using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GlueFineTune.Outputs;

/// <summary>One epoch's line in <c>metrics.json</c>.</summary>
internal sealed record EpochMetrics
{
    /// <summary>The epoch (1-based).</summary>
    public required int Epoch { get; init; }

    /// <summary>Optimizer steps done at its end.</summary>
    public required long Step { get; init; }

    /// <summary>Mean training loss over the epoch's steps (those run in this process after a resume).</summary>
    public required double TrainLoss { get; init; }

    /// <summary>The learning rate of the epoch's last step.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Dev metrics by name (main metric first).</summary>
    public required Dictionary<string, double> Dev { get; init; }

    /// <summary>Vectors AVF held frozen at the epoch's end.</summary>
    public required IReadOnlyList<string> FrozenVectors { get; init; }

    /// <summary>Wall-clock seconds since the run (or the resumed run) started.</summary>
    public required double ElapsedSeconds { get; init; }
}

/// <summary>The content of <c>metrics.json</c>: the run's settings, one entry per epoch, and the best epoch by the main metric.</summary>
internal sealed record MetricsLog
{
    /// <summary>The file name in the output folder.</summary>
    public const string FileName = "metrics.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // σ, β and quotes stay readable; the file is not embedded in HTML
    };

    /// <summary>The GLUE task.</summary>
    public required string Task { get; init; }

    /// <summary>The VectorFit variant's command-line name; <c>null</c> for the other methods, which have none.</summary>
    public string? Variant { get; init; }

    /// <summary>The method's command-line name (vectorfit, svft, full).</summary>
    public string Method { get; init; } = "vectorfit";

    /// <summary>The checkpoint folder.</summary>
    public required string Model { get; init; }

    /// <summary>The main metric's name.</summary>
    public required string MainMetric { get; init; }

    /// <summary>Trained vector values (the paper's parameter count).</summary>
    public required long AdapterParameters { get; init; }

    /// <summary>All trained values, the head included.</summary>
    public required long TrainableParameters { get; init; }

    /// <summary>The run's settings line.</summary>
    public required string Settings { get; init; }

    /// <summary>One entry per finished epoch.</summary>
    public List<EpochMetrics> Epochs { get; init; } = [];

    /// <summary>The epoch with the highest main metric, or <c>null</c> before the first.</summary>
    public EpochMetrics? Best => Epochs.Count == 0 ? null : Epochs.MaxBy(e => e.Dev.TryGetValue(MainMetric, out double v) ? v : double.NegativeInfinity);

    /// <summary>Serialises the log.</summary>
    /// <returns>Indented JSON with snake_case keys.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a log written by <see cref="ToJson"/>.</summary>
    /// <param name="json">The text.</param>
    /// <returns>The log.</returns>
    public static MetricsLog FromJson(string json) =>
        JsonSerializer.Deserialize<MetricsLog>(json, Json) ?? throw new InvalidDataException("metrics.json is empty (null).");
}
