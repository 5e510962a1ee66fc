using System.Buffers.Binary;
using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Serialization;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Adapter files: only the trained tensors are saved; loading onto a freshly adapted copy of the base model
/// reproduces the outputs exactly; every mismatch or corruption throws a dedicated exception and leaves the model
/// as it was. The "trained" model is the base model with σ, b and the head perturbed, so a load that did nothing
/// would be caught (its outputs differ from the base model's by more than 1e-3).
/// </summary>
[Collection("libtorch")]
public sealed class VectorFitAdapterTests : IDisposable
{
    private static readonly VectorFitConfig BertConfig = new() { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } };
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-adapter-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void SaveThenLoadOntoAFreshCopy_ReproducesTheTrainedOutputs()
    {
        var path = SaveTrained(out var trainedLogits);
        using (trainedLogits)
        using (var fresh = new TinyBert(seed: 1))
        using (var tokens = TinyBert.Tokens(5))
        {
            using (var baseLogits = fresh.forward(tokens))
            {
                MaxAbsDiff(baseLogits, trainedLogits).Should().BeGreaterThan(1e-3, "the check must be able to fail");
            }

            ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
            VectorFitAdapter.Load(fresh, path);

            using var loadedLogits = fresh.forward(tokens);
            MaxAbsDiff(loadedLogits, trainedLogits).Should().Be(0);
        }
    }

    [Fact]
    public void File_HoldsOnlyTheTrainedVectorsAndTheHead()
    {
        var path = SaveTrained(out var logits);
        logits.Dispose();

        using var reader = SafetensorsReader.Open(path);
        var names = reader.Tensors.Select(t => t.Name).ToList();
        names.Should().HaveCount((12 * 2) + 2);
        names.Should().Contain(new[] { "encoder.layer.0.attention.self.query.sigma", "encoder.layer.1.output.dense.bias", "classifier.weight", "classifier.bias" });
        names.Should().NotContain(n => n.EndsWith(".U", StringComparison.Ordinal) || n.EndsWith(".V", StringComparison.Ordinal) || n.StartsWith("embeddings", StringComparison.Ordinal));
        reader.Tensors.Sum(t => t.ElementCount).Should().Be(208 + 27);
    }

    [Fact]
    public void File_ForSigmaAttention_HoldsOnlySigmas()
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, Variant = VectorFitVariant.SigmaAttention });
        var path = Path.Combine(_folder, "sigma-a.safetensors");
        VectorFitAdapter.Save(model, report, path);

        using var reader = SafetensorsReader.Open(path);
        reader.Tensors.Should().HaveCount(8).And.OnlyContain(t => t.Name.EndsWith(".sigma", StringComparison.Ordinal));
    }

    [Fact]
    public void ReadInfo_RecordsMethodVariantTargetsLayersAvfAndVersion()
    {
        var avf = new AvfOptions { InitialStep = 30, Interval = 5, AvfSteps = 3, K = 2 };
        var path = SaveTrained(out var logits, avf);
        logits.Dispose();

        var info = VectorFitAdapter.ReadInfo(path);

        info.FormatVersion.Should().Be(VectorFitAdapter.FormatVersion);
        info.LibraryVersion.Should().NotBeNullOrEmpty();
        info.Method.Should().Be(AdaptationMethod.VectorFit);
        info.Variant.Should().Be(VectorFitVariant.VectorFit);
        info.UsesAvf.Should().BeTrue();
        info.Preset.Should().Be("bert");
        info.ModulesToSave.Should().Equal("classifier");
        info.AvfOptions.Should().Be(avf);
        info.Layers.Should().HaveCount(12);
        info.Layers.Single(l => l.Name == "encoder.layer.0.intermediate.dense").Should().BeEquivalentTo(
            new { Role = LayerRole.FeedForward1, InFeatures = 8L, OutFeatures = 16L, Rank = 8L, TrainSigma = true, TrainBias = true });
    }

    [Fact]
    public void Load_OntoAModelWithOtherLayers_ThrowsMismatch_AndChangesNothing()
    {
        var path = SaveTrained(out var logits);
        logits.Dispose();
        using var other = new TinyBert(seed: 1);
        ModelSurgery.Apply(other, new VectorFitConfig { Preset = TargetPreset.Bert, Variant = VectorFitVariant.SigmaAttention, ModulesToSave = new[] { "classifier" } });

        AssertLoadFailsAndChangesNothing<AdapterMismatchException>(other, path, "*its adapted layers do not match the model's (4 difference(s))*'encoder.layer.0.intermediate.dense' is an adapted layer in the adapter but not a VectorFitLinear in the model*");
    }

    [Fact]
    public void Load_OntoADifferentBaseModel_ThrowsMismatch_AndChangesNothing()
    {
        var path = SaveTrained(out var logits);
        logits.Dispose();
        using var different = new TinyBert(seed: 2);
        ModelSurgery.Apply(different, BertConfig);

        AssertLoadFailsAndChangesNothing<AdapterMismatchException>(different, path, "*the model is not the base model the adapter was trained on*holds different values*");
    }

    [Fact]
    public void Load_OntoABaseWithOneDifferentAdaptedWeight_NamesThatLayer()
    {
        // Only U·Vᵀ of one adapted layer differs: the embeddings and every other tensor are the same.
        var path = SaveTrained(out var logits);
        logits.Dispose();
        using var edited = new TinyBert(seed: 1);
        PerturbBase(edited, "encoder.layer.1.attention.self.value.weight");
        ModelSurgery.Apply(edited, BertConfig);

        var act = () => VectorFitAdapter.Load(edited, path);

        act.Should().Throw<AdapterMismatchException>().Which.Problems.Should().ContainSingle()
            .Which.Should().StartWith("base tensor 'encoder.layer.1.attention.self.value.weight' holds different values");
    }

    [Fact]
    public void Load_WhenTheAdapterKeepsABiasFrozen_ChecksThatBaseBias()
    {
        // Σa saves σ only, so the frozen b₀ of q, k, v, o comes from the base model and must match.
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, Variant = VectorFitVariant.SigmaAttention });
        var path = Path.Combine(_folder, "sigma-a.safetensors");
        VectorFitAdapter.Save(model, report, path);
        using var edited = new TinyBert(seed: 1);
        PerturbBase(edited, "encoder.layer.0.attention.self.key.bias");
        ModelSurgery.Apply(edited, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());

        var act = () => VectorFitAdapter.Load(edited, path);

        act.Should().Throw<AdapterMismatchException>().Which.Problems.Should().ContainSingle()
            .Which.Should().StartWith("base tensor 'encoder.layer.0.attention.self.key.bias' holds different values");
    }

    [Fact]
    public void Load_OntoAModelOfAnotherDTypeWithOtherWeights_ThrowsMismatch()
    {
        // Initialised in float32 from the same seed, the weights are other values than the float64 base's (not its cast):
        // another base, which the fingerprint compares in float32 and rejects.
        var path = SaveTrained(out var logits);
        logits.Dispose();
        using var single = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(single, BertConfig);

        AssertLoadFailsAndChangesNothing<AdapterMismatchException>(single, path, "*not the base model*holds different values (compared as Float32)*");
    }

    [Fact]
    public void Load_OntoAnUnadaptedModel_SaysToApplySurgeryFirst()
    {
        var path = SaveTrained(out var logits);
        logits.Dispose();
        using var plain = new TinyBert(seed: 1);

        AssertLoadFailsAndChangesNothing<AdapterMismatchException>(plain, path, "*(12 difference(s))*ModelSurgery.Apply(model, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig())*");
    }

    public static TheoryData<string> Corruptions => new() { "flipped data byte", "truncated", "not an adapter", "garbled record" };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Load_CorruptFile_ThrowsFormatException_AndChangesNothing(string corruption)
    {
        var path = SaveTrained(out var logits);
        logits.Dispose();
        var bytes = File.ReadAllBytes(path);
        var headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string message;
        switch (corruption)
        {
            case "flipped data byte":
                bytes[headerEnd + 5] ^= 0x40;
                message = "*is corrupt: the bytes of tensor '*' do not match their recorded SHA-256 checksum*";
                break;
            case "truncated":
                bytes = bytes[..^7];
                message = "*is not a readable adapter*truncated*";
                break;
            case "not an adapter":
                using (var t = torch.ones(1))
                {
                    SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = t });
                }

                bytes = File.ReadAllBytes(path);
                message = "*is a safetensors file but not a VectorFit adapter*";
                break;
            default:
                var tensors = SafetensorsReader.Load(path);
                SafetensorsWriter.Save(path, tensors, new Dictionary<string, string>
                {
                    ["format"] = VectorFitAdapter.FormatName,
                    ["vectorfit"] = "{\"adapter\": [",
                    ["vectorfit_sha256"] = AdapterDocument.Checksum("{\"adapter\": ["), // a record that parses badly, not a damaged one
                });
                foreach (var t in tensors.Values)
                {
                    t.Dispose();
                }

                bytes = File.ReadAllBytes(path);
                message = "*has a corrupt adapter record*";
                break;
        }

        File.WriteAllBytes(path, bytes);
        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, BertConfig);

        AssertLoadFailsAndChangesNothing<AdapterFormatException>(fresh, path, message);
    }

    [Fact]
    public void Save_WithAnotherModelsReport_Throws()
    {
        using var a = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(a, new VectorFitConfig { Preset = TargetPreset.Bert, Variant = VectorFitVariant.SigmaAttention });
        using var b = new TinyBert(seed: 1);
        ModelSurgery.Apply(b, BertConfig);

        var act = () => VectorFitAdapter.Save(b, report, Path.Combine(_folder, "x.safetensors"));
        act.Should().Throw<InvalidOperationException>().WithMessage("The report lists 8 adapted layers*the model holds 12*");
        Directory.GetFiles(_folder).Should().BeEmpty();
    }

    /// <summary>Adapts a seed-1 TinyBert, perturbs σ, b and the head as training would, saves it, and returns the logits on tokens of seed 5.</summary>
    private string SaveTrained(out Tensor logits, AvfOptions? avf = null)
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, BertConfig);
        using (torch.no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
            {
                using var noise = Seeded(name.Length, parameter.dtype, parameter.shape);
                using var step = noise * 0.1;
                parameter.add_(step);
            }
        }

        var path = Path.Combine(_folder, $"adapter-{Guid.NewGuid():N}.safetensors");
        VectorFitAdapter.Save(model, report, path, avf);
        using var tokens = TinyBert.Tokens(5);
        logits = model.forward(tokens);
        return path;
    }

    private static void PerturbBase(nn.Module model, string parameterName)
    {
        using var noGrad = torch.no_grad();
        var parameter = model.named_parameters().Single(p => p.name == parameterName).parameter;
        using var noise = Seeded(99, parameter.dtype, parameter.shape);
        using var step = noise * 0.05;
        parameter.add_(step);
    }

    private static void AssertLoadFailsAndChangesNothing<TException>(nn.Module model, string path, string message)
        where TException : Exception
    {
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        try
        {
            var act = () => VectorFitAdapter.Load(model, path);
            act.Should().Throw<TException>().WithMessage(message);
            foreach (var (key, value) in model.state_dict())
            {
                MaxAbsDiff(value, before[key]).Should().Be(0, $"'{key}' must be untouched");
            }
        }
        finally
        {
            foreach (var t in before.Values)
            {
                t.Dispose();
            }
        }
    }
}
