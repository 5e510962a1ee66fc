using System.Globalization;
using GlueFineTune.Data;

namespace GlueFineTune.Metrics;

/// <summary>The majority-class baseline: always predict the most frequent training class, scored on dev like the model.</summary>
/// <param name="Label">The majority class's name.</param>
/// <param name="Evaluation">The baseline's dev metrics.</param>
internal sealed record MajorityBaseline(string Label, TaskEvaluation Evaluation)
{
    /// <summary>Scores the baseline; <c>null</c> for regression.</summary>
    /// <param name="task">The task.</param>
    /// <param name="train">The training examples (they choose the class).</param>
    /// <param name="dev">The dev examples (they are scored).</param>
    /// <returns>The baseline, or <c>null</c> for a regression task.</returns>
    public static MajorityBaseline? Compute(GlueTask task, IReadOnlyList<GlueExample> train, IReadOnlyList<GlueExample> dev)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(dev);
        if (task.IsRegression || train.Count == 0 || dev.Count == 0)
        {
            return null;
        }

        int majority = train.GroupBy(e => e.Label).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        TaskEvaluation evaluation = GlueEvaluator.EvaluateClassification(task, [.. dev.Select(_ => majority)], [.. dev.Select(e => e.Label)]);
        return new MajorityBaseline(task.LabelNames[majority], evaluation);
    }

    /// <summary>A line for the log.</summary>
    /// <returns>The description.</returns>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"majority-class baseline (always \"{Label}\", the most frequent training class): dev {string.Join(", ", Evaluation.Values.Select(v => $"{v.Name} {v.Value:F4}"))}");

    /// <summary>The model's dev figures beside the baseline's: accuracy, macro F1 and F1 of every class.</summary>
    /// <param name="model">The model's dev evaluation.</param>
    /// <returns>The line.</returns>
    public string Compare(TaskEvaluation model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var baseline = Evaluation.ToDictionary();
        var shown = model.Values.Where(v => v.Metric is GlueMetric.Accuracy or GlueMetric.MacroF1 or GlueMetric.ClassF1 && baseline.ContainsKey(v.Name));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"dev {string.Join(", ", shown.Select(v => $"{v.Name} {v.Value:F3} (majority class {baseline[v.Name]:F3})"))}");
    }
}
