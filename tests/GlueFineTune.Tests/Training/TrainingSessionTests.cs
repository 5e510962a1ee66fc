using VectorFit.Transformers.Models;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;
using static TorchSharp.torch;

namespace GlueFineTune.Tests.Training;

[Collection("libtorch")]
public sealed class TrainingSessionTests
{
    [Theory]
    [InlineData("bert", "bert.encoder.layer.1.attention.self.key")]
    [InlineData("deberta-v2", "deberta.encoder.layer.1.attention.self.key_proj")]
    public void SurgeryAdaptsSixLayersPerBlockAndKeepsTheOutput(string modelType, string keyLayer)
    {
        TransformerConfig config = modelType == "bert" ? TinyCheckpoint.Bert() : TinyCheckpoint.Deberta();
        using var model = TinyCheckpoint.Model(config);
        model.eval();
        var (ids, mask, types) = TinyCheckpoint.Batch();
        using var before = model.call(ids, mask, types);

        SurgeryReport report = ModelSurgery.Apply(model, TrainingSession.SurgeryConfig(model, VectorFitVariant.VectorFit, ["classifier"]));
        using var after = model.call(ids, mask, types);

        report.Layers.Should().HaveCount(12);
        report.Layers.Select(l => l.Role).Distinct().Should().HaveCount(6);
        report.Layers.Should().Contain(l => l.Name == keyLayer && l.Role == LayerRole.Key);
        // Per block: q,k,v,o 4 × (16 σ + 16 b), f1 16 σ + 32 b, f2 16 σ + 16 b = 208 (method §1's count at toy size).
        report.AdapterParameterCount.Should().Be(2 * 208);
        report.ModulesToSave.Should().Equal("classifier");
        after.allclose(before, rtol: 1e-4, atol: 1e-5).Should().BeTrue("the adapted model equals the base model at initialisation");
        model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name)
            .Should().OnlyContain(n => n.EndsWith(".sigma", StringComparison.Ordinal) || n.EndsWith(".bias", StringComparison.Ordinal) && !n.Contains("LayerNorm", StringComparison.Ordinal) || n.StartsWith("classifier.", StringComparison.Ordinal));
    }

    [Fact]
    public void SigmaAttentionVariantAdaptsOnlyAttentionSigmas()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Deberta());

        SurgeryReport report = ModelSurgery.Apply(model, TrainingSession.SurgeryConfig(model, VectorFitVariant.SigmaAttention, ["pooler", "classifier"]));

        report.Layers.Should().HaveCount(8).And.OnlyContain(l => l.Role.IsAttention() && l.TrainSigma && !l.TrainBias);
        report.AdapterParameterCount.Should().Be(8 * 16);
    }
}
