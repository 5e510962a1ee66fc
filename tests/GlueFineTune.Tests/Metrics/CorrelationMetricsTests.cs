using GlueFineTune.Metrics;

namespace GlueFineTune.Tests.Metrics;

public sealed class CorrelationMetricsTests
{
    // x = [1,2,3,4,5], y = [2,4,5,4,5]; means 3 and 4.
    private static readonly double[] X = [1, 2, 3, 4, 5];
    private static readonly double[] Y = [2, 4, 5, 4, 5];

    [Fact]
    public void Pearson_matches_the_hand_computed_value()
    {
        // dx = [-2,-1,0,1,2], dy = [-2,0,1,0,1]; Σdxdy = 6, Σdx² = 10, Σdy² = 6 -> r = 6 / √60 = 0.774596669...
        CorrelationMetrics.Pearson(X, Y).Should().BeApproximately(6 / Math.Sqrt(60), 1e-12);
        CorrelationMetrics.Pearson(X, Y).Should().BeApproximately(0.7745966692, 1e-9);
    }

    [Fact]
    public void Pearson_is_minus_one_for_a_perfectly_decreasing_relation_and_zero_when_constant()
    {
        CorrelationMetrics.Pearson([1, 2, 3], [30, 20, 10]).Should().BeApproximately(-1.0, 1e-12);
        CorrelationMetrics.Pearson([1, 2, 3], [7, 7, 7]).Should().Be(0);
    }

    [Fact]
    public void Average_ranks_share_the_mean_rank_among_ties()
    {
        // Sorted: 5 (rank 1), 10 (rank 2), 20 and 20 (ranks 3 and 4 -> 3.5 each).
        CorrelationMetrics.AverageRanks([10, 20, 20, 5]).Should().Equal(2, 3.5, 3.5, 1);
    }

    [Fact]
    public void Spearman_uses_average_ranks_for_ties()
    {
        // Ranks of x: [1,2,3,4,5]. Ranks of y = [2,4,5,4,5]: 2 -> 1, the 4s -> 2.5, the 5s -> 4.5 => [1,2.5,4.5,2.5,4.5].
        // Rank deviations: dx = [-2,-1,0,1,2], dy = [-2,-0.5,1.5,-0.5,1.5]; Σdxdy = 7, Σdx² = 10, Σdy² = 9 -> ρ = 7/√90.
        CorrelationMetrics.Spearman(X, Y).Should().BeApproximately(7 / Math.Sqrt(90), 1e-12);
        CorrelationMetrics.Spearman(X, Y).Should().BeApproximately(0.7378647874, 1e-9);
    }

    [Fact]
    public void Spearman_is_one_for_any_monotone_relation()
    {
        CorrelationMetrics.Spearman([1, 2, 3, 4], [1, 8, 27, 64]).Should().BeApproximately(1.0, 1e-12);
        CorrelationMetrics.Pearson([1, 2, 3, 4], [1, 8, 27, 64]).Should().BeLessThan(0.99);
    }

    [Fact]
    public void NaN_predictions_are_rejected_with_their_index()
    {
        var act = () => CorrelationMetrics.Spearman([1, double.NaN, 3], [1, 2, 3]);

        act.Should().Throw<ArgumentException>().WithMessage("*[1] is NaN*");
    }
}
