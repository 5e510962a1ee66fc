using GlueFineTune.Data;
using GlueFineTune.Metrics;

namespace GlueFineTune.Tests.Metrics;

public sealed class GlueEvaluatorTests
{
    // predicted [1,0,1,1,0] vs gold [1,1,1,0,0]: accuracy 3/5, F1 2/3, MCC 1/6 (see ClassificationMetricsTests).
    private static readonly int[] Predicted = [1, 0, 1, 1, 0];
    private static readonly int[] Gold = [1, 1, 1, 0, 0];

    [Fact]
    public void Mrpc_and_qqp_report_accuracy_then_f1_with_accuracy_as_main_metric()
    {
        foreach (GlueTask task in new[] { GlueTask.Mrpc, GlueTask.Qqp })
        {
            TaskEvaluation result = GlueEvaluator.EvaluateClassification(task, Predicted, Gold);

            result.Values.Select(v => v.Name).Should().Equal("accuracy", "f1");
            result[GlueMetric.Accuracy].Should().BeApproximately(0.6, 1e-12);
            result[GlueMetric.F1].Should().BeApproximately(2.0 / 3.0, 1e-12);
            result.MainMetric.Should().Be(GlueMetric.Accuracy);
            result.MainValue.Should().BeApproximately(0.6, 1e-12);
        }
    }

    [Fact]
    public void Cola_reports_matthews_correlation()
    {
        TaskEvaluation result = GlueEvaluator.EvaluateClassification(GlueTask.Cola, Predicted, Gold);

        result.ToDictionary().Should().ContainSingle().Which.Key.Should().Be("matthews_correlation");
        result.MainValue.Should().BeApproximately(1.0 / 6.0, 1e-12);
    }

    [Fact]
    public void Sst2_mnli_qnli_rte_report_accuracy()
    {
        foreach (GlueTask task in new[] { GlueTask.Sst2, GlueTask.Mnli, GlueTask.Qnli, GlueTask.Rte })
        {
            TaskEvaluation result = GlueEvaluator.EvaluateClassification(task, Predicted, Gold);

            result.Values.Should().ContainSingle().Which.Metric.Should().Be(GlueMetric.Accuracy);
            result.MainValue.Should().BeApproximately(0.6, 1e-12);
        }
    }

    [Fact]
    public void Stsb_reports_pearson_then_spearman()
    {
        // Values from CorrelationMetricsTests: r = 6/√60, ρ = 7/√90.
        TaskEvaluation result = GlueEvaluator.EvaluateRegression(GlueTask.Stsb, [1, 2, 3, 4, 5], [2, 4, 5, 4, 5]);

        result.Values.Select(v => v.Name).Should().Equal("pearson", "spearman");
        result[GlueMetric.Pearson].Should().BeApproximately(6 / Math.Sqrt(60), 1e-12);
        result[GlueMetric.Spearman].Should().BeApproximately(7 / Math.Sqrt(90), 1e-12);
        result.MainMetric.Should().Be(GlueMetric.Pearson);
        result.ExampleCount.Should().Be(5);
    }

    [Fact]
    public void Evaluate_against_examples_uses_labels_or_scores_by_task_kind()
    {
        GlueExample[] classification = [.. Gold.Select(g => GlueExample.Classification("s", null, g))];
        GlueExample[] regression = [.. new[] { 2f, 4f, 5f, 4f, 5f }.Select(s => GlueExample.Regression("a", "b", s))];

        GlueEvaluator.Evaluate(GlueTask.Sst2, classification, [1, 0, 1, 1, 0]).MainValue.Should().BeApproximately(0.6, 1e-12);
        GlueEvaluator.Evaluate(GlueTask.Stsb, regression, [1, 2, 3, 4, 5]).MainValue.Should().BeApproximately(6 / Math.Sqrt(60), 1e-12);
    }

    [Fact]
    public void Evaluate_rejects_a_prediction_that_is_not_a_class_id()
    {
        GlueExample[] examples = [GlueExample.Classification("s", null, 0), GlueExample.Classification("t", null, 1)];

        var act = () => GlueEvaluator.Evaluate(GlueTask.Sst2, examples, [0, 0.7]);

        act.Should().Throw<ArgumentException>().WithMessage("prediction 1 is 0.7*SST-2*0..1*");
    }

    [Fact]
    public void Using_the_wrong_kind_of_evaluation_names_the_right_one()
    {
        var regressionOnClassification = () => GlueEvaluator.EvaluateRegression(GlueTask.Rte, [1.0], [1.0]);
        var classificationOnRegression = () => GlueEvaluator.EvaluateClassification(GlueTask.Stsb, [1], [1]);

        regressionOnClassification.Should().Throw<ArgumentException>().WithMessage("RTE is a classification task*EvaluateClassification*");
        classificationOnRegression.Should().Throw<ArgumentException>().WithMessage("STS-B is a regression task*EvaluateRegression*");
    }

    [Fact]
    public void Asking_for_a_metric_the_task_does_not_report_lists_the_reported_ones()
    {
        TaskEvaluation result = GlueEvaluator.EvaluateClassification(GlueTask.Sst2, Predicted, Gold);

        var act = () => result[GlueMetric.F1];

        act.Should().Throw<KeyNotFoundException>().WithMessage("SST-2 does not report f1; it reports accuracy.");
    }
}
