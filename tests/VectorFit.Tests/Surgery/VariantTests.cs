using VectorFit.Tests.Models;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// The five ablation variants of method §2 on the BERT-shaped model (hidden 8, MLP 16, 2 layers; every layer has a
/// bias): which layers are adapted, which vectors train, and the parameter counts, computed by hand per layer:
/// q, k, v, o are 8→8 (σ 8, b 8), f1 is 8→16 (σ 8, b 16), f2 is 16→8 (σ 8, b 8).
/// </summary>
[Collection("libtorch")]
public sealed class VariantTests
{
    // variant → (adapted layers, q/k/v/o trains σ, b; f1/f2 trains σ, b; trained values by hand)
    private static readonly Dictionary<VectorFitVariant, (int Layers, bool AttnSigma, bool AttnBias, bool MlpSigma, bool MlpBias, long Trained)> Expected = new()
    {
        [VectorFitVariant.VectorFit] = (12, true, true, true, true, 2 * ((4 * (8 + 8)) + (8 + 16) + (8 + 8))),
        [VectorFitVariant.NoAvf] = (12, true, true, true, true, 2 * ((4 * (8 + 8)) + (8 + 16) + (8 + 8))),
        [VectorFitVariant.SigmaAttentionAndBias] = (12, true, true, false, true, 2 * ((4 * (8 + 8)) + 16 + 8)),
        [VectorFitVariant.Sigma] = (12, true, false, true, false, 2 * 6 * 8),
        [VectorFitVariant.SigmaAttention] = (8, true, false, false, false, 2 * 4 * 8),
    };

    public static TheoryData<VectorFitVariant> Variants => new(Expected.Keys);

    [Theory]
    [MemberData(nameof(Variants))]
    public void Variant_AdaptsAndTrainsTheVectorsOfTheTable(VectorFitVariant variant)
    {
        var expected = Expected[variant];
        using var model = new TinyBert(seed: 1);

        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, Variant = variant });

        report.Layers.Should().HaveCount(expected.Layers);
        report.AdapterParameterCount.Should().Be(expected.Trained);
        report.TrainableParameterCount.Should().Be(expected.Trained, "nothing but the vectors trains without ModulesToSave");
        report.UsesAvf.Should().Be(variant == VectorFitVariant.VectorFit);
        var layers = ModelSurgery.FindLayers<VectorFitLinear>(model).ToDictionary(l => l.name, l => l.layer);
        foreach (var info in report.Layers)
        {
            var attention = info.Role.IsAttention();
            info.TrainSigma.Should().Be(attention ? expected.AttnSigma : expected.MlpSigma, info.Name);
            info.TrainBias.Should().Be(attention ? expected.AttnBias : expected.MlpBias, info.Name);
            layers[info.Name].sigma.requires_grad.Should().Be(info.TrainSigma, info.Name);
            layers[info.Name].bias!.requires_grad.Should().Be(info.TrainBias, info.Name);
        }
    }

    [Fact]
    public void SigmaAttention_LeavesTheMlpLayersPlainAndFrozen()
    {
        using var model = new TinyBert(seed: 2);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, Variant = VectorFitVariant.SigmaAttention });

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        modules["encoder.layer.0.intermediate.dense"].Should().BeOfType<TorchSharp.Modules.Linear>();
        modules["encoder.layer.0.output.dense"].Should().BeOfType<TorchSharp.Modules.Linear>();
        model.named_parameters().Where(p => p.name.StartsWith("encoder.layer.0.output.dense.", StringComparison.Ordinal))
            .Should().OnlyContain(p => !p.parameter.requires_grad);
    }

    [Fact]
    public void LayersWithoutBias_TrainSigmaOnly_UnlessAddBias()
    {
        var names = new[] { "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.down_proj" };
        using (var model = NamedTree.Build(false, names.Select(n => (n, 4L, 4L)).ToArray()))
        {
            var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Llama, AllowUnmatchedTargets = true });
            report.Layers.Should().OnlyContain(l => !l.HasBias && !l.TrainBias && l.TrainSigma);
            report.AdapterParameterCount.Should().Be(3 * 4);
            report.UnmatchedTargets.Should().Contain("Preset 'llama' suffix 'mlp.gate_proj'");
        }

        using (var model = NamedTree.Build(false, names.Select(n => (n, 4L, 4L)).ToArray()))
        {
            var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Llama, AddBias = true });
            report.Layers.Should().OnlyContain(l => l.HasBias && l.TrainBias && l.TrainSigma);
            report.AdapterParameterCount.Should().Be(3 * (4 + 4));
            foreach (var (_, layer) in ModelSurgery.FindLayers<VectorFitLinear>(model))
            {
                TestTensors.MaxAbs(layer.bias!).Should().Be(0, "a created bias starts at zero so the model is unchanged");
            }
        }
    }

    [Fact]
    public void SigmaAttentionAndBias_WithoutBiases_AdaptsOnlyAttention()
    {
        using var model = NamedTree.Build(false, ("model.layers.0.self_attn.q_proj", 4L, 4L), ("model.layers.0.mlp.up_proj", 4L, 4L));
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Llama, Variant = VectorFitVariant.SigmaAttentionAndBias, AllowUnmatchedTargets = true });
        report.Layers.Select(l => l.Name).Should().Equal("model.layers.0.self_attn.q_proj");
    }

    [Fact]
    public void SigmaAttention_OnLayersWithoutRoles_Throws()
    {
        using var model = new TinyBert(seed: 3);
        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetSuffixes = new[] { "dense" }, Variant = VectorFitVariant.SigmaAttention });
        act.Should().Throw<ArgumentException>().WithMessage("Variant SigmaAttention trains nothing in the 6 selected layers*TargetPreset*");
    }

    [Theory]
    [InlineData(VectorFitVariant.VectorFit, 138_240)]
    [InlineData(VectorFitVariant.NoAvf, 138_240)]
    [InlineData(VectorFitVariant.SigmaAttentionAndBias, 119_808)]
    [InlineData(VectorFitVariant.Sigma, 55_296)]
    [InlineData(VectorFitVariant.SigmaAttention, 36_864)]
    public void DebertaV3BaseShapes_GiveThePapersParameterCounts(VectorFitVariant variant, long expected)
    {
        // Method §1: 12 layers, d = 768, MLP 3072, every layer with a bias. Formula level: the same
        // LayerOptions and AdaptedLayerInfo arithmetic that surgery uses, on the real shapes.
        var shapes = new (LayerRole Role, long In, long Out)[]
        {
            (LayerRole.Query, 768, 768), (LayerRole.Key, 768, 768), (LayerRole.Value, 768, 768), (LayerRole.AttentionOutput, 768, 768),
            (LayerRole.FeedForward1, 768, 3072), (LayerRole.FeedForward2, 3072, 768),
        };
        long total = 0;
        for (var layer = 0; layer < 12; layer++)
        {
            foreach (var (role, inFeatures, outFeatures) in shapes)
            {
                if (variant.LayerOptions(role, hasBias: true, addBias: false) is not { } options)
                {
                    continue;
                }

                total += new AdaptedLayerInfo
                {
                    Name = $"deberta.encoder.layer.{layer}.{role}", Role = role, InFeatures = inFeatures, OutFeatures = outFeatures,
                    Rank = Math.Min(inFeatures, outFeatures), HasBias = true, TrainSigma = options.TrainSigma, TrainBias = options.TrainBias,
                }.TrainableParameterCount;
            }
        }

        total.Should().Be(expected);
    }
}
