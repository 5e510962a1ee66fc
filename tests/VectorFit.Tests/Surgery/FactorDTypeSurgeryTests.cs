using TorchSharp;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// <see cref="VectorFitConfig.FactorDType"/> flows from the config to every adapted layer; a value that cannot hold the factors
/// (not floating, wider than the weights, or with SVFT) is refused with the option, the value and the fix, before anything changes.
/// </summary>
[Collection("libtorch")]
public sealed class FactorDTypeSurgeryTests
{
    private static readonly VectorFitConfig BertConfig = new() { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } };

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Surgery_StoresEveryLayersFactorsInTheConfigsDType_AndKeepsTheRestFloat32(ScalarType factors)
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(model, BertConfig with { FactorDType = factors });

        var layers = ModelSurgery.FindLayers<VectorFitLinear>(model);
        layers.Should().HaveCount(TinyBert.Layers * 6);
        foreach (var (name, layer) in layers)
        {
            layer.Options.FactorDType.Should().Be(factors, name);
            layer.U.dtype.Should().Be(factors, name);
            layer.V.dtype.Should().Be(factors, name);
            layer.sigma.dtype.Should().Be(ScalarType.Float32, name);
            layer.bias!.dtype.Should().Be(ScalarType.Float32, name);
        }

        using var tokens = TinyBert.Tokens(seed: 3);
        using var logits = model.forward(tokens);
        logits.dtype.Should().Be(ScalarType.Float32);
    }

    public static TheoryData<string, VectorFitConfig, string> BadConfigs => new()
    {
        { "integer", BertConfig with { FactorDType = ScalarType.Int64 }, "FactorDType must be a floating dtype*got Int64*" },
        { "wider than the weights", BertConfig with { FactorDType = ScalarType.Float64 }, "Surgery changed nothing: FactorDType Float64 does not fit 12 of the 12 selected layer(s)*'encoder.layer.0.attention.self.query': FactorDType Float64 is not narrower than the weight's dtype Float32*" },
        { "SVFT", BertConfig with { Method = new SvftMethod(), FactorDType = ScalarType.BFloat16 }, "FactorDType is BFloat16 but method Svft (Plain) does not support a factor dtype yet*" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void BadFactorDType_Throws_AndLeavesTheModelUnchanged(string what, VectorFitConfig config, string message)
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var before = Modules(model);
        var flags = model.named_parameters().Select(p => p.parameter.requires_grad).ToList();

        var act = () => ModelSurgery.Apply(model, config);

        act.Should().Throw<ArgumentException>(what).WithMessage(message);
        Modules(model).Should().Equal(before, "nothing is replaced");
        model.named_parameters().Select(p => p.parameter.requires_grad).Should().Equal(flags, "no requires_grad flag changed");
    }

    private static List<string> Modules(nn.Module model)
        => model.named_modules().Select(m => $"{m.name}:{m.module.GetType().Name}").ToList();
}
