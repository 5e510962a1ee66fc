namespace GlueFineTune.Metrics;

/// <summary>The metrics GLUE reports.</summary>
internal enum GlueMetric
{
    /// <summary>Fraction of correct predictions.</summary>
    Accuracy,

    /// <summary>F1 of the positive class (label 1).</summary>
    F1,

    /// <summary>Matthews correlation coefficient (CoLA).</summary>
    MatthewsCorrelation,

    /// <summary>Pearson correlation (STS-B).</summary>
    Pearson,

    /// <summary>Spearman rank correlation (STS-B).</summary>
    Spearman,

    /// <summary>Unweighted mean of the classes' F1 (custom data).</summary>
    MacroF1,

    /// <summary>F1 of one class against the rest (custom data; the class is <see cref="MetricValue.Label"/>).</summary>
    ClassF1,
}

/// <summary>Stable names of <see cref="GlueMetric"/> values, as written to <c>metrics.json</c>.</summary>
internal static class GlueMetricNames
{
    /// <summary>The snake_case name of <paramref name="metric"/>: <c>accuracy</c>, <c>f1</c>, <c>matthews_correlation</c>, <c>pearson</c>, <c>spearman</c>.</summary>
    /// <param name="metric">The metric.</param>
    /// <returns>Its name.</returns>
    public static string Name(this GlueMetric metric) => metric switch
    {
        GlueMetric.Accuracy => "accuracy",
        GlueMetric.F1 => "f1",
        GlueMetric.MatthewsCorrelation => "matthews_correlation",
        GlueMetric.Pearson => "pearson",
        GlueMetric.Spearman => "spearman",
        GlueMetric.MacroF1 => "macro_f1",
        GlueMetric.ClassF1 => "f1",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "not a GLUE metric."),
    };
}
