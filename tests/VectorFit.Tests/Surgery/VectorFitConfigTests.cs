using VectorFit.Tests.Models;

namespace VectorFit.Tests.Surgery;

/// <summary>Config validation: each bad field is named with its value and the fix, before the model is touched.</summary>
[Collection("libtorch")]
public sealed class VectorFitConfigTests
{
    public static TheoryData<string, string> BadConfigs => new()
    {
        { "none", "No layers are selected*TargetPreset.Bert*" },
        { "regex", "TargetPatterns entry '(unclosed' is not a valid .NET regular expression*" },
        { "add-bias", "AddBias is true but Variant Sigma trains no bias*" },
        { "duplicate", "TargetNames lists 'classifier' twice*" },
        { "blank", "TargetSuffixes entry 'self query' is not a dotted module name*" },
        { "variant", "Variant 42 is not a defined VectorFitVariant*" },
        { "save", "ModulesToSave entry is empty*" },
    };

    private static readonly Dictionary<string, VectorFitConfig> Configs = new()
    {
        ["none"] = new VectorFitConfig(),
        ["regex"] = new VectorFitConfig { TargetPatterns = new[] { "(unclosed" } },
        ["add-bias"] = new VectorFitConfig { Preset = TargetPreset.Bert, Variant = VectorFitVariant.Sigma, AddBias = true },
        ["duplicate"] = new VectorFitConfig { TargetNames = new[] { "classifier", "classifier" } },
        ["blank"] = new VectorFitConfig { TargetSuffixes = new[] { "self query" } },
        ["variant"] = new VectorFitConfig { Preset = TargetPreset.Bert, Variant = (VectorFitVariant)42 },
        ["save"] = new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { string.Empty } },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Validate_NamesTheFieldValueAndFix(string key, string message)
    {
        var act = () => Configs[key].Validate();
        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Apply_ValidatesBeforeTouchingTheModel()
    {
        using var model = new TinyBert(seed: 1);
        var act = () => ModelSurgery.Apply(model, Configs["add-bias"]);
        act.Should().Throw<ArgumentException>();
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().BeEmpty();
    }

    [Fact]
    public void LayerOptions_FollowTheVariantTable()
    {
        VectorFitVariant.SigmaAttention.LayerOptions(LayerRole.FeedForward1, hasBias: true, addBias: false).Should().BeNull();
        VectorFitVariant.SigmaAttentionAndBias.LayerOptions(LayerRole.FeedForward2, hasBias: true, addBias: false)
            .Should().Be(new VectorFitLinearOptions { TrainSigma = false, TrainBias = true });
        VectorFitVariant.VectorFit.LayerOptions(LayerRole.Other, hasBias: false, addBias: true)
            .Should().Be(new VectorFitLinearOptions { TrainSigma = true, TrainBias = true, AddBias = true });
        VectorFitVariant.Sigma.LayerOptions(LayerRole.Key, hasBias: true, addBias: false)
            .Should().Be(new VectorFitLinearOptions { TrainSigma = true, TrainBias = false });
    }
}
