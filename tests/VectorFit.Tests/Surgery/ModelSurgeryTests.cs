using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// Replacement in every place a model can hold a Linear, and the guarantees around it: forward, named_modules,
/// named_parameters and state_dict all see the new layers; problems are reported with the fix; nothing changes
/// when any check fails; surgery never wraps twice. Float64 throughout: at construction a VectorFitLinear matches
/// its Linear to SVD round-off, ~1e-15 here, so 1e-10 catches any real difference.
/// </summary>
[Collection("libtorch")]
public sealed class ModelSurgeryTests
{
    private const double Float64Tolerance = 1e-10;

    private static readonly VectorFitConfig AllLinears = new() { TargetPredicate = (_, _) => true };

    public static TheoryData<string> ContainerKinds => new(ContainerModels.ByName.Keys);

    [Theory]
    [MemberData(nameof(ContainerKinds))]
    public void Apply_ReplacesEveryLinear_AndForwardNamedModulesParametersAndStateDictSeeTheNewLayers(string kind)
    {
        var (build, linears) = ContainerModels.ByName[kind];
        using var model = build();
        using var x = Seeded(1, ScalarType.Float64, 3, ContainerModels.Features);
        using var before = model.forward(x);
        var namesBefore = model.named_modules().Select(m => m.name).ToList();

        var report = ModelSurgery.Apply(model, AllLinears);

        report.Layers.Select(l => l.Name).Should().BeEquivalentTo(linears);
        model.named_modules().Select(m => m.name).Should().Equal(namesBefore, "each new layer takes the old one's place in the module order");
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        foreach (var name in linears)
        {
            modules[name].Should().BeOfType<VectorFitLinear>($"'{name}' is replaced in the registration");
        }

        modules.Values.OfType<Linear>().Should().BeEmpty();
        var parameters = model.named_parameters().Select(p => p.name).ToList();
        var state = model.state_dict().Keys.ToList();
        foreach (var name in linears)
        {
            parameters.Should().Contain($"{name}.sigma").And.NotContain($"{name}.weight");
            state.Should().Contain(new[] { $"{name}.sigma", $"{name}.bias", $"{name}.U", $"{name}.V" });
        }

        // At construction the adapted model computes the same function...
        using (var after = model.forward(x))
        {
            MaxAbsDiff(after, before).Should().BeLessThan(Float64Tolerance);
        }

        // ...and forward really runs the new layers: zeroing every σ changes the output.
        foreach (var (_, layer) in ModelSurgery.FindLayers<VectorFitLinear>(model))
        {
            using var noGrad = torch.no_grad();
            layer.sigma.zero_();
        }

        using var zeroed = model.forward(x);
        MaxAbsDiff(zeroed, before).Should().BeGreaterThan(1e-3);
    }

