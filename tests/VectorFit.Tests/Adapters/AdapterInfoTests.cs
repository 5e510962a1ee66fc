using VectorFit.Adapters;

namespace VectorFit.Tests.Adapters;

/// <summary><see cref="AdapterInfo.ToString"/> reads as a summary, not as a record dump with <c>List`1[System.String]</c>.</summary>
public sealed class AdapterInfoTests
{
    private static readonly AdaptedLayerInfo Query = new()
    {
        Name = "encoder.layer.0.attention.self.query", Role = LayerRole.Query, InFeatures = 8, OutFeatures = 8, Rank = 8, HasBias = true, TrainSigma = true, TrainBias = true,
    };

    private static readonly AdaptedLayerInfo Intermediate = new()
    {
        Name = "encoder.layer.0.intermediate.dense", Role = LayerRole.FeedForward1, InFeatures = 8, OutFeatures = 16, Rank = 8, HasBias = true, TrainSigma = true, TrainBias = true,
    };

    [Fact]
    public void ToString_SummarisesMethodTargetsLayersHeadAvfAndTensors()
    {
        var info = new AdapterInfo
        {
            FormatVersion = 1,
            LibraryVersion = "0.1.0",
            Method = AdaptationMethod.VectorFit,
            Variant = VectorFitVariant.VectorFit,
            UsesAvf = true,
            Preset = "bert",
            ModulesToSave = ["classifier"],
            AvfOptions = AvfPresets.Rte.AvfOptions,
            Layers = [Query, Intermediate],
            TensorNames = ["a", "b", "c", "d", "classifier.weight", "classifier.bias"],
        };

        // σ 8 + b 8 for the query, σ 8 + b 16 for the intermediate layer: 40 trained values.
        info.ToString().Should().Be(
            "VectorFit adapter (format 1, VectorFit 0.1.0): method VectorFit, variant VectorFit, preset bert, 2 layer(s) (40 trained values), " +
            "modules to save: classifier, AVF t_i=800 t_f=70 n_f=27 k=5 beta=0.99, 6 tensor(s)");
    }

    [Fact]
    public void ToString_ListsSelectorsAndSvftPattern_AndNeverPrintsACollectionType()
    {
        var info = new AdapterInfo
        {
            FormatVersion = 1,
            LibraryVersion = "0.1.0",
            Method = AdaptationMethod.Svft,
            SvftPattern = SvftPattern.Banded(2),
            Variant = VectorFitVariant.NoAvf,
            UsesAvf = false,
            TargetSuffixes = ["query", "value"],
            TargetPatterns = [@"encoder\.layer\.0\..*"],
            UsedPredicate = true,
            AddBias = true,
            Layers = [],
        };

        var text = info.ToString();

        text.Should().Be(
            $"VectorFit adapter (format 1, VectorFit 0.1.0): method Svft {SvftPattern.Banded(2)}, suffixes query, value, patterns encoder\\.layer\\.0\\..*, a predicate, " +
            "0 layer(s) (0 trained values), added biases, modules to save: none, no AVF, 0 tensor(s)");
        text.Should().NotContain("System.").And.NotContain("`1");
    }
}
