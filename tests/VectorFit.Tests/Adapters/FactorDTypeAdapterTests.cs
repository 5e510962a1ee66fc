using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Adapters trained on narrow factors (<see cref="VectorFitConfig.FactorDType"/>): the file records the factor dtype, so
/// <c>ReadInfo(path).ToSurgeryConfig()</c> rebuilds the same surgery and the adapter reproduces the trained model exactly; σ was
/// trained against the rounded factors, so loading into a model whose factors have another dtype fails, naming both, and the
/// model is unchanged. Files without the field (all written before it) read as <c>null</c> (Format2CompatibilityTests loads them).
/// </summary>
[Collection("libtorch")]
public sealed class FactorDTypeAdapterTests : IDisposable
{
    private static readonly VectorFitConfig BertConfig = new() { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } };
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-factor-dtype-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void AdapterTrainedOnNarrowFactors_RecordsTheDType_AndRoundTripsExactly(ScalarType factors)
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var report = ModelSurgery.Apply(model, BertConfig with { FactorDType = factors });
        var path = TrainAndSave(model, report);
        using var tokens = TinyBert.Tokens(seed: 3);
        using var trainedLogits = model.forward(tokens);

        var info = VectorFitAdapter.ReadInfo(path);
        info.FactorDType.Should().Be(factors);
        info.ToString().Should().Contain($"U and V in {factors}");
        var config = info.ToSurgeryConfig();
        config.FactorDType.Should().Be(factors);

        using var fresh = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(fresh, config);
        using (var before = fresh.forward(tokens))
        {
            MaxAbsDiff(before, trainedLogits).Should().BeGreaterThan(1e-3, "the adapter changes the model, so a load that did nothing fails");
        }

        VectorFitAdapter.Load(fresh, path);
        using var logits = fresh.forward(tokens);
        Values(logits).Should().Equal(Values(trainedLogits), "same factors, same σ and b, same operations");
    }

    [Fact]
    public void AdapterTrainedOnBFloat16Factors_IsRefusedByAFloat32FactorModel_NamingBothDTypes()
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var path = TrainAndSave(model, ModelSurgery.Apply(model, BertConfig with { FactorDType = ScalarType.BFloat16 }));

        using var other = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(other, BertConfig);
        AssertRefusedUnchanged(other, path,
            "*trained on U and V in another dtype than the model's*FactorDType = BFloat16*ToSurgeryConfig()*'encoder.layer.0.attention.self.query' stores U and V in Float32 in the model but the adapter was trained on BFloat16 factors*");
    }

    [Fact]
    public void AdapterTrainedOnFloat32Factors_IsRefusedByABFloat16FactorModel_NamingBothDTypes()
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var path = TrainAndSave(model, ModelSurgery.Apply(model, BertConfig));
        VectorFitAdapter.ReadInfo(path).FactorDType.Should().BeNull("the default is not written");

        using var other = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(other, BertConfig with { FactorDType = ScalarType.BFloat16 });
        AssertRefusedUnchanged(other, path,
            "*'encoder.layer.0.attention.self.query' stores U and V in BFloat16 in the model but the adapter was trained on factors in the weights' own dtype (FactorDType = null, here Float32)*");
    }

    [Fact]
    public void AdapterTrainedWithoutFactorDType_LoadsIntoAModelThatPinsTheWeightsOwnDType()
    {
        // Float32 factors asked for explicitly on a float32 model are the default's factors: the same function, so it loads.
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var path = TrainAndSave(model, ModelSurgery.Apply(model, BertConfig));
        using var tokens = TinyBert.Tokens(seed: 3);
        using var trainedLogits = model.forward(tokens);

        using var pinned = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(pinned, BertConfig with { FactorDType = ScalarType.Float32 });
        VectorFitAdapter.Load(pinned, path);
        using var logits = pinned.forward(tokens);
        Values(logits).Should().Equal(Values(trainedLogits));
    }

    private static void AssertRefusedUnchanged(nn.Module model, string path, string message)
    {
        var before = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => Values(p.parameter)).ToList();
        var act = () => VectorFitAdapter.Load(model, path);
        act.Should().Throw<AdapterMismatchException>().WithMessage(message);
        model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => Values(p.parameter)).Should().BeEquivalentTo(before, o => o.WithStrictOrdering(), "the model was not changed");
    }

    private string TrainAndSave(nn.Module model, SurgeryReport report)
    {
        // "Training": every trainable tensor moves by a seeded step.
        using (torch.no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
            {
                using var noise = Seeded(name.Length, parameter.dtype, parameter.shape);
                using var scale = 0.1.ToScalar();
                parameter.add_(noise, scale);
            }
        }

        var path = Path.Combine(_folder, $"adapter-{Guid.NewGuid():N}.safetensors");
        VectorFitAdapter.Save(model, report, path);
        return path;
    }
}
