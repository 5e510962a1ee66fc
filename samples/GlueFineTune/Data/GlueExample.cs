namespace GlueFineTune.Data;

/// <summary>One labelled GLUE example.</summary>
/// <param name="First">The first (or only) sentence.</param>
/// <param name="Second">The second sentence of a pair task, or <see langword="null"/> for single-sentence tasks.</param>
/// <param name="Label">The class id for classification tasks (index into <see cref="GlueTask.LabelNames"/>); 0 for regression.</param>
/// <param name="Score">The regression target for STS-B (0–5); for classification tasks the class id as a float.</param>
/// <param name="LineNumber">1-based line of the example in its source file (0 for built-in data).</param>
internal sealed record GlueExample(string First, string? Second, int Label, float Score, int LineNumber = 0)
{
    /// <summary>A classification example (its <see cref="Score"/> is the label id).</summary>
    /// <param name="first">First sentence.</param>
    /// <param name="second">Second sentence or <see langword="null"/>.</param>
    /// <param name="label">Class id.</param>
    /// <param name="lineNumber">Source line.</param>
    /// <returns>The example.</returns>
    public static GlueExample Classification(string first, string? second, int label, int lineNumber = 0) =>
        new(first, second, label, label, lineNumber);

    /// <summary>A regression example (its <see cref="Label"/> is 0).</summary>
    /// <param name="first">First sentence.</param>
    /// <param name="second">Second sentence.</param>
    /// <param name="score">Regression target.</param>
    /// <param name="lineNumber">Source line.</param>
    /// <returns>The example.</returns>
    public static GlueExample Regression(string first, string? second, float score, int lineNumber = 0) =>
        new(first, second, 0, score, lineNumber);
}
