using System.Text.Json;
using System.Text.Json.Serialization;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>Everything one <c>model-step</c> run measured for one encoder depth.</summary>
public sealed class DepthResults
{
    /// <summary>Encoder layers.</summary>
    public int Layers { get; init; }

    /// <summary>.NET training-step times in seconds, per method (full, lora, vectorfit; diagnostics add vectorfit-factored / vectorfit-materialized).</summary>
    public Dictionary<string, List<double>> DotnetSteps { get; } = new();

    /// <summary>PyTorch training-step times in seconds, per method.</summary>
    public Dictionary<string, List<double>> PythonSteps { get; } = new();

    /// <summary>.NET trainable state per method.</summary>
    public Dictionary<string, TrainableState> DotnetState { get; } = new();

    /// <summary>PyTorch trainable state per method (step.py's JSON).</summary>
    public Dictionary<string, JsonElement> PythonState { get; } = new();

    /// <summary>.NET one-off setup of VectorFit (ModelSurgery.Apply, all SVDs included), seconds.</summary>
    public double? SetupSeconds { get; set; }

    /// <summary>PyTorch sequential SVD of every adapted weight: float32 and float64, seconds.</summary>
    public double? PythonSvdFloat32 { get; set; }

    /// <summary>See <see cref="PythonSvdFloat32"/>.</summary>
    public double? PythonSvdFloat64 { get; set; }

    /// <summary>Diagnostics: .NET SVD of every adapted weight, by strategy (sequential-float64, parallel2-float64, ...), seconds.</summary>
    public Dictionary<string, double> DotnetSvd { get; } = new();

    /// <summary>.NET no_grad forward times (base, vectorfit-unmerged, base-before-merge... ), seconds.</summary>
    public Dictionary<string, List<double>> DotnetInference { get; } = new();

    /// <summary>PyTorch no_grad forward times, seconds.</summary>
    public Dictionary<string, List<double>> PythonInference { get; } = new();

    /// <summary>.NET peak memory per method, each from its own process.</summary>
    public Dictionary<string, MemoryResult> DotnetMemory { get; } = new();

    /// <summary>PyTorch peak memory per method, each from its own process (step.py --memory).</summary>
    public Dictionary<string, JsonElement> PythonMemory { get; } = new();
}

/// <summary>One <c>model-step</c> run: the machine, the settings, and the figures per depth.</summary>
public sealed class ModelStepResults
{
    /// <summary>When the run started (UTC).</summary>
    public DateTime StartedUtc { get; init; } = DateTime.UtcNow;

    /// <summary>Machine and software facts.</summary>
    public Dictionary<string, string> Environment { get; } = new();

    /// <summary>The options.</summary>
    [JsonIgnore]
    public ModelStepOptions Options { get; init; } = new();

    /// <summary>The 1-, 5- and 15-minute load averages read before each block (a shared machine shows here).</summary>
    public List<string> LoadReadings { get; } = new();

    /// <summary>Per encoder depth.</summary>
    public List<DepthResults> Depths { get; } = new();

    /// <summary>Median of <paramref name="values"/>, or NaN when empty.</summary>
    public static double Median(IReadOnlyList<double>? values)
    {
        if (values is null || values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.OrderBy(v => v).ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
