using TorchSharp;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// The optimizer trap: TorchSharp's own optimizer built before <see cref="ModelSurgery.Apply"/> fails at <c>step()</c> inside TorchSharp (the
/// README's troubleshooting entry quotes it; <see cref="Optim.AdamW"/> says what happened instead), and <see cref="SurgeryReport.GetTrainableParameters"/> gives the list to build it from instead.
/// </summary>
[Collection("libtorch")]
public sealed class TrainableParametersTests
{
    private static readonly VectorFitConfig BertConfig = new() { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] };

    /// <summary>TorchSharp's own optimizer (VectorFit.Optim.AdamW names the cause instead: LibraryTrapTests).</summary>
    [Fact]
    public void OptimizerBuiltBeforeSurgery_TorchSharpsOwnFailsAtStepWithTheKeyNotFoundMessageTheReadmeQuotes()
    {
        using var model = new TinyBert(seed: 1);
        using var optimizer = torch.optim.AdamW(model.parameters(), lr: 1e-3);
        ModelSurgery.Apply(model, BertConfig);
        using var tokens = TinyBert.Tokens(1);
        using var labels = torch.tensor(new long[] { 0, 1, 2, 0 });
        using (var scope = torch.NewDisposeScope())
        {
            nn.functional.cross_entropy(model.forward(tokens), labels).backward();
        }

        var act = () => optimizer.step();

        act.Should().Throw<KeyNotFoundException>().WithMessage("The given key '*' was not present in the dictionary.");
    }

    [Fact]
    public void GetTrainableParameters_AreTheSigmasBiasesAndHead_InNamedParametersOrder_AndAnOptimizerStepsOnThem()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, BertConfig);

        var parameters = report.GetTrainableParameters();

        var expected = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        parameters.Select(p => p.Handle).Should().Equal(expected.Select(p => p.parameter.Handle));
        expected.Select(p => p.name).Should().Contain(["encoder.layer.0.attention.self.query.sigma", "encoder.layer.1.output.dense.bias", "classifier.weight"]);
        parameters.Sum(p => p.numel()).Should().Be(report.TrainableParameterCount);

        using var optimizer = new Optim.AdamW(parameters, lr: 1e-2);
        using var before = model.named_parameters().Single(p => p.name == "encoder.layer.0.attention.self.query.sigma").parameter.detach().clone();
        using var tokens = TinyBert.Tokens(1);
        using var labels = torch.tensor(new long[] { 0, 1, 2, 0 });
        using (var scope = torch.NewDisposeScope())
        {
            nn.functional.cross_entropy(model.forward(tokens), labels).backward();
        }

        optimizer.step();
        var after = model.named_parameters().Single(p => p.name == "encoder.layer.0.attention.self.query.sigma").parameter;
        TestTensors.MaxAbsDiff(after, before).Should().BeGreaterThan(0, "σ trains");
    }

    [Fact]
    public void GetTrainableParameters_IncludesVectorsAvfHasFrozenForNow()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, BertConfig);
        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 3 });
        var all = report.GetTrainableParameters().Count;

        avf.step().Should().BeTrue();

        avf.FrozenSet.Should().HaveCount(3);
        report.GetTrainableParameters().Should().HaveCount(all);
    }

    [Fact]
    public void GetTrainableParameters_AfterModelTo_ReturnsTheModelsCurrentParameters()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, BertConfig);
        model.to(ScalarType.Float32);

        var parameters = report.GetTrainableParameters();

        parameters.Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        parameters.Select(p => p.Handle).Should().Equal(model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.parameter.Handle));
    }

    [Fact]
    public void GetTrainableParameters_AfterMerge_SaysTheSurgeryIsGone()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, BertConfig);
        ModelSurgery.MergeAndUnload(model);

        var act = () => report.GetTrainableParameters();

        act.Should().Throw<InvalidOperationException>().WithMessage("12 of the 12 layers this surgery adapted are no longer in the model (ModelSurgery.MergeAndUnload was called*");
    }
}