    [Fact]
    public void Apply_KeepsTheParameterOrder_WithSigmaInPlaceOfEachWeight()
    {
        using var model = new TinyBert(seed: 8);
        var before = model.named_parameters().Select(p => p.name).ToList();

        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });

        var adapted = report.Layers.Select(l => l.Name).ToHashSet();
        var expected = before.Select(n => n.EndsWith(".weight", StringComparison.Ordinal) && adapted.Contains(n[..^".weight".Length])
            ? n[..^"weight".Length] + "sigma"
            : n).ToList();
        model.named_parameters().Select(p => p.name).Should().Equal(expected);
        model.named_buffers().Select(b => b.name).Should().Equal(report.Layers.SelectMany(l => new[] { $"{l.Name}.U", $"{l.Name}.V" }));
    }

    [Fact]
    public void ApplyAndMerge_KeepTheLayersTrainOrEvalMode()
    {
        using var model = new TinyBert(seed: 9);
        model.eval();
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().OnlyContain(l => !l.layer.training);

        ModelSurgery.MergeAndUnload(model);
        model.modules().Should().OnlyContain(m => !m.training);
    }

    [Fact]
    public void Apply_FieldTypedLinear_IsReportedWithFieldNameTypeAndFix_AndNothingChanges()
    {
        using var model = new ContainerModels.LinearFieldModel();
        var act = () => ModelSurgery.Apply(model, AllLinears);

        act.Should().Throw<ArgumentException>()
            .WithMessage("*'query'*field 'query'*LinearFieldModel*declared as Linear*cannot hold a VectorFitLinear*sealed*Declare the field as Module<Tensor, Tensor>*");
        AssertUntouched(model, "key", "query");
    }

    [Fact]
    public void Apply_ModuleListOfLinear_IsReportedWithTheFix()
    {
        using var model = new ContainerModels.LinearListModel();
        var act = () => ModelSurgery.Apply(model, AllLinears);

        act.Should().Throw<ArgumentException>()
            .WithMessage("*'heads.0'*ModuleList<Linear>*cannot hold a VectorFitLinear*ModuleList<Module<Tensor, Tensor>>*");
        AssertUntouched(model, "heads.0", "heads.1");
    }

    [Fact]
    public void Apply_RegisteredLayerThatNoFieldHolds_IsReported()
    {
        using var model = new ContainerModels.UnheldModel();
        var act = () => ModelSurgery.Apply(model, AllLinears);

        act.Should().Throw<ArgumentException>().WithMessage("*'orphan'*no field of UnheldModel holds it*forward would keep using the old layer*");
        AssertUntouched(model, "proj", "orphan");
    }

    [Fact]
    public void Apply_SharedLayer_GetsOneVectorFitLayerInBothPlaces()
    {
        using var model = new ContainerModels.SharedModel();
        using var x = Seeded(2, ScalarType.Float64, 3, ContainerModels.Features);
        using var before = model.forward(x);

        var report = ModelSurgery.Apply(model, AllLinears);

        report.Layers.Should().ContainSingle().Which.Name.Should().Be("first");
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        modules["second"].Should().BeSameAs(modules["first"]).And.BeOfType<VectorFitLinear>();
        using var after = model.forward(x);
        MaxAbsDiff(after, before).Should().BeLessThan(Float64Tolerance);
    }

    [Fact]
    public void Apply_Twice_Throws_AndNeverDoubleWraps()
    {
        using var model = new TinyBert(seed: 1);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });
        var layers = ModelSurgery.FindLayers<VectorFitLinear>(model).Select(l => l.layer).ToList();

        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });

        act.Should().Throw<InvalidOperationException>().WithMessage("*already holds 12 VectorFitLinear*never applied twice*");
        ModelSurgery.FindLayers<VectorFitLinear>(model).Select(l => l.layer).Should().Equal(layers);
    }

    [Fact]
    public void Apply_OneBadSlotAmongGoodOnes_ChangesNothing()
    {
        // 'key' alone could be replaced; 'query' cannot. Surgery plans both before touching either.
        using var model = new ContainerModels.LinearFieldModel();
        using var x = Seeded(3, ScalarType.Float64, 2, ContainerModels.Features);
        using var before = model.forward(x);

        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetSuffixes = new[] { "key", "query" } });

        act.Should().Throw<ArgumentException>().WithMessage("Surgery changed nothing*");
        AssertUntouched(model, "key", "query");
        using var after = model.forward(x);
        MaxAbsDiff(after, before).Should().Be(0);
    }

    [Fact]
    public void Apply_FreezesEverythingButTheVectorsAndModulesToSave_AndClearsStaleGradients()
    {
        using var model = new TinyBert(seed: 2);
        using (var tokens = TinyBert.Tokens(1))
        using (var logits = model.forward(tokens))
        using (var loss = logits.sum())
        {
            loss.backward();
        }

        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } });

        report.ModulesToSave.Should().Equal("classifier");
        var vectors = report.Layers.SelectMany(l => new[] { $"{l.Name}.sigma", $"{l.Name}.bias" }).ToHashSet();
        vectors.Should().HaveCount(24);
        foreach (var (name, parameter) in model.named_parameters())
        {
            var trainable = vectors.Contains(name) || name.StartsWith("classifier.", StringComparison.Ordinal);
            parameter.requires_grad.Should().Be(trainable, name);
            if (!trainable)
            {
                parameter.grad.Should().BeNull($"{name} is frozen, so a stale gradient would let momentum optimizers move it");
            }
        }
    }

    [Fact]
    public void Apply_UnmatchedSelector_ThrowsNamingIt_OrIsReportedWhenAllowed()
    {
        using var model = new TinyBert(seed: 3);
        var config = new VectorFitConfig { Preset = TargetPreset.Bert, TargetPatterns = new[] { @"decoder\..*" } };

        var act = () => ModelSurgery.Apply(model, config);

        act.Should().Throw<ArgumentException>().WithMessage(@"TargetPatterns 'decoder\..*' matched no Linear layer*Linear layers in the model: 'classifier'*AllowUnmatchedTargets*");
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().BeEmpty();

        var report = ModelSurgery.Apply(model, config with { AllowUnmatchedTargets = true });
        report.UnmatchedTargets.Should().Equal(@"TargetPatterns 'decoder\..*'");
        report.Layers.Should().HaveCount(12);
    }

    [Fact]
    public void Apply_NoLayerSelected_WithModulesToSaveAndAllowUnmatched_TrainsOnlyThoseModules()
    {
        // Full fine-tuning as a baseline: no layer is adapted, the encoder and the head train fully.
        using var model = new TinyBert(seed: 6);
        var config = new VectorFitConfig { TargetPredicate = static (_, _) => false, ModulesToSave = new[] { "encoder", "classifier" } };

        FluentActions.Invoking(() => ModelSurgery.Apply(model, config)).Should().Throw<ArgumentException>().WithMessage("*matched no Linear layer*");
        var report = ModelSurgery.Apply(model, config with { AllowUnmatchedTargets = true });

        report.Layers.Should().BeEmpty();
        report.ModulesToSave.Should().Equal("encoder", "classifier");
        var trained = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        trained.Should().NotBeEmpty().And.OnlyContain(n => n.StartsWith("encoder.", StringComparison.Ordinal) || n.StartsWith("classifier.", StringComparison.Ordinal));
        report.TrainableParameterCount.Should().Be(report.ModulesToSaveParameterCount);
    }

    [Fact]
    public void Apply_WrongPreset_Throws()
    {
        using var model = new TinyBert(seed: 4);
        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Llama });
        act.Should().Throw<ArgumentException>().WithMessage("Preset 'llama'*matched no Linear layer*");
    }

    [Fact]
    public void Apply_TargetNameOfANonLinear_Throws()
    {
        using var model = new TinyBert(seed: 5);
        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = new[] { "encoder.layer.0.attention.output" } });
        act.Should().Throw<ArgumentException>().WithMessage("*'encoder.layer.0.attention.output' names a ResidualOutput, not a Linear*");
    }

    [Fact]
    public void Apply_ModulesToSave_MatchingNothingOrHoldingAnAdaptedLayer_Throws()
    {
        using var model = new TinyBert(seed: 6);
        var missing = () => ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifer" } });
        missing.Should().Throw<ArgumentException>().WithMessage("ModulesToSave entry 'classifer' matched no module*'embeddings', 'encoder', 'classifier'*");

        var overlapping = () => ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "encoder.layer.1" } });
        overlapping.Should().Throw<ArgumentException>().WithMessage("The adapted layer 'encoder.layer.1.*' lies inside 'encoder.layer.1'*");
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().BeEmpty();
    }

    [Fact]
    public void MergeAndUnload_PutsPlainLinearsBack_WithTheAdaptedFunction()
    {
        using var model = new TinyBert(seed: 7);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });
        foreach (var (_, layer) in ModelSurgery.FindLayers<VectorFitLinear>(model))
        {
            using var noGrad = torch.no_grad();
            layer.sigma.mul_(1.5);
        }

        using var tokens = TinyBert.Tokens(2);
        using var adapted = model.forward(tokens);

        var merged = ModelSurgery.MergeAndUnload(model);

        merged.Should().HaveCount(12).And.Contain("encoder.layer.0.attention.output.dense");
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        modules.Values.OfType<VectorFitLinear>().Should().BeEmpty();
        modules["encoder.layer.1.output.dense"].Should().BeOfType<Linear>();
        using var after = model.forward(tokens);
        MaxAbsDiff(after, adapted).Should().BeLessThan(Float64Tolerance);

        var again = () => ModelSurgery.MergeAndUnload(model);
        again.Should().Throw<InvalidOperationException>().WithMessage("*no VectorFitLinear layer to merge*");
    }

    [Fact]
    public void MergeAndUnload_FieldTypedVectorFitLinear_IsReported()
    {
        using var model = new ContainerModels.VectorFitFieldModel();
        var act = () => ModelSurgery.MergeAndUnload(model);
        act.Should().Throw<ArgumentException>().WithMessage("Merge changed nothing*field 'adapted'*declared as VectorFitLinear*cannot hold a Linear*");
        model.named_modules().Single().module.Should().BeOfType<VectorFitLinear>();
    }

    private static void AssertUntouched(nn.Module model, params string[] linears)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        foreach (var name in linears)
        {
            modules[name].Should().BeOfType<Linear>($"'{name}' must be left as it was");
        }

        model.named_parameters().Should().OnlyContain(p => p.parameter.requires_grad, "a failed surgery freezes nothing");
    }
}
