using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Serialization;
using VectorFit.Tests.Models;
using VectorFit.Tests.Surgery;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// SVFT adapters in the same file format: the entries of M with their positions, the biases and the head. The "trained"
/// model took one AdamW step, so a load that did nothing would be caught (its logits differ from the base model's by
/// more than 1e-3); a faithful load reproduces the logits exactly.
/// </summary>
[Collection("libtorch")]
public sealed class SvftAdapterTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("svft-adapter-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    public static TheoryData<string, int> Patterns => new() { { "Plain", 0 }, { "Banded", 2 }, { "Random", 2 }, { "TopK", 1 } };

    [Theory]
    [MemberData(nameof(Patterns))]
    public void SaveThenLoadOntoAFreshCopy_ReproducesTheTrainedOutputs(string kind, int d)
    {
        var config = ConfigFor(SvftLinearTests.PatternOf(kind, d));
        var path = SaveTrained(config, out var trainedLogits);
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
    public void File_HoldsValuesWithTheirInt64Positions_BiasesAndTheHead_AndRecordsThePattern()
    {
        var path = SaveTrained(ConfigFor(SvftPattern.Banded(2)), out var logits);
        logits.Dispose();

        using var reader = SafetensorsReader.Open(path);
        var names = reader.Tensors.Select(t => t.Name).ToList();
        names.Should().HaveCount((12 * 4) + 2);
        names.Should().Contain(new[]
        {
            "encoder.layer.0.attention.self.query.svft_values", "encoder.layer.0.attention.self.query.svft_rows",
            "encoder.layer.0.attention.self.query.svft_cols", "encoder.layer.1.output.dense.bias", "classifier.weight",
        });
        names.Should().NotContain(n => n.EndsWith(".U", StringComparison.Ordinal) || n.EndsWith(".V", StringComparison.Ordinal) || n.EndsWith(".sigma", StringComparison.Ordinal) || n.EndsWith(".frozen_sigma", StringComparison.Ordinal));
        reader.Tensors.Where(t => t.Name.EndsWith(".svft_rows", StringComparison.Ordinal)).Should().OnlyContain(t => t.DType == "I64" && t.ElementCount == 34);
        reader.Tensors.Where(t => t.Name.EndsWith(".svft_values", StringComparison.Ordinal)).Sum(t => t.ElementCount).Should().Be(12 * 34);

        var info = VectorFitAdapter.ReadInfo(path);
        info.Method.Should().Be(AdaptationMethod.Svft);
        info.SvftPattern.Should().Be(SvftPattern.Banded(2));
        info.UsesAvf.Should().BeFalse();
        info.Layers.Should().OnlyContain(l => l.Method == AdaptationMethod.Svft && l.SvftPattern == SvftPattern.Banded(2) && l.SvftValueCount == 34);
        info.ToSurgeryConfig().Should().Match<VectorFitConfig>(c => c.Method == new SvftMethod { Pattern = SvftPattern.Banded(2) });
    }

    [Theory]
    [InlineData("Banded", 1, "Banded(d=1)")]
    [InlineData("Random", 2, "Random(d=2, seed=11)")]
    public void Load_OntoAModelWithAnotherPattern_ThrowsMismatch_AndChangesNothing(string kind, int d, string modelPattern)
    {
        var saved = kind == "Random" ? SvftPattern.Random(2, seed: 5) : SvftPattern.Banded(2);
        var path = SaveTrained(ConfigFor(saved), out var logits);
        logits.Dispose();
        using var other = new TinyBert(seed: 1);
        ModelSurgery.Apply(other, ConfigFor(SvftLinearTests.PatternOf(kind, d)));

        AssertLoadFailsAndChangesNothing<AdapterMismatchException>(other, path,
            $"*its adapted layers do not match the model's (12 difference(s))*'encoder.layer.0.attention.self.query' has SVFT pattern {modelPattern} in the model but {saved} in the adapter*");
    }

    [Fact]
    public void Load_OntoAVectorFitModel_ThrowsMismatch_NamingBothMethods()
    {
        var path = SaveTrained(ConfigFor(SvftPattern.Banded(1)), out var logits);
        logits.Dispose();
        using var vectorFit = new TinyBert(seed: 1);
        ModelSurgery.Apply(vectorFit, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } });

        AssertLoadFailsAndChangesNothing<AdapterMismatchException>(vectorFit, path,
            "*'encoder.layer.0.attention.self.query' is an SvftLinear in the adapter but a VectorFitLinear in the model (adapt the model with Method = Svft)*");
    }

    [Fact]
    public void Load_TakesTheFilesRandomPositions_SoTheyReloadExactlyEvenIfDrawnDifferently()
    {
        var path = SaveTrained(ConfigFor(SvftPattern.Random(2, seed: 5)), out var trainedLogits);
        using var trained = trainedLogits;
        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        var query = ModelSurgery.FindLayers<SvftLinear>(fresh).First().layer;
        var drawn = query.svft_cols.data<long>().ToArray();
        Set(query.svft_cols, drawn.Select(c => (double)((c + 1) % 8)).ToArray()); // as if another version had drawn other positions

        VectorFitAdapter.Load(fresh, path);

        query.svft_cols.data<long>().ToArray().Should().Equal(drawn);
        using var tokens = TinyBert.Tokens(5);
        using var loaded = fresh.forward(tokens);
        MaxAbsDiff(loaded, trained).Should().Be(0);
    }

    [Fact]
    public void Load_OntoABaseWithScaledWeights_NamesTheFrozenSigma()
    {
        // Scaling a weight by 2 keeps U and V (and so U·Vᵀ) and doubles σ, which SVFT keeps frozen outside the file; the
        // fingerprint names the base weight, whose exact checksum differs (σ's probe is not reported on top of it).
        var path = SaveTrained(ConfigFor(SvftPattern.Banded(1)), out var logits);
        logits.Dispose();
        using var scaled = new TinyBert(seed: 1);
        using (torch.no_grad())
        {
            scaled.named_parameters().Single(p => p.name == "encoder.layer.1.attention.self.value.weight").parameter.mul_(2.0);
        }

        ModelSurgery.Apply(scaled, ConfigFor(SvftPattern.Banded(1)));

        var act = () => VectorFitAdapter.Load(scaled, path);

        act.Should().Throw<AdapterMismatchException>().Which.Problems.Should().ContainSingle()
            .Which.Should().StartWith("base tensor 'encoder.layer.1.attention.self.value.weight' holds different values");
    }

    [Theory]
    [InlineData("Banded", "*is corrupt: its SVFT entry positions contradict its recorded patterns*'encoder.layer.0.attention.self.query' records positions for its Banded(d=1) entries that are not the band |i - j| <= 1*")]
    [InlineData("Random", "*is corrupt*'encoder.layer.0.attention.self.query' records positions outside its 8 × 8 matrix M*")]
    public void Load_FileWithImpossiblePositions_ThrowsFormatException_AndChangesNothing(string kind, string message)
    {
        var pattern = kind == "Random" ? SvftPattern.Random(1, seed: 3) : SvftPattern.Banded(1);
        var path = SaveTrained(ConfigFor(pattern), out var logits);
        logits.Dispose();
        AdapterFiles.RewriteTensor(path, "encoder.layer.0.attention.self.query.svft_cols", cols => kind == "Random" ? cols.add(8) : cols.add(1).remainder(8));
        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, ConfigFor(pattern));

        AssertLoadFailsAndChangesNothing<AdapterFormatException>(fresh, path, message);
    }

    private static VectorFitConfig ConfigFor(SvftPattern pattern) => new()
    {
        Method = new SvftMethod { Pattern = pattern },
        ModulesToSave = new[] { "classifier" },
        // Top-k needs square layers: q, k, v, o only.
        Preset = pattern.Kind == SvftPatternKind.TopK ? null : TargetPreset.Bert,
        TargetSuffixes = pattern.Kind == SvftPatternKind.TopK ? new[] { "query", "key", "value", "attention.output.dense" } : Array.Empty<string>(),
    };

    /// <summary>Adapts a seed-1 TinyBert, trains one AdamW step, saves it, and returns the logits on tokens of seed 5.</summary>
    private string SaveTrained(VectorFitConfig config, out Tensor logits)
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, config);
        using (var trainTokens = TinyBert.Tokens(6))
        {
            SvftSurgeryTests.TrainOneStep(model, trainTokens);
        }

        var path = Path.Combine(_folder, $"svft-{Guid.NewGuid():N}.safetensors");
        VectorFitAdapter.Save(model, report, path);
        using var tokens = TinyBert.Tokens(5);
        logits = model.forward(tokens);
        return path;
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
