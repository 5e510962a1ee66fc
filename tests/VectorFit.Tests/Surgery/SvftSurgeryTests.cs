using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// SVFT through the same surgery, report and merge as VectorFit: <see cref="VectorFitConfig.Method"/> =
/// <see cref="AdaptationMethod.Svft"/> with a pattern. TinyBert has hidden size 8 and MLP 16, so every adapted layer has
/// r = 8; q, k, v, o are square, f1 (8 → 16) and f2 (16 → 8) are not. Float64: at construction the adapted model matches
/// the base to SVD round-off (~1e-15), so 1e-10 catches any real difference.
/// </summary>
[Collection("libtorch")]
public sealed class SvftSurgeryTests
{
    private const double Float64Tolerance = 1e-10;

    // Base parameters of TinyBert (see SurgeryReportTests): 1467.
    private const long BaseParameters = 1467;

    private static readonly VectorFitConfig BandedBert = new()
    {
        Method = new SvftMethod { Pattern = SvftPattern.Banded(2) },
        Preset = TargetPreset.Bert,
        ModulesToSave = new[] { "classifier" },
    };

    [Fact]
    public void Apply_ReplacesTheTargetsWithSvftLayers_ThatEqualTheBaseAtInit()
    {
        using var model = new TinyBert(seed: 1);
        using var tokens = TinyBert.Tokens(2);
        using var before = model.forward(tokens);

        var report = ModelSurgery.Apply(model, BandedBert);

        ModelSurgery.FindLayers<SvftLinear>(model).Should().HaveCount(12).And.OnlyContain(l => l.layer.Pattern == SvftPattern.Banded(2));
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().BeEmpty();
        model.named_modules().Select(m => m.module).OfType<Linear>().Should().ContainSingle("only the classifier stays a Linear");
        model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).Should()
            .OnlyContain(n => n.EndsWith(".svft_values", StringComparison.Ordinal) || n.EndsWith(".bias", StringComparison.Ordinal) || n.StartsWith("classifier.", StringComparison.Ordinal))
            .And.HaveCount((12 * 2) + 2);
        report.Method.Should().Be(AdaptationMethod.Svft);
        using var after = model.forward(tokens);
        MaxAbsDiff(after, before).Should().BeLessThan(Float64Tolerance);
    }

    [Fact]
    public void Report_CountsTheBandFormula_PerLayerAndInTotal()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, BandedBert);

        // Banded d = 2 at r = 8: 8·5 − 2·3 = 34 values per layer; biases 2·(4·8 + 16 + 8) = 112; head 27.
        const long values = 12 * 34;
        report.Layers.Should().OnlyContain(l => l.Method == AdaptationMethod.Svft && l.SvftValueCount == 34);
        report.AdapterParameterCount.Should().Be(values + 112);
        report.TrainableParameterCount.Should().Be(values + 112 + 27);
        report.AllParameterCount.Should().Be(BaseParameters + values, "the frozen W₀ counts once and σ is a frozen buffer");
        report.UsesAvf.Should().BeFalse();
        report.ToString().Should().Be("trainable params: 547 || all params: 1,875 || trainable%: 29.1733");
        var f1 = report.Layers.Single(l => l.Name == "encoder.layer.1.intermediate.dense");
        f1.TrainableParameterCount.Should().Be(34 + 16);
        f1.ToString().Should().Be("encoder.layer.1.intermediate.dense (FeedForward1) 8->16 r=8 svft Banded(d=2) trains svft_values[34] bias[16]");
        report.Describe().Should().Contain("method: Svft (Banded(d=2)), adapted layers: 12, adapter params: 520");
        foreach (var (name, layer) in ModelSurgery.FindLayers<SvftLinear>(model))
        {
            layer.ValueCount.Should().Be(report.Layers.Single(l => l.Name == name).SvftValueCount);
        }
    }

    [Fact]
    public void Variants_ReadSigmaAsM()
    {
        using var attentionOnly = new TinyBert(seed: 1);
        using var attentionAndBias = new TinyBert(seed: 1);

        var sigmaA = ModelSurgery.Apply(attentionOnly, BandedBert with { Variant = VectorFitVariant.SigmaAttention, ModulesToSave = Array.Empty<string>() });
        var sigmaAB = ModelSurgery.Apply(attentionAndBias, BandedBert with { Variant = VectorFitVariant.SigmaAttentionAndBias, ModulesToSave = Array.Empty<string>() });

        sigmaA.Layers.Should().HaveCount(8);
        sigmaA.AdapterParameterCount.Should().Be(8 * 34);
        ModelSurgery.FindLayers<SvftLinear>(attentionOnly).Should().OnlyContain(l => l.layer.svft_values.requires_grad && !l.layer.bias!.requires_grad);
        sigmaAB.AdapterParameterCount.Should().Be((8 * 34) + 112);
        var f2 = ModelSurgery.FindLayers<SvftLinear>(attentionAndBias).Single(l => l.name == "encoder.layer.0.output.dense").layer;
        f2.svft_values.requires_grad.Should().BeFalse("Σa + b trains only the bias of f1 and f2");
        f2.bias!.requires_grad.Should().BeTrue();
    }

    [Fact]
    public void TopK_OnTheSquareAttentionLayers_Works()
    {
        using var model = new TinyBert(seed: 3);
        var report = ModelSurgery.Apply(model, new VectorFitConfig
        {
            Method = new SvftMethod { Pattern = SvftPattern.TopK(1) },
            TargetSuffixes = new[] { "query", "key", "value", "attention.output.dense" },
        });

        report.Layers.Should().HaveCount(8).And.OnlyContain(l => l.SvftValueCount == 22);
    }

    [Fact]
    public void TopK_OnNonSquareLayers_ThrowsListingThem_AndChangesNothing()
    {
        using var model = new TinyBert(seed: 1);
        var config = BandedBert with { Method = new SvftMethod { Pattern = SvftPattern.TopK(1) } };

        var act = () => ModelSurgery.Apply(model, config);

        act.Should().Throw<ArgumentException>().WithMessage(
            "Surgery changed nothing: method Svft (TopK(d=1)) does not fit 4 of the 12 selected layer(s).*" +
            "'encoder.layer.0.intermediate.dense': SVFT pattern TopK(d=1) needs a square layer, got 8 -> 16*" +
            "'encoder.layer.1.output.dense': SVFT pattern TopK(d=1) needs a square layer, got 16 -> 8*Use Banded or Random*");
        model.named_modules().Select(m => m.module).OfType<Linear>().Should().HaveCount(13);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(20)]
    public void DAtLeastTheRank_Throws_AndChangesNothing(int d)
    {
        using var model = new TinyBert(seed: 1);

        var act = () => ModelSurgery.Apply(model, BandedBert with { Method = new SvftMethod { Pattern = SvftPattern.Random(d, seed: 1) } });

        act.Should().Throw<ArgumentException>().WithMessage(
            $"Surgery changed nothing: method Svft (Random(d={d}, seed=1)) does not fit 12 of the 12 selected layer(s).*M is 8 × 8, so d can be at most 7 (which fills M), got d = {d}*");
        ModelSurgery.FindLayers<SvftLinear>(model).Should().BeEmpty();
    }

    [Fact]
    public void Config_NullMethod_OrNullPattern_Throws_NamingTheFix()
    {
        // The pattern lives with its method (SvftMethod.Pattern), so a VectorFit config cannot carry one: only nulls are left to refuse.
        var nullMethod = new VectorFitConfig { Preset = TargetPreset.Bert, Method = null! };
        var nullPattern = BandedBert with { Method = new SvftMethod { Pattern = null! } };

        nullMethod.Invoking(c => c.Validate()).Should().Throw<ArgumentException>()
            .WithMessage("Method is null; use new VectorFitMethod() (the default) or new SvftMethod { Pattern = ... }.*")
            .And.ParamName.Should().Be("Method");
        nullPattern.Invoking(c => c.Validate()).Should().Throw<ArgumentException>().WithMessage("SvftMethod.Pattern is null; use SvftPattern.Plain*");
    }

    [Fact]
    public void Apply_OnAnSvftModel_RefusesToWrapTwice()
    {
        using var model = new TinyBert(seed: 1);
        ModelSurgery.Apply(model, BandedBert);

        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });

        act.Should().Throw<InvalidOperationException>().WithMessage("The model already holds 12 SvftLinear layer(s)*never applied twice*");
    }

    [Fact]
    public void MergeAndUnload_AfterAStep_GivesPlainLinearsWithTheSameOutputs()
    {
        using var model = new TinyBert(seed: 4);
        ModelSurgery.Apply(model, BandedBert with { Method = new SvftMethod { Pattern = SvftPattern.Random(2, seed: 9) } });
        using var tokens = TinyBert.Tokens(5);
        using var baseLogits = model.forward(tokens);
        TrainOneStep(model, tokens);
        using var adapted = model.forward(tokens);
        MaxAbsDiff(adapted, baseLogits).Should().BeGreaterThan(1e-3, "the step must change the model for the check to bite");

        var merged = ModelSurgery.MergeAndUnload(model);

        merged.Should().HaveCount(12);
        ModelSurgery.FindLayers<SvftLinear>(model).Should().BeEmpty();
        model.named_modules().Select(m => m.module).OfType<Linear>().Should().HaveCount(13);
        using var after = model.forward(tokens);
        MaxAbsDiff(after, adapted).Should().BeLessThan(Float64Tolerance);
        var again = () => ModelSurgery.MergeAndUnload(model);
        again.Should().Throw<InvalidOperationException>().WithMessage("*no VectorFitLinear layer to merge (and no SvftLinear)*");
    }

    public static TheoryData<string> ContainerKinds => new(ContainerModels.ByName.Keys);

    [Theory]
    [MemberData(nameof(ContainerKinds))]
    public void EveryContainer_TakesSvftLayers_AndMergesThemBack(string kind)
    {
        var (build, linears) = ContainerModels.ByName[kind];
        using var model = build();
        using var x = Seeded(1, ScalarType.Float64, 3, ContainerModels.Features);
        using var before = model.forward(x);

        ModelSurgery.Apply(model, new VectorFitConfig { Method = new SvftMethod { Pattern = SvftPattern.Banded(1) }, TargetPredicate = (_, _) => true });

        ModelSurgery.FindLayers<SvftLinear>(model).Select(l => l.name).Should().BeEquivalentTo(linears);
        using (var atInit = model.forward(x))
        {
            MaxAbsDiff(atInit, before).Should().BeLessThan(Float64Tolerance);
        }

        foreach (var (_, layer) in ModelSurgery.FindLayers<SvftLinear>(model))
        {
            SvftLinearTests.Perturb(layer, seed: 7);
        }

        using var adapted = model.forward(x);
        MaxAbsDiff(adapted, before).Should().BeGreaterThan(1e-3);
        ModelSurgery.MergeAndUnload(model);
        using var merged = model.forward(x);
        MaxAbsDiff(merged, adapted).Should().BeLessThan(Float64Tolerance);
        ModelSurgery.FindLayers<SvftLinear>(model).Should().BeEmpty();
    }

    /// <summary>One AdamW step on the trainable parameters with a seeded cross-entropy loss.</summary>
    internal static void TrainOneStep(nn.Module<Tensor, Tensor> model, Tensor tokens)
    {
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = new Optim.AdamW(trainable, lr: 0.05);
        using var logits = model.forward(tokens);
        using var labels = torch.tensor(new long[] { 0, 1, 2, 1 });
        using var loss = nn.functional.cross_entropy(logits, labels);
        loss.backward();
        optimizer.step();
        optimizer.zero_grad();
    }
}
