using GlueFineTune.Data;
using GlueFineTune.Metrics;

namespace GlueFineTune.Tests.Data;

public sealed class GlueTaskTests
{
    [Fact]
    public void All_lists_the_eight_benchmark_tasks_with_their_glue_folder_names()
    {
        GlueTask.All.Select(t => t.FolderName).Should().Equal("MNLI", "SST-2", "CoLA", "QQP", "QNLI", "RTE", "MRPC", "STS-B");
    }

    [Theory]
    [InlineData("mnli", "MNLI")]
    [InlineData("SST-2", "SST-2")]
    [InlineData("sst2", "SST-2")]
    [InlineData("cola", "CoLA")]
    [InlineData("stsb", "STS-B")]
    [InlineData("sts_b", "STS-B")]
    [InlineData("Demo", "DEMO")]
    public void Parses_names_ignoring_case_and_dashes(string input, string expected)
    {
        GlueTask.Parse(input).Name.Should().Be(expected);
    }

    [Fact]
    public void Unknown_name_lists_the_valid_tasks()
    {
        var act = () => GlueTask.Parse("wnli");

        act.Should().Throw<ArgumentException>().WithMessage("*\"wnli\"*MNLI, SST-2, CoLA, QQP, QNLI, RTE, MRPC, STS-B*");
    }

    [Fact]
    public void Label_sets_and_metrics_follow_glue()
    {
        GlueTask.Mnli.NumLabels.Should().Be(3);
        GlueTask.Qnli.LabelNames.Should().Equal("entailment", "not_entailment");
        GlueTask.Cola.MainMetric.Should().Be(GlueMetric.MatthewsCorrelation);
        GlueTask.Mrpc.Metrics.Should().Equal(GlueMetric.Accuracy, GlueMetric.F1);
        GlueTask.Qqp.Metrics.Should().Equal(GlueMetric.Accuracy, GlueMetric.F1);
        GlueTask.Stsb.Metrics.Should().Equal(GlueMetric.Pearson, GlueMetric.Spearman);
        GlueTask.Stsb.IsRegression.Should().BeTrue();
        GlueTask.All.Where(t => t.IsPair).Select(t => t.Name).Should().Equal("MNLI", "QQP", "QNLI", "RTE", "MRPC", "STS-B");
    }

    [Fact]
    public void Mnli_evaluates_on_dev_matched()
    {
        GlueTask.Mnli.FilePath("glue", GlueSplit.Dev).Should().Be(Path.Combine("glue", "MNLI", "dev_matched.tsv"));
        GlueTask.Rte.FilePath("glue", GlueSplit.Train).Should().Be(Path.Combine("glue", "RTE", "train.tsv"));
    }
}
