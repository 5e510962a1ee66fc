using VectorFit.Tests.Models;

namespace VectorFit.Tests.Surgery;

/// <summary>The report's layers and counts, against numbers worked out by hand for the BERT-shaped model.</summary>
[Collection("libtorch")]
public sealed class SurgeryReportTests
{
    // Base parameters of TinyBert (hidden 8, MLP 16, 2 layers, vocabulary 20, 8 positions, 3 classes):
    // embeddings 20·8 + 8·8 + LayerNorm 16 = 240; per layer q, k, v 3·(64 + 8) = 216, attention output 72 + 16,
    // intermediate 8·16 + 16 = 144, output 16·8 + 8 + 16 = 152, so 600; classifier 8·3 + 3 = 27.
    private const long BaseParameters = 240 + (2 * 600) + 27;

    [Fact]
    public void Report_CountsMatchTheHandComputation()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } });

        report.BaseParameterCount.Should().Be(1467).And.Be(BaseParameters);
        // Surgery adds σ (r = 8 in each of the 12 layers); the frozen W₀ counts once.
        report.AllParameterCount.Should().Be(BaseParameters + (12 * 8));
        report.AdapterParameterCount.Should().Be(208);
        report.ModulesToSaveParameterCount.Should().Be(27);
        report.TrainableParameterCount.Should().Be(208 + 27);
        report.TrainablePercent.Should().BeApproximately(100.0 * 235 / 1563, 1e-12);
        report.ToString().Should().Be("trainable params: 235 || all params: 1,563 || trainable%: 15.0352");
    }

    [Fact]
    public void Report_ListsEachLayerWithShapeAndVectorSizes_InNamedModulesOrder()
    {
        using var model = new TinyBert(seed: 2);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });

        report.Layers.Select(l => l.Name).Take(6).Should().Equal(
            "encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.key", "encoder.layer.0.attention.self.value",
            "encoder.layer.0.attention.output.dense", "encoder.layer.0.intermediate.dense", "encoder.layer.0.output.dense");
        var f1 = report.Layers.Single(l => l.Name == "encoder.layer.1.intermediate.dense");
        f1.Should().BeEquivalentTo(new { Role = LayerRole.FeedForward1, InFeatures = 8L, OutFeatures = 16L, Rank = 8L, SigmaLength = 8L, BiasLength = 16L, TrainableParameterCount = 24L });
        f1.ToString().Should().Be("encoder.layer.1.intermediate.dense (FeedForward1) 8->16 r=8 trains sigma[8] bias[16]");
        report.Describe().Should().Contain("variant: VectorFit (train with AVF)").And.Contain("encoder.layer.1.output.dense (FeedForward2) 16->8 r=8");
    }

    [Fact]
    public void ToString_UsesThousandsSeparatorsLikePeft_AtDebertaScale()
    {
        // DeBERTaV3-base: 138,240 trained values out of ~184M (method §1); 72 adapted layers of rank 768 add σ.
        var layers = Enumerable.Range(0, 72).Select(i => new AdaptedLayerInfo
        {
            Name = $"layer{i}", Role = LayerRole.Query, InFeatures = 768, OutFeatures = 768, Rank = 768, HasBias = true, TrainSigma = true, TrainBias = true,
        }).ToList();
        const long basePrameters = 184_423_682;
        var report = new SurgeryReport(new VectorFitConfig { Preset = TargetPreset.DebertaV2 }, layers, Array.Empty<string>(), Array.Empty<string>(),
            basePrameters, basePrameters + (72 * 768), 138_240, 0);

        report.ToString().Should().Be("trainable params: 138,240 || all params: 184,478,978 || trainable%: 0.0749");
    }
}
