using System.Globalization;
using System.Xml.Linq;
using GlueFineTune.Data;
using GlueFineTune.Metrics;
using GlueFineTune.Outputs;

namespace GlueFineTune.Tests.Outputs;

/// <summary>The training curves beside the heat map, and the majority-class baseline the log compares with.</summary>
public sealed class TrainingCurveTests
{
    [Fact]
    public void Heat_map_svg_plots_train_loss_and_the_dev_metric_per_epoch_beside_the_map()
    {
        var epochs = new List<EpochMetrics>
        {
            new() { Epoch = 1, Step = 10, TrainLoss = 0.5, LearningRate = 1e-3, Dev = new() { ["accuracy"] = 0.8 }, FrozenVectors = [], ElapsedSeconds = 1 },
            new() { Epoch = 2, Step = 20, TrainLoss = 0.25, LearningRate = 5e-4, Dev = new() { ["accuracy"] = 0.9 }, FrozenVectors = [], ElapsedSeconds = 2 },
        };

        string svg = HeatMapSvg.Render(new AvfStrengthMatrix([], 20), "t", epochs, "accuracy");

        XDocument doc = XDocument.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        svg.Should().Contain("per epoch: train loss and dev accuracy");
        var circles = doc.Descendants(ns + "circle").Select(c => (Cx: double.Parse(c.Attribute("cx")!.Value, CultureInfo.InvariantCulture), Cy: double.Parse(c.Attribute("cy")!.Value, CultureInfo.InvariantCulture), Title: c.Value)).ToList();
        circles.Should().HaveCount(4);
        // The loss axis runs from 0 to 1.1 × the largest loss over the 180 px chart: 0.25 sits at 180 − 0.25/0.55·180 below its top.
        var loss = circles.Where(c => c.Title.StartsWith("train loss", StringComparison.Ordinal)).ToList();
        var dev = circles.Where(c => c.Title.StartsWith("dev accuracy", StringComparison.Ordinal)).ToList();
        (loss[1].Cy - loss[0].Cy).Should().BeApproximately((0.5 - 0.25) / 0.55 * 180, 0.1);
        (dev[0].Cy - dev[1].Cy).Should().BeApproximately(0.1 * 180, 0.1, "the dev axis runs from 0 to 1");
        (loss[1].Cx - loss[0].Cx).Should().BeApproximately(300, 0.1, "two epochs span the chart's width");
        double width = double.Parse(doc.Root!.Attribute("width")!.Value, CultureInfo.InvariantCulture);
        circles.Max(c => c.Cx).Should().BeLessThan(width);
    }

    [Fact]
    public void Majority_baseline_predicts_the_most_frequent_training_class_and_scores_it_on_dev()
    {
        GlueTask task = GlueTask.Custom("custom", ["ham", "spam"], isPair: false, regression: false);
        var train = new[] { 0, 0, 0, 1 }.Select(l => GlueExample.Classification("x", null, l)).ToList();
        var dev = new[] { 0, 1, 1, 0, 0 }.Select(l => GlueExample.Classification("x", null, l)).ToList();

        MajorityBaseline baseline = MajorityBaseline.Compute(task, train, dev)!;

        baseline.Label.Should().Be("ham");
        var values = baseline.Evaluation.ToDictionary();
        values["accuracy"].Should().BeApproximately(0.6, 1e-12);
        values["f1_spam"].Should().Be(0);
        values["f1_ham"].Should().BeApproximately(2 * 3 / (2.0 * 3 + 2), 1e-12);
        baseline.Describe().Should().StartWith("majority-class baseline (always \"ham\"");
        MajorityBaseline.Compute(GlueTask.Custom("r", [], false, regression: true), train, dev).Should().BeNull();
    }
}
