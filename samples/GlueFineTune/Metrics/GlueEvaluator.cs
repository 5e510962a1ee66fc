using GlueFineTune.Data;

namespace GlueFineTune.Metrics;

/// <summary>Computes a GLUE task's metrics (MRPC/QQP: accuracy and F1; STS-B: Pearson and Spearman; CoLA: MCC; others: accuracy).</summary>
internal static class GlueEvaluator
{
    /// <summary>Scores class predictions of a classification task.</summary>
    /// <param name="task">A classification task.</param>
    /// <param name="predicted">Predicted class ids (arg-max of the logits).</param>
    /// <param name="gold">Gold class ids.</param>
    /// <returns>The task's metrics, main metric first.</returns>
    public static TaskEvaluation EvaluateClassification(GlueTask task, IReadOnlyList<int> predicted, IReadOnlyList<int> gold)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task.IsRegression)
        {
            throw new ArgumentException(
                $"{task.Name} is a regression task; score it with {nameof(EvaluateRegression)} and predicted scores.", nameof(task));
        }

        ClassificationMetrics.CheckPaired(predicted, gold);
        var values = task.Metrics.SelectMany(metric => metric switch
        {
            GlueMetric.Accuracy => new[] { new MetricValue(metric, ClassificationMetrics.Accuracy(predicted, gold)) },
            GlueMetric.F1 => new[] { new MetricValue(metric, ClassificationMetrics.F1(predicted, gold)) },
            GlueMetric.MatthewsCorrelation => new[] { new MetricValue(metric, ClassificationMetrics.MatthewsCorrelation(predicted, gold)) },
            GlueMetric.MacroF1 => new[] { new MetricValue(metric, Enumerable.Range(0, task.LabelNames.Count).Average(c => ClassificationMetrics.F1(predicted, gold, c))) },
            GlueMetric.ClassF1 => task.LabelNames.Select((label, c) => new MetricValue(metric, ClassificationMetrics.F1(predicted, gold, c), label)).ToArray(),
            _ => throw new InvalidOperationException($"{task.Name} lists {metric.Name()}, which needs scores, not classes."),
        });
        return new TaskEvaluation(task.Name, [.. values], gold.Count);
    }

    /// <summary>Scores predicted values of a regression task (STS-B).</summary>
    /// <param name="task">A regression task.</param>
    /// <param name="predicted">Predicted scores.</param>
    /// <param name="gold">Gold scores.</param>
    /// <returns>The task's metrics, main metric first.</returns>
    public static TaskEvaluation EvaluateRegression(GlueTask task, IReadOnlyList<double> predicted, IReadOnlyList<double> gold)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (!task.IsRegression)
        {
            throw new ArgumentException(
                $"{task.Name} is a classification task; score it with {nameof(EvaluateClassification)} and predicted class ids.", nameof(task));
        }

        ClassificationMetrics.CheckPaired(predicted, gold);
        var values = task.Metrics.Select(metric => new MetricValue(metric, metric switch
        {
            GlueMetric.Pearson => CorrelationMetrics.Pearson(predicted, gold),
            GlueMetric.Spearman => CorrelationMetrics.Spearman(predicted, gold),
            _ => throw new InvalidOperationException($"{task.Name} lists {metric.Name()}, which needs classes, not scores."),
        }));
        return new TaskEvaluation(task.Name, [.. values], gold.Count);
    }

    /// <summary>
    /// Scores predictions against examples: for classification tasks <paramref name="predictions"/> are class
    /// ids (compared with <see cref="GlueExample.Label"/>); for regression they are scores (compared with
    /// <see cref="GlueExample.Score"/>).
    /// </summary>
    /// <param name="task">The task.</param>
    /// <param name="examples">The evaluated examples.</param>
    /// <param name="predictions">One prediction per example.</param>
    /// <returns>The task's metrics, main metric first.</returns>
    public static TaskEvaluation Evaluate(GlueTask task, IReadOnlyList<GlueExample> examples, IReadOnlyList<double> predictions)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predictions);
        if (task.IsRegression)
        {
            return EvaluateRegression(task, predictions, [.. examples.Select(e => (double)e.Score)]);
        }

        int[] classes = new int[predictions.Count];
        for (int i = 0; i < classes.Length; i++)
        {
            double p = predictions[i];
            if (p != Math.Floor(p) || p < 0 || p >= task.NumLabels)
            {
                throw new ArgumentException(
                    $"prediction {i} is {p}, not a class id of {task.Name} (0..{task.NumLabels - 1}); pass the arg-max of the logits.",
                    nameof(predictions));
            }

            classes[i] = (int)p;
        }

        return EvaluateClassification(task, classes, [.. examples.Select(e => e.Label)]);
    }
}
