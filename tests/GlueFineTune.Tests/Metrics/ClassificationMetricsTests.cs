using GlueFineTune.Metrics;

namespace GlueFineTune.Tests.Metrics;

public sealed class ClassificationMetricsTests
{
    // Shared example: predicted [1,0,1,1,0] vs gold [1,1,1,0,0]
    // -> TP = 2 (positions 0, 2), TN = 1 (4), FP = 1 (3), FN = 1 (1).
    private static readonly int[] Predicted = [1, 0, 1, 1, 0];
    private static readonly int[] Gold = [1, 1, 1, 0, 0];

    [Fact]
    public void Accuracy_is_the_fraction_correct()
    {
        // 3 of 5 correct.
        ClassificationMetrics.Accuracy(Predicted, Gold).Should().BeApproximately(0.6, 1e-12);
    }

    [Fact]
    public void F1_of_the_positive_class()
    {
        // 2TP / (2TP + FP + FN) = 4 / 6.
        ClassificationMetrics.F1(Predicted, Gold).Should().BeApproximately(2.0 / 3.0, 1e-12);
        // Scoring class 0 instead: TP = 1, FP = 1 (position 1), FN = 1 (position 3) -> 2 / 4.
        ClassificationMetrics.F1(Predicted, Gold, positiveClass: 0).Should().BeApproximately(0.5, 1e-12);
    }

    [Fact]
    public void F1_without_true_positives_is_zero()
    {
        ClassificationMetrics.F1([0, 0, 0], [0, 0, 0]).Should().Be(0);
        ClassificationMetrics.F1([0, 1], [1, 0]).Should().Be(0);
    }

    [Fact]
    public void Matthews_correlation_of_a_binary_confusion_matrix()
    {
        // (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2 − 1) / √(3·3·2·2) = 1/6.
        ClassificationMetrics.MatthewsCorrelation(Predicted, Gold).Should().BeApproximately(1.0 / 6.0, 1e-12);
    }

    [Fact]
    public void Matthews_correlation_is_plus_or_minus_one_for_perfect_or_inverted_predictions()
    {
        ClassificationMetrics.MatthewsCorrelation([1, 0, 1, 0], [1, 0, 1, 0]).Should().BeApproximately(1.0, 1e-12);
        ClassificationMetrics.MatthewsCorrelation([0, 1, 0, 1], [1, 0, 1, 0]).Should().BeApproximately(-1.0, 1e-12);
    }

    [Fact]
    public void Matthews_correlation_of_a_constant_prediction_is_zero()
    {
        // The denominator is 0 (no predicted negatives); scikit-learn reports 0.
        ClassificationMetrics.MatthewsCorrelation([1, 1, 1, 1], [1, 0, 1, 0]).Should().Be(0);
    }

    [Fact]
    public void Matthews_correlation_generalises_to_three_classes()
    {
        // predicted [0,1,2,0,1,2], gold [0,1,2,1,2,0]: c = 3 correct, s = 6, class counts t = p = [2,2,2].
        // (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)) = (18 − 12) / √(24·24) = 0.25.
        ClassificationMetrics.MatthewsCorrelation([0, 1, 2, 0, 1, 2], [0, 1, 2, 1, 2, 0]).Should().BeApproximately(0.25, 1e-12);
    }

    [Fact]
    public void Mismatched_lengths_are_rejected_with_both_counts()
    {
        var act = () => ClassificationMetrics.Accuracy([1, 0], [1, 0, 1]);

        act.Should().Throw<ArgumentException>().WithMessage("2 predictions for 3 gold labels*");
    }

    [Fact]
    public void Empty_input_is_rejected()
    {
        var act = () => ClassificationMetrics.Accuracy([], []);

        act.Should().Throw<ArgumentException>().WithMessage("no examples*");
    }
}
