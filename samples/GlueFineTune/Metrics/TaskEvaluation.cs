namespace GlueFineTune.Metrics;

/// <summary>One named metric value.</summary>
/// <param name="Metric">The metric.</param>
/// <param name="Value">Its value.</param>
/// <param name="Label">The class a per-class metric (<see cref="GlueMetric.ClassF1"/>) scores; <c>null</c> otherwise.</param>
internal readonly record struct MetricValue(GlueMetric Metric, double Value, string? Label = null)
{
    /// <summary>The metric's name in <c>metrics.json</c> (per-class: <c>f1_LABEL</c>).</summary>
    public string Name => Label is null ? Metric.Name() : $"{Metric.Name()}_{Label}";
}

/// <summary>The metrics of one evaluation of a task, main metric first.</summary>
/// <param name="TaskName">The task (e.g. <c>MRPC</c>).</param>
/// <param name="Values">Every metric of the task, in the task's order (main metric first).</param>
/// <param name="ExampleCount">How many examples were scored.</param>
internal sealed record TaskEvaluation(string TaskName, IReadOnlyList<MetricValue> Values, int ExampleCount)
{
    /// <summary>The metric used for model selection.</summary>
    public GlueMetric MainMetric => Values[0].Metric;

    /// <summary>The value of <see cref="MainMetric"/>.</summary>
    public double MainValue => Values[0].Value;

    /// <summary>The value of <paramref name="metric"/>.</summary>
    /// <param name="metric">A metric of this task.</param>
    /// <returns>Its value.</returns>
    public double this[GlueMetric metric]
    {
        get
        {
            foreach (MetricValue value in Values)
            {
                if (value.Metric == metric)
                {
                    return value.Value;
                }
            }

            throw new KeyNotFoundException(
                $"{TaskName} does not report {metric.Name()}; it reports {string.Join(", ", Values.Select(v => v.Name))}.");
        }
    }

    /// <summary>The metrics as name → value, e.g. for <c>metrics.json</c>.</summary>
    /// <returns>A dictionary keyed by metric name.</returns>
    public Dictionary<string, double> ToDictionary() => Values.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);

    /// <inheritdoc />
    public override string ToString() =>
        $"{TaskName}: " + string.Join(", ", Values.Select(v => $"{v.Name} {v.Value.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)}"));
}
