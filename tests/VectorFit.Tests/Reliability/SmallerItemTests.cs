using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Serialization;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Reliability;

/// <summary>
/// The forward-reach check (a layer forward reaches through a reference surgery cannot see), AVF over a layer registered
/// twice, and the safetensors writer refusing what it could not read back.
/// </summary>
[Collection("libtorch")]
public sealed class SmallerItemTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("vf-small-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Registers q and k as fields, but forward calls q through a delegate bound to the original q.forward, and k through a Dictionary.</summary>
    private sealed class HiddenReferenceModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> q;
        private readonly nn.Module<Tensor, Tensor> k;
        private readonly nn.Module<Tensor, Tensor> v;
        private readonly Func<Tensor, Tensor> callQ;
        private readonly Dictionary<string, nn.Module<Tensor, Tensor>> lookup;

        public HiddenReferenceModel() : base(nameof(HiddenReferenceModel))
        {
            torch.manual_seed(21);
            q = ContainerModels.NewLinear();
            k = ContainerModels.NewLinear();
            v = ContainerModels.NewLinear();
            callQ = q.forward;
            lookup = new() { ["k"] = k };
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var a = callQ(x);
            using var b = lookup["k"].forward(a);
            return v.forward(b);
        }
    }

    [Fact]
    public void VerifyForward_NamesTheAdaptedLayersForwardNeverReached()
    {
        using var model = new HiddenReferenceModel();
        ModelSurgery.Apply(model, new VectorFitConfig { TargetPredicate = (_, _) => true });
        using var x = torch.ones(2, ContainerModels.Features, dtype: ScalarType.Float64);

        var verify = () => ModelSurgery.VerifyForward(model, () => model.forward(x).Dispose());

        // Apply released the replaced Linear layers (nothing in the model holds their weights), so the hidden references
        // fail on their first call instead of computing silently with the old weights.
        verify.Should().Throw<InvalidOperationException>()
            .WithMessage("*called a Linear layer that ModelSurgery.Apply replaced and released*not called before it failed: 'q', 'k', 'v'*Dictionary*delegate*");
    }

    [Fact]
    public void VerifyForward_PassesWhenForwardUsesEveryAdaptedLayer()
    {
        using var model = new ContainerModels.FieldModel();
        ModelSurgery.Apply(model, new VectorFitConfig { TargetPredicate = (_, _) => true });
        using var x = torch.ones(2, ContainerModels.Features, dtype: ScalarType.Float64);

        ModelSurgery.VerifyForward(model, () => model.forward(x).Dispose());
    }

    /// <summary>One Linear registered under two names (shared by two parents): surgery and adapters treat it as one layer, and so does AVF.</summary>
    [Fact]
    public void AvfFromModel_LayerRegisteredTwice_IsTrackedOnce()
    {
        using var model = new ContainerModels.SharedModel();
        var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetPredicate = (_, _) => true });
        report.Layers.Should().ContainSingle();

        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 1 });

        avf.Vectors.Select(v => v.Name).Should().Equal($"{report.Layers[0].Name}.sigma", $"{report.Layers[0].Name}.bias");
    }

    [Fact]
    public void SafetensorsWriter_RefusesAHeaderItsReaderWouldRefuse()
    {
        var path = Path.Combine(folder, "huge.safetensors");
        using var t = torch.ones(1);
        var metadata = new Dictionary<string, string> { ["notes"] = new string('x', (int)SafetensorsHeader.MaxHeaderLength) };

        var save = () => SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["t"] = t }, metadata);

        save.Should().Throw<ArgumentException>().WithMessage("*header*would be*over the 100,000,000*Nothing was written*");
        File.Exists(path).Should().BeFalse();
    }

    [Theory]
    [InlineData("tensor name")]
    [InlineData("metadata value")]
    public void SafetensorsWriter_RefusesALoneSurrogate(string where)
    {
        var path = Path.Combine(folder, "surrogate.safetensors");
        using var t = torch.ones(1);
        var name = where == "tensor name" ? "bad\ud800name" : "t";
        var metadata = where == "metadata value" ? new Dictionary<string, string> { ["note"] = "x\udc00" } : null;

        var save = () => SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { [name] = t }, metadata);

        save.Should().Throw<ArgumentException>().WithMessage("*lone UTF-16 surrogate*U+FFFD*");
        File.Exists(path).Should().BeFalse();
    }

    /// <summary>A temporary file a killed save left beside an adapter is removed by the next save and by a load; one a live writer holds is kept.</summary>
    [Fact]
    public void StaleTemporaryFiles_AreRemovedOnSave_ButNotWhileAWriterHoldsThem()
    {
        var path = Path.Combine(folder, "a.safetensors");
        var stale = Path.Combine(folder, $".a.safetensors.{Guid.NewGuid():N}.tmp");
        var live = Path.Combine(folder, $".a.safetensors.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(stale, "half a file");
        using var t = torch.ones(2);
        using (var writer = new FileStream(live, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["t"] = t });
            File.Exists(live).Should().BeTrue("a writer still holds it");
        }

        File.Exists(stale).Should().BeFalse();
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["t"] = t });
        Directory.EnumerateFiles(folder, "*.tmp").Should().BeEmpty();
    }
}
