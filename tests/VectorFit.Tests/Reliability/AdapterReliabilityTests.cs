using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Adapters;
using VectorFit.Serialization;
using VectorFit.Tests.Adapters;
using static TorchSharp.torch;

namespace VectorFit.Tests.Reliability;

/// <summary>
/// Adapter files on bad input: the base-model fingerprint catches any change to a frozen tensor (bit for bit) and to
/// persistent buffers, damage to the record itself is reported as corruption, tied heads reload, non-finite values are
/// refused on both save and load, and malformed records raise <see cref="AdapterFormatException"/>.
/// </summary>
[Collection("libtorch")]
public sealed class AdapterReliabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("vf-reliability-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>An adapted Linear, a frozen Linear, a LayerNorm, a BatchNorm (eval) and a head, all of width n, in float64.</summary>
    private sealed class Net : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> proj;
        private readonly nn.Module<Tensor, Tensor> frozen;
        private readonly nn.Module<Tensor, Tensor> norm;
        private readonly nn.Module<Tensor, Tensor> bn;
        private readonly nn.Module<Tensor, Tensor> head;

        public Net(int n, long seed, ScalarType dtype = ScalarType.Float64) : base(nameof(Net))
        {
            torch.manual_seed(seed);
            proj = nn.Linear(n, n, dtype: dtype);
            frozen = nn.Linear(n, n, dtype: dtype);
            norm = nn.LayerNorm(n, dtype: dtype);
            bn = nn.BatchNorm1d(n, dtype: dtype);
            head = nn.Linear(n, 2, dtype: dtype);
            RegisterComponents();
            bn.eval();
        }

        public override Tensor forward(Tensor x)
        {
            using var a = proj.forward(x);
            using var b = frozen.forward(a);
            using var c = norm.forward(b);
            using var d = bn.forward(c);
            return head.forward(d);
        }
    }

    private static readonly VectorFitConfig NetConfig = new() { TargetNames = ["proj"], ModulesToSave = ["head"] };

    /// <summary>
    /// Moving a frozen 512×512 weight by 0.2% of its standard deviation changes the outputs by about 0.2%; the old probe
    /// (tolerance 1e-5 of ‖q‖‖p‖‖W‖) let it pass. Frozen base tensors are now compared bit for bit, and an adapted layer by
    /// the checksum of the weight it was built from, so this is caught whether the weight is frozen or adapted.
    /// </summary>
    [Theory]
    [InlineData("frozen.weight")]
    [InlineData("proj.weight")]
    public void Load_BaseWeightMovedByATinyFractionOfItsSpread_IsRejected(string weight)
    {
        var path = SaveTrained(n: 512);
        using var moved = new Net(512, seed: 1);
        using (torch.no_grad())
        {
            var parameter = moved.named_parameters().Single(p => p.name == weight).parameter;
            using var std = parameter.std();
            using var noise = torch.randn_like(parameter);
            using var step = noise.mul(std).mul(Scalar(0.002));
            parameter.add_(step, HeldScalars.One);
        }

        ModelSurgery.Apply(moved, NetConfig);
        var act = () => VectorFitAdapter.Load(moved, path);

        act.Should().Throw<AdapterMismatchException>().WithMessage("*not the base model*")
            .Which.Problems.Should().ContainSingle().Which.Should().StartWith($"base tensor '{weight}' holds different values");
    }

    [Fact]
    public void Load_BaseWithOtherBatchNormStatistics_IsRejected_UnlessBuffersAreOptedOut()
    {
        var path = SaveTrained(n: 8);
        var optedOut = Path.Combine(folder, "no-buffers.safetensors");
        using (var model = new Net(8, seed: 1))
        {
            var report = ModelSurgery.Apply(model, NetConfig);
            VectorFitAdapter.Save(model, report, optedOut, fingerprintBuffers: false);
        }

        using var other = new Net(8, seed: 1);
        using (torch.no_grad())
        {
            other.named_buffers().Single(b => b.name == "bn.running_mean").buffer.add_(Scalar(0.5), HeldScalars.One);
        }

        ModelSurgery.Apply(other, NetConfig);
        var act = () => VectorFitAdapter.Load(other, path);

        act.Should().Throw<AdapterMismatchException>()
            .Which.Problems.Should().ContainSingle().Which.Should().StartWith("base tensor 'bn.running_mean' holds different values")
            .And.Contain("buffer").And.Contain("ModulesToSave").And.Contain("fingerprintBuffers: false");
        VectorFitAdapter.ReadInfo(path).FingerprintsBuffers.Should().BeTrue();
        VectorFitAdapter.ReadInfo(optedOut).FingerprintsBuffers.Should().BeFalse();
        VectorFitAdapter.Load(other, optedOut); // the user opted out: the buffers are not compared
    }

    /// <summary>A byte flipped inside the fingerprint record is damage to the file, not a different base model.</summary>
    [Fact]
    public void Load_FlippedByteInTheFingerprintRecord_IsReportedAsCorrupt()
    {
        var path = SaveTrained(n: 8);
        var bytes = File.ReadAllBytes(path);
        var text = System.Text.Encoding.UTF8.GetString(bytes);
        var record = text.IndexOf("base_model", StringComparison.Ordinal);
        var at = text.IndexOf("sha256", record, StringComparison.Ordinal);
        at.Should().BeGreaterThan(record, "the fingerprint record holds exact checksums of base tensors");
        var digit = at + 6;
        while (!(char.IsAsciiHexDigitLower(text[digit]) && text[digit..(digit + 64)].All(char.IsAsciiHexDigitLower)))
        {
            digit++;
        }

        bytes[digit] = (byte)(bytes[digit] == (byte)'0' ? '1' : '0');
        File.WriteAllBytes(path, bytes);
        using var fresh = new Net(8, seed: 1);
        ModelSurgery.Apply(fresh, NetConfig);

        var act = () => VectorFitAdapter.Load(fresh, path);

        act.Should().Throw<AdapterFormatException>().WithMessage("*is corrupt: its adapter record*SHA-256 checksum*");
    }

    /// <summary>A head whose weight is the embedding's (LLaMA-style tied LM head) is trained through ModulesToSave and reloads.</summary>
    [Fact]
    public void TiedHeadInModulesToSave_SavesAndLoadsIntoAFreshCopy()
    {
        var path = Path.Combine(folder, "tied.safetensors");
        using var tokens = torch.tensor(new long[] { 1, 4, 2, 7 });
        Tensor expected;
        using (var model = new TiedLm(seed: 3))
        {
            var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = ["proj"], ModulesToSave = ["lm_head"] });
            TrainOneStep(model, m => m.forward(tokens));
            VectorFitAdapter.Save(model, report, path);
            using var noGrad = torch.no_grad();
            expected = model.forward(tokens);
        }

        using var fresh = new TiedLm(seed: 3);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        VectorFitAdapter.Load(fresh, path);

        using (torch.no_grad())
        using (expected)
        using (var actual = fresh.forward(tokens))
        {
            actual.allclose(expected, rtol: 0, atol: 0).Should().BeTrue("the tied embedding takes the trained head weight");
        }
    }

    /// <summary>
    /// Non-finite values, one policy: a frozen base tensor may hold any value (1e20, NaN: it is the user's base and is
    /// checksummed as bytes), but an adapter never holds NaN or ∞ — Save refuses to write one, and Load refuses to read one.
    /// </summary>
    [Theory]
    [InlineData(1e20, ScalarType.Float32)] // finite, but its square overflows float32
    [InlineData(double.NaN, ScalarType.Float64)]
    public void FrozenNonFiniteOrHugeBaseValue_SavesAndLoads(double value, ScalarType dtype)
    {
        var path = Path.Combine(folder, "odd-base.safetensors");
        using (var model = new Net(8, seed: 1, dtype))
        {
            SetFirst(model, "norm.weight", value);
            var report = ModelSurgery.Apply(model, NetConfig);
            VectorFitAdapter.Save(model, report, path);
        }

        using var fresh = new Net(8, seed: 1, dtype);
        SetFirst(fresh, "norm.weight", value);
        ModelSurgery.Apply(fresh, NetConfig);
        VectorFitAdapter.Load(fresh, path);
    }

    [Fact]
    public void NaNSigma_SaveRefusesAndWritesNothing_AndLoadRefusesAFileHoldingOne()
    {
        var path = Path.Combine(folder, "diverged.safetensors");
        using var model = new Net(8, seed: 1);
        var report = ModelSurgery.Apply(model, NetConfig);
        SetFirst(model, "proj.sigma", double.NaN);

        var save = () => VectorFitAdapter.Save(model, report, path);

        save.Should().Throw<InvalidOperationException>().WithMessage("*'proj.sigma'*NaN or infinite*diverged*Nothing was written*");
        File.Exists(path).Should().BeFalse();

        // A file that holds NaN anyway (an older version, or written by hand) is refused on load.
        var good = SaveTrained(n: 8);
        AdapterFiles.RewriteTensor(good, "proj.sigma", t => t.div(torch.zeros_like(t)));
        using var fresh = new Net(8, seed: 1);
        ModelSurgery.Apply(fresh, NetConfig);
        var load = () => VectorFitAdapter.Load(fresh, good);
        load.Should().Throw<AdapterFormatException>().WithMessage("*holds NaN or infinite values in*proj.sigma*not changed*");
    }

    public static TheoryData<string> NullFields => new() { "adapter", "base_model", "tensor_sha256", "adapter.layers", "adapter.modules_to_save", "base_model[0]" };

    [Theory]
    [MemberData(nameof(NullFields))]
    public void RecordWithANullField_IsAnAdapterFormatException(string field)
    {
        var path = SaveTrained(n: 8);
        RewriteRecord(path, record =>
        {
            switch (field)
            {
                case "adapter.layers":
                    record["adapter"]!["layers"] = null;
                    break;
                case "adapter.modules_to_save":
                    record["adapter"]!["modules_to_save"] = null;
                    break;
                case "base_model[0]":
                    record["base_model"]![0] = null;
                    break;
                default:
                    record[field] = null;
                    break;
            }
        });
        using var fresh = new Net(8, seed: 1);
        ModelSurgery.Apply(fresh, NetConfig);

        var load = () => VectorFitAdapter.Load(fresh, path);
        var read = () => VectorFitAdapter.ReadInfo(path);

        load.Should().Throw<AdapterFormatException>().WithMessage("*corrupt adapter record*");
        read.Should().Throw<AdapterFormatException>().WithMessage("*corrupt adapter record*");
    }

    private sealed class TiedLm : nn.Module<Tensor, Tensor>
    {
        private readonly Embedding embed;
        private readonly nn.Module<Tensor, Tensor> proj;
        private readonly Linear lm_head;

        public TiedLm(long seed) : base(nameof(TiedLm))
        {
            torch.manual_seed(seed);
            embed = nn.Embedding(10, 6, dtype: ScalarType.Float64);
            proj = nn.Linear(6, 6, dtype: ScalarType.Float64);
            lm_head = nn.Linear(6, 10, hasBias: false, dtype: ScalarType.Float64);
            lm_head.weight = embed.weight!; // tied
            RegisterComponents();
        }

        public override Tensor forward(Tensor tokens)
        {
            using var e = embed.forward(tokens);
            using var h = proj.forward(e);
            return lm_head.forward(h);
        }
    }

    private string SaveTrained(int n)
    {
        var path = Path.Combine(folder, $"net-{Guid.NewGuid():N}.safetensors");
        using var model = new Net(n, seed: 1);
        var report = ModelSurgery.Apply(model, NetConfig);
        using var x = torch.randn(4, n, dtype: ScalarType.Float64);
        TrainOneStep(model, m => m.forward(x));
        VectorFitAdapter.Save(model, report, path);
        return path;
    }

    private static void TrainOneStep<T>(T model, Func<T, Tensor> forward)
        where T : nn.Module
    {
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = torch.optim.Adam(trainable, lr: 0.05);
        using var scope = torch.NewDisposeScope();
        var loss = forward(model).square().mean();
        loss.backward();
        optimizer.step();
    }

    private static void SetFirst(nn.Module model, string name, double value)
    {
        using var noGrad = torch.no_grad();
        var tensor = model.named_parameters().Single(p => p.name == name).parameter;
        using var flat = tensor.view(-1);
        using var first = flat[0];
        first.fill_(Scalar(value));
    }

    private static Scalar Scalar(double value) => value.ToScalar();

    private static void RewriteRecord(string path, Action<JsonNode> change)
    {
        Dictionary<string, string> metadata;
        using (var reader = SafetensorsReader.Open(path))
        {
            metadata = reader.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        }

        var record = JsonNode.Parse(metadata["vectorfit"])!;
        change(record);
        metadata["vectorfit"] = record.ToJsonString();
        metadata["vectorfit_sha256"] = AdapterDocument.Checksum(metadata["vectorfit"]); // well-formed file, malformed record
        var tensors = SafetensorsReader.Load(path);
        SafetensorsWriter.Save(path, tensors, metadata);
        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }
}
