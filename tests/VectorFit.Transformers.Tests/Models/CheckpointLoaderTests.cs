using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.Models;

[Collection("libtorch")]
public sealed class CheckpointLoaderTests
{
    [Theory]
    [InlineData("bert")]
    [InlineData("deberta-v2")]
    public void LoadsEveryTensorByKey(string modelType)
    {
        using var dir = new TempDirectory();
        var config = modelType == "bert" ? TinyCheckpoint.Bert() : TinyCheckpoint.Deberta();
        using var source = TinyCheckpoint.Model(config, seed: 1);
        TinyCheckpoint.Write(dir.Path, source);

        var (loaded, report) = CheckpointLoader.Load(dir.Path, numLabels: 2);
        using (loaded)
        {
            var expected = source.state_dict();
            var actual = loaded.state_dict();
            actual.Keys.Should().BeEquivalentTo(expected.Keys);
            using var fresh = TinyCheckpoint.Model(config, seed: 2);
            fresh.state_dict()["classifier.weight"].allclose(expected["classifier.weight"]).Should().BeFalse("the check must be able to fail");
            foreach (var (key, tensor) in expected)
            {
                actual[key].allclose(tensor, rtol: 0, atol: 0).Should().BeTrue($"{key} is copied bit for bit");
            }

            report.LoadedCount.Should().Be(expected.Count);
            report.Initialised.Should().BeEmpty();
        }
    }

    [Fact]
    public void WrongShapeAndMissingKeyAreNamedAndNothingLoads()
    {
        using var dir = new TempDirectory();
        using var source = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        const string Reshaped = "bert.encoder.layer.1.attention.self.key.weight";
        const string Dropped = "bert.encoder.layer.0.intermediate.dense.bias";
        TinyCheckpoint.Write(dir.Path, source, (key, value) => key switch
        {
            Reshaped => (key, torch.zeros(8, 16)),
            Dropped => null,
            _ => (key, value),
        });

        var act = () => CheckpointLoader.Load(dir.Path, numLabels: 2);

        var error = act.Should().Throw<CheckpointMismatchException>().Which;
        error.Message.Should().Contain(Reshaped).And.Contain("checkpoint [8, 16] vs model [16, 16]").And.Contain(Dropped).And.Contain("missing");
        error.Missing.Should().Equal(Dropped);
        error.ShapeMismatches.Should().ContainSingle().Which.Should().StartWith(Reshaped);
    }

    [Fact]
    public void UnknownKeyIsReportedButPreTrainingHeadsAreIgnored()
    {
        using var dir = new TempDirectory();
        using var source = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        TinyCheckpoint.Write(dir.Path, source, extra: [("bert.encoder.layer.0.adapter.weight", torch.ones(2)), ("cls.predictions.bias", torch.ones(15))]);

        var act = () => CheckpointLoader.Load(dir.Path, numLabels: 2);

        var error = act.Should().Throw<CheckpointMismatchException>().Which;
        error.Unexpected.Should().Equal("bert.encoder.layer.0.adapter.weight");
        error.Message.Should().Contain("unexpected in the checkpoint").And.NotContain("cls.predictions");
    }

    [Fact]
    public void MissingHeadIsInitialisedAndReported()
    {
        using var dir = new TempDirectory();
        using var source = TinyCheckpoint.Model(TinyCheckpoint.Deberta());
        TinyCheckpoint.Write(dir.Path, source, (key, value) => key.StartsWith("pooler.", StringComparison.Ordinal) || key.StartsWith("classifier.", StringComparison.Ordinal) ? null : (key, value),
            extra: [("lm_predictions.lm_head.bias", torch.zeros(15)), ("mask_predictions.dense.weight", torch.zeros(16, 16))]);

        var (model, report) = CheckpointLoader.Load(dir.Path, numLabels: 3);
        using (model)
        {
            report.Initialised.Should().BeEquivalentTo("pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias");
            report.InitialisedPrefixes.Should().BeEquivalentTo("pooler.", "classifier.");
            report.Ignored.Should().BeEquivalentTo("lm_predictions.lm_head.bias", "mask_predictions.dense.weight");
            report.Describe().Should().Contain(l => l.Contains("initialised") && l.Contains("classifier.weight"));
            var state = model.state_dict();
            state["classifier.weight"].shape.Should().Equal(3, 16);
            state["classifier.bias"].abs().sum().item<float>().Should().Be(0);
            double std = state["classifier.weight"].std().item<float>();
            std.Should().BeInRange(0.005, 0.05, "head weights start as normal(0, initializer_range = 0.02)");
        }
    }

    [Fact]
    public void OldLayerNormNamesGammaAndBetaLoad()
    {
        using var dir = new TempDirectory();
        using var source = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        TinyCheckpoint.Write(dir.Path, source, (key, value) =>
            key.EndsWith("LayerNorm.weight", StringComparison.Ordinal) ? (key[..^"weight".Length] + "gamma", value)
            : key.EndsWith("LayerNorm.bias", StringComparison.Ordinal) ? (key[..^"bias".Length] + "beta", value)
            : (key, value));

        var (model, _) = CheckpointLoader.Load(dir.Path, numLabels: 2);
        using (model)
        {
            const string Key = "bert.embeddings.LayerNorm.weight";
            model.state_dict()[Key].allclose(source.state_dict()[Key], rtol: 0, atol: 0).Should().BeTrue();
        }
    }

    [Fact]
    public void MissingWeightsFileNamesTheFile()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "config.json"), TinyCheckpoint.Bert().ToJson());

        var act = () => CheckpointLoader.Load(dir.Path, numLabels: 2);

        act.Should().Throw<FileNotFoundException>().WithMessage("*model.safetensors*");
    }
}
