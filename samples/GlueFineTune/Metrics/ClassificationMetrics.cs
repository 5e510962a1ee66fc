namespace GlueFineTune.Metrics;

/// <summary>Metrics over predicted and gold class ids.</summary>
internal static class ClassificationMetrics
{
    /// <summary>Fraction of positions where the prediction equals the gold label.</summary>
    /// <param name="predicted">Predicted class ids.</param>
    /// <param name="gold">Gold class ids, same length.</param>
    /// <returns>Accuracy in [0, 1].</returns>
    public static double Accuracy(IReadOnlyList<int> predicted, IReadOnlyList<int> gold)
    {
        CheckPaired(predicted, gold);
        int correct = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            if (predicted[i] == gold[i])
            {
                correct++;
            }
        }

        return (double)correct / gold.Count;
    }

    /// <summary>
    /// F1 of <paramref name="positiveClass"/>: 2·TP / (2·TP + FP + FN). Every other class counts as negative.
    /// When there are no true positives the score is 0 (scikit-learn's <c>zero_division=0</c>).
    /// </summary>
    /// <param name="predicted">Predicted class ids.</param>
    /// <param name="gold">Gold class ids, same length.</param>
    /// <param name="positiveClass">The class scored (GLUE: 1).</param>
    /// <returns>F1 in [0, 1].</returns>
    public static double F1(IReadOnlyList<int> predicted, IReadOnlyList<int> gold, int positiveClass = 1)
    {
        CheckPaired(predicted, gold);
        int truePositives = 0;
        int falsePositives = 0;
        int falseNegatives = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            bool p = predicted[i] == positiveClass;
            bool g = gold[i] == positiveClass;
            if (p && g)
            {
                truePositives++;
            }
            else if (p)
            {
                falsePositives++;
            }
            else if (g)
            {
                falseNegatives++;
            }
        }

        return truePositives == 0 ? 0.0 : 2.0 * truePositives / ((2.0 * truePositives) + falsePositives + falseNegatives);
    }

    /// <summary>
    /// Matthews correlation coefficient, in the multi-class form scikit-learn uses (for two classes it is
    /// (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN))). Returns 0 when undefined (a constant prediction or gold).
    /// </summary>
    /// <param name="predicted">Predicted class ids.</param>
    /// <param name="gold">Gold class ids, same length.</param>
    /// <returns>MCC in [−1, 1].</returns>
    public static double MatthewsCorrelation(IReadOnlyList<int> predicted, IReadOnlyList<int> gold)
    {
        CheckPaired(predicted, gold);
        var goldCounts = new Dictionary<int, long>();
        var predictedCounts = new Dictionary<int, long>();
        long correct = 0;
        long total = gold.Count;
        for (int i = 0; i < gold.Count; i++)
        {
            goldCounts[gold[i]] = goldCounts.GetValueOrDefault(gold[i]) + 1;
            predictedCounts[predicted[i]] = predictedCounts.GetValueOrDefault(predicted[i]) + 1;
            if (predicted[i] == gold[i])
            {
                correct++;
            }
        }

        double sumProducts = 0;
        foreach (var (label, count) in goldCounts)
        {
            sumProducts += (double)count * predictedCounts.GetValueOrDefault(label);
        }

        double sumPredictedSquares = predictedCounts.Values.Sum(c => (double)c * c);
        double sumGoldSquares = goldCounts.Values.Sum(c => (double)c * c);
        double s2 = (double)total * total;
        double numerator = (correct * (double)total) - sumProducts;
        double denominator = Math.Sqrt((s2 - sumPredictedSquares) * (s2 - sumGoldSquares));
        return denominator == 0 ? 0.0 : numerator / denominator;
    }

    internal static void CheckPaired<T>(IReadOnlyList<T> predicted, IReadOnlyList<T> gold)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(gold);
        if (predicted.Count != gold.Count)
        {
            throw new ArgumentException(
                $"{predicted.Count} predictions for {gold.Count} gold labels; pass one prediction per example.", nameof(predicted));
        }

        if (gold.Count == 0)
        {
            throw new ArgumentException("no examples to score; evaluate on a non-empty dev set.", nameof(gold));
        }
    }
}
