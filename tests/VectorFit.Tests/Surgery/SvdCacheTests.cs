using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Serialization;
using VectorFit.Surgery;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// <see cref="ModelSurgery.ApplyWithSvdCache"/>: a surgery that reads its SVDs from the cache builds layers bit-identical
/// (every element of every state_dict tensor, and σ₀) to one that computes them; a weight that changed misses the cache;
/// a file that is not a cache is refused with the fix, leaving the model unchanged.
/// </summary>
[Collection("libtorch")]
public sealed class SvdCacheTests : IDisposable
{
    private static readonly VectorFitConfig Config = new() { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } };

    private readonly string _folder = Directory.CreateTempSubdirectory("vf-svd-cache-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(AdaptationMethod.VectorFit)]
    [InlineData(AdaptationMethod.Svft)]
    public void CachedSurgery_BuildsLayersBitIdenticalToUncached(AdaptationMethod method)
    {
        var config = Config with { Method = AdapterMethod.For(method) };
        var path = Path.Combine(_folder, "base.svd.safetensors");
        using var uncached = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        using var cold = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        using var warm = new TinyBert(seed: 1, dtype: ScalarType.Float32);

        ModelSurgery.Apply(uncached, config);
        ModelSurgery.ApplyWithSvdCache(cold, config, path);
        File.Exists(path).Should().BeTrue("the first cached surgery writes the file");
        var written = File.GetLastWriteTimeUtc(path);
        ModelSurgery.ApplyWithSvdCache(warm, config, path);

        File.GetLastWriteTimeUtc(path).Should().Be(written, "a surgery that found every SVD in the file does not rewrite it");
        AssertBitIdentical(uncached, cold);
        AssertBitIdentical(uncached, warm);
        using var tokens = TinyBert.Tokens(seed: 3);
        using var expected = uncached.forward(tokens);
        using var actual = warm.forward(tokens);
        Values(actual).Should().Equal(Values(expected));
    }

    [Fact]
    public void CachedSurgeryWithAFactorDType_IsBitIdenticalToUncached_AndKeptApartFromTheWeightDTypeEntries()
    {
        var narrow = Config with { FactorDType = ScalarType.BFloat16 };
        var path = Path.Combine(_folder, "base.svd.safetensors");
        using var plainCold = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        using var uncached = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        using var cold = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        using var warm = new TinyBert(seed: 1, dtype: ScalarType.Float32);

        // A float32-factor entry for every weight first: the bf16 surgery must not take it (that would round twice).
        ModelSurgery.ApplyWithSvdCache(plainCold, Config, path);
        ModelSurgery.Apply(uncached, narrow);
        ModelSurgery.ApplyWithSvdCache(cold, narrow, path);
        ModelSurgery.ApplyWithSvdCache(warm, narrow, path);

        AssertBitIdentical(uncached, cold);
        AssertBitIdentical(uncached, warm);
        ModelSurgery.FindLayers<VectorFitLinear>(warm).Should().OnlyContain(l => l.layer.U.dtype == ScalarType.BFloat16 && l.layer.V.dtype == ScalarType.BFloat16);
        using var reader = SafetensorsReader.Open(path);
        reader.Tensors.Count(t => t.Name.EndsWith("-factors-BF16.U", StringComparison.Ordinal)).Should().Be(ModelSurgery.FindLayers<VectorFitLinear>(warm).Count);
    }

    [Fact]
    public void WarmCache_ReadsEveryDecomposition_AndComputesNone()
    {
        var path = Path.Combine(_folder, "base.svd.safetensors");
        using (var cold = new TinyBert(seed: 1, dtype: ScalarType.Float32))
        {
            ModelSurgery.ApplyWithSvdCache(cold, Config, path);
        }

        using var model = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        var weights = model.named_modules().Where(m => m.module is Linear && m.name.Contains("encoder", StringComparison.Ordinal))
            .Select(m => ((Linear)m.module).weight!).ToList();
        weights.Should().HaveCount(12);
        using var cache = SvdCache.Open(path);
        foreach (var weight in weights)
        {
            using var svd = cache.Get(weight, "weight");
        }

        cache.Hits.Should().Be(12);
        cache.Misses.Should().Be(0);
    }

    [Fact]
    public void ChangedWeight_MissesTheCache_AndGetsItsOwnDecomposition()
    {
        var path = Path.Combine(_folder, "base.svd.safetensors");
        using (var original = new TinyBert(seed: 1, dtype: ScalarType.Float32))
        {
            ModelSurgery.ApplyWithSvdCache(original, Config, path);
        }

        using var changed = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        using var reference = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        foreach (var model in new[] { changed, reference })
        {
            // One element of one weight moves by 1e-3: a different base model, as far as the cache is concerned.
            var query = (Linear)model.named_modules().Single(m => m.name == "encoder.layer.0.attention.self.query").module;
            using var noGrad = torch.no_grad();
            using var w = query.weight!.view(-1);
            using var first = w[0];
            using var step = 1e-3.ToScalar();
            first.add_(step);
        }

        ModelSurgery.ApplyWithSvdCache(changed, Config, path);
        ModelSurgery.Apply(reference, Config);

        AssertBitIdentical(reference, changed);
        using var cache = SvdCache.Open(path);
        cache.Hits.Should().Be(0);
        using var reader = SafetensorsReader.Open(path);
        reader.Tensors.Should().HaveCount(3 * 13, "the file now holds the 12 original decompositions and the changed weight's");
    }

    [Fact]
    public void FileThatIsNotACache_IsRefusedWithTheFix_AndTheModelIsUnchanged()
    {
        var path = Path.Combine(_folder, "adapter.safetensors");
        using (var t = torch.zeros(2))
        {
            SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = t });
        }

        using var model = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        var act = () => ModelSurgery.ApplyWithSvdCache(model, Config, path);

        act.Should().Throw<ArgumentException>().WithMessage("*is a safetensors file but not a VectorFit SVD cache*Pass another path*");
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().BeEmpty();
    }

    [Fact]
    public void GarbageFile_IsRefusedWithTheFix()
    {
        var path = Path.Combine(_folder, "garbage.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        using var model = new TinyBert(seed: 1, dtype: ScalarType.Float32);

        var act = () => ModelSurgery.ApplyWithSvdCache(model, Config, path);

        act.Should().Throw<ArgumentException>().WithMessage("*is not a readable SVD cache*Delete it*");
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().BeEmpty();
    }

    private static void AssertBitIdentical(nn.Module expected, nn.Module actual)
    {
        var want = expected.state_dict();
        var have = actual.state_dict();
        have.Keys.Should().Equal(want.Keys);
        foreach (var key in want.Keys)
        {
            have[key].dtype.Should().Be(want[key].dtype, key);
            Values(have[key]).Should().Equal(Values(want[key]), $"'{key}' must be bit-identical");
        }

        var sigmas = ModelSurgery.FindLayers<VectorFitLinear>(expected).Zip(ModelSurgery.FindLayers<VectorFitLinear>(actual));
        foreach (var (a, b) in sigmas)
        {
            Values(b.layer.initial_sigma).Should().Equal(Values(a.layer.initial_sigma), $"σ₀ of '{a.name}'");
            // The cache hands the weight's hash (its key) to the layer instead of hashing twice: the same record.
            b.layer.SourceWeight.Should().NotBeNull().And.Be(a.layer.SourceWeight, $"the base-weight record of '{a.name}'");
        }

        var svftLayers = ModelSurgery.FindLayers<SvftLinear>(expected).Zip(ModelSurgery.FindLayers<SvftLinear>(actual));
        foreach (var (a, b) in svftLayers)
        {
            b.layer.SourceWeight.Should().NotBeNull().And.Be(a.layer.SourceWeight, $"the base-weight record of '{a.name}'");
        }
    }
}
