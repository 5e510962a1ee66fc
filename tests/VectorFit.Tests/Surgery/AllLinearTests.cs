using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// <see cref="VectorFitConfig.TargetAllLinear"/>, PEFT's <c>target_modules="all-linear"</c>: every Linear but the head, where the
/// head is what ModulesToSave names, or else the Linear registered last depth-first (the output layer).
/// </summary>
[Collection("libtorch")]
public sealed class AllLinearTests : IDisposable
{
    private static readonly string[] EncoderLinears = Enumerable.Range(0, TinyBert.Layers).SelectMany(i => new[]
    {
        $"encoder.layer.{i}.attention.self.query", $"encoder.layer.{i}.attention.self.key", $"encoder.layer.{i}.attention.self.value",
        $"encoder.layer.{i}.attention.output.dense", $"encoder.layer.{i}.intermediate.dense", $"encoder.layer.{i}.output.dense",
    }).ToArray();

    private readonly string _folder = Directory.CreateTempSubdirectory("vf-all-linear-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void AllLinear_WithTheHeadInModulesToSave_AdaptsEveryOtherLinear_AndTrainsTheHeadFully()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetAllLinear = true, ModulesToSave = ["classifier"] });

        report.Layers.Select(l => l.Name).Should().BeEquivalentTo(EncoderLinears);
        report.Layers.Should().OnlyContain(l => l.Role == LayerRole.Other);
        report.ExcludedFromAllLinear.Should().Equal("classifier");
        report.ModulesToSave.Should().Equal("classifier");
        model.named_parameters().Where(p => p.name.StartsWith("classifier.", StringComparison.Ordinal)).Should().OnlyContain(p => p.parameter.requires_grad);
        report.Describe().Should().Contain("all-linear left out the head: classifier");
    }

    [Fact]
    public void AllLinear_WithoutModulesToSave_LeavesOutTheOutputLayer_RegisteredLastDepthFirst()
    {
        using var bert = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(bert, new VectorFitConfig { TargetAllLinear = true });
        report.Layers.Select(l => l.Name).Should().BeEquivalentTo(EncoderLinears, "named_modules() lists 'classifier' before the encoder's layers, but it is registered last");
        report.ExcludedFromAllLinear.Should().Equal("classifier");

        using var nested = new ContainerModels.NestedModel();
        var nestedReport = ModelSurgery.Apply(nested, new VectorFitConfig { TargetAllLinear = true });
        nestedReport.Layers.Select(l => l.Name).Should().BeEquivalentTo("blocks.0.mlp.0", "blocks.0.mlp.2", "blocks.1.mlp.0");
        nestedReport.ExcludedFromAllLinear.Should().Equal("blocks.1.mlp.2");
    }

    [Fact]
    public void AllLinear_LeavesOutEveryLinearOfAHeadWithSeveral()
    {
        using var model = new TwoLayerHeadModel();
        var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetAllLinear = true, ModulesToSave = ["classifier"] });

        report.Layers.Select(l => l.Name).Should().BeEquivalentTo("body.0", "body.1");
        report.ExcludedFromAllLinear.Should().BeEquivalentTo("classifier.dense", "classifier.out_proj");
    }

    [Fact]
    public void AllLinear_UnionsWithAPreset_WhoseLayersKeepTheirRoles()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetAllLinear = true, Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });

        report.Layers.Should().HaveCount(EncoderLinears.Length);
        report.Layers.Single(l => l.Name == "encoder.layer.0.attention.self.query").Role.Should().Be(LayerRole.Query);
    }

    [Fact]
    public void AllLinear_OnAModelWhoseOnlyLinearIsTheHead_SaysSo()
    {
        using var model = new OnlyHeadModel();
        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetAllLinear = true });

        act.Should().Throw<ArgumentException>().WithMessage("TargetAllLinear (every Linear of the model is in the head) matched no Linear layer*");
    }

    [Fact]
    public void NoSelector_NamesWhatExistsInsteadOfTargetModules()
    {
        var act = () => new VectorFitConfig { ModulesToSave = ["classifier"] }.Validate();

        act.Should().Throw<ArgumentException>().WithMessage(
            "No layers are selected: set Preset (e.g. TargetPreset.Bert), TargetAllLinear, TargetNames, TargetSuffixes, TargetPatterns or TargetPredicate (there is no TargetModules: PEFT's target_modules list is TargetSuffixes*\"all-linear\" TargetAllLinear)*");
    }

    [Fact]
    public void AllLinearAdapter_RecordsIt_AndReloadsOntoAFreshBase()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetAllLinear = true, ModulesToSave = ["classifier"] });
        var path = Path.Combine(_folder, "all-linear.safetensors");
        VectorFitAdapter.Save(model, report, path);

        var info = VectorFitAdapter.ReadInfo(path);
        info.TargetAllLinear.Should().BeTrue();
        info.ToString().Should().Contain(", all-linear, 12 layer(s)");

        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, info.ToSurgeryConfig()).Layers.Should().HaveCount(EncoderLinears.Length);
        VectorFitAdapter.Load(fresh, path);
    }

    private sealed class TwoLayerHeadModel : nn.Module<Tensor, Tensor>
    {
        private readonly Sequential body;
        private readonly Head classifier;

        public TwoLayerHeadModel() : base(nameof(TwoLayerHeadModel))
        {
            torch.manual_seed(5);
            body = nn.Sequential(ContainerModels.NewLinear(), ContainerModels.NewLinear());
            classifier = new Head();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var h = body.forward(x);
            return classifier.forward(h);
        }
    }

    private sealed class Head : nn.Module<Tensor, Tensor>
    {
        private readonly Linear dense;
        private readonly Linear out_proj;

        public Head() : base(nameof(Head))
        {
            dense = ContainerModels.NewLinear();
            out_proj = ContainerModels.NewLinear(outFeatures: 2);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var h = dense.forward(x);
            return out_proj.forward(h);
        }
    }

    private sealed class OnlyHeadModel : nn.Module<Tensor, Tensor>
    {
        private readonly Linear head;

        public OnlyHeadModel() : base(nameof(OnlyHeadModel))
        {
            head = ContainerModels.NewLinear();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.forward(x);
    }
}
