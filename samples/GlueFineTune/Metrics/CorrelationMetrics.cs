namespace GlueFineTune.Metrics;

/// <summary>Correlation metrics over predicted and gold scores (STS-B).</summary>
internal static class CorrelationMetrics
{
    /// <summary>
    /// Pearson's r: covariance over the product of standard deviations. Returns 0 when undefined (either
    /// series is constant), so the value stays a finite number in <c>metrics.json</c>.
    /// </summary>
    /// <param name="predicted">Predicted scores.</param>
    /// <param name="gold">Gold scores, same length.</param>
    /// <returns>r in [−1, 1].</returns>
    public static double Pearson(IReadOnlyList<double> predicted, IReadOnlyList<double> gold)
    {
        ClassificationMetrics.CheckPaired(predicted, gold);
        RejectNaN(predicted, nameof(predicted));
        RejectNaN(gold, nameof(gold));
        double meanX = predicted.Average();
        double meanY = gold.Average();
        double sxy = 0;
        double sxx = 0;
        double syy = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            double dx = predicted[i] - meanX;
            double dy = gold[i] - meanY;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }

        double denominator = Math.Sqrt(sxx * syy);
        return denominator == 0 ? 0.0 : Math.Clamp(sxy / denominator, -1.0, 1.0);
    }

    /// <summary>Spearman's ρ: Pearson's r of the ranks, tied values sharing their average rank.</summary>
    /// <param name="predicted">Predicted scores.</param>
    /// <param name="gold">Gold scores, same length.</param>
    /// <returns>ρ in [−1, 1].</returns>
    public static double Spearman(IReadOnlyList<double> predicted, IReadOnlyList<double> gold)
    {
        ClassificationMetrics.CheckPaired(predicted, gold);
        return Pearson(AverageRanks(predicted), AverageRanks(gold));
    }

    /// <summary>1-based ranks of <paramref name="values"/> in ascending order; ties get the mean of their ranks.</summary>
    /// <param name="values">The values (no NaN).</param>
    /// <returns>The rank of each value, in input order.</returns>
    public static double[] AverageRanks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        RejectNaN(values, nameof(values));

        int[] order = [.. Enumerable.Range(0, values.Count).OrderBy(i => values[i])];
        var ranks = new double[values.Count];
        int start = 0;
        while (start < order.Length)
        {
            int end = start + 1;
            while (end < order.Length && values[order[end]] == values[order[start]])
            {
                end++;
            }

            double averageRank = (start + 1 + end) / 2.0; // mean of ranks start+1 .. end
            for (int k = start; k < end; k++)
            {
                ranks[order[k]] = averageRank;
            }

            start = end;
        }

        return ranks;
    }

    private static void RejectNaN(IReadOnlyList<double> values, string name)
    {
        for (int i = 0; i < values.Count; i++)
        {
            if (double.IsNaN(values[i]))
            {
                throw new ArgumentException(
                    $"{name}[{i}] is NaN, so no correlation can be computed; the model's outputs diverged (lower the learning rate).",
                    name);
            }
        }
    }
}
