using System.Xml.Linq;
using GlueFineTune.Outputs;
using VectorFit;

namespace GlueFineTune.Tests.Outputs;

public sealed class OutputsTests
{
    [Theory]
    [InlineData("bert.encoder.layer.11.attention.self.query", 11)]
    [InlineData("deberta.encoder.layer.3.output.dense", 3)]
    [InlineData("layer.0.intermediate.dense", 0)]
    [InlineData("classifier", 0)]
    public void LayerIndexIsReadFromTheModuleName(string name, int expected)
    {
        AvfStrengthMatrix.LayerIndex(name).Should().Be(expected);
    }

    [Fact]
    public void RolesUseThePapersShortNames()
    {
        new[] { LayerRole.Query, LayerRole.Key, LayerRole.Value, LayerRole.AttentionOutput, LayerRole.FeedForward1, LayerRole.FeedForward2 }
            .Select(AvfStrengthMatrix.RoleSuffix).Should().Equal("q", "k", "v", "o", "f1", "f2");
        HeatMapSvg.Label("sigma_f1").Should().Be("σ_f1");
        HeatMapSvg.Label("b_q").Should().Be("b_q");
    }

    [Fact]
    public void ColourRampRunsFromWhiteToDarkBlue()
    {
        HeatMapSvg.Colour(0).Should().Be("#f7fbff");
        HeatMapSvg.Colour(1).Should().Be("#08306b");
        HeatMapSvg.Colour(double.NaN).Should().Be("#f7fbff");
    }

    [Fact]
    public void MetricsLogRoundTripsAndPicksTheBestEpoch()
    {
        var log = new MetricsLog
        {
            Task = "SST-2", Variant = "vectorfit", Model = "m", MainMetric = "accuracy", AdapterParameters = 10, TrainableParameters = 12, Settings = "s",
        };
        log.Epochs.Add(Epoch(1, 0.8));
        log.Epochs.Add(Epoch(2, 0.9));
        log.Epochs.Add(Epoch(3, 0.85));

        string json = log.ToJson();
        MetricsLog back = MetricsLog.FromJson(json);

        json.Should().Contain("\"train_loss\"").And.Contain("\"best\"").And.Contain("\"frozen_vectors\"");
        back.Epochs.Should().HaveCount(3);
        back.Best!.Epoch.Should().Be(2);
        back.Epochs[2].Dev["accuracy"].Should().Be(0.85);
    }

    [Fact]
    public void HeatMapIsWellFormedSvg()
    {
        string svg = HeatMapSvg.Render(Matrix(), "title <&>");

        XDocument doc = XDocument.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        doc.Root!.Name.Should().Be(ns + "svg");
        doc.Descendants(ns + "title").Should().Contain(t => t.Value.Contains("frozen"));
        svg.Should().Contain("title &lt;&amp;&gt;");
    }

    [Fact]
    public void MatrixCsvHasARowPerVectorTypeAndEmptyCellsWhereNothingTrains()
    {
        string csv = Matrix().ToMatrixCsv();

        csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal(
            "vector,layer_0,layer_1",
            "sigma_q,0.5,0.25",
            "b_q,0.125,",
            "sigma_f2,,1");
    }

    private static AvfStrengthMatrix Matrix() => new(
        [
            new("l.layer.0.q.sigma", 0, "sigma_q", 4, 0.5, 0.01, Frozen: true),
            new("l.layer.1.q.sigma", 1, "sigma_q", 4, 0.25, 0.01, Frozen: false),
            new("l.layer.0.q.bias", 0, "b_q", 4, 0.125, 0.01, Frozen: false),
            new("l.layer.1.f2.sigma", 1, "sigma_f2", 4, 1, 0.02, Frozen: false),
        ],
        step: 42);

    private static EpochMetrics Epoch(int epoch, double accuracy) => new()
    {
        Epoch = epoch, Step = epoch * 10, TrainLoss = 0.5, LearningRate = 1e-3,
        Dev = new Dictionary<string, double> { ["accuracy"] = accuracy }, FrozenVectors = [], ElapsedSeconds = epoch,
    };
}
