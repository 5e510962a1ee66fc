using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Many adapters on one base (<see cref="AdapterBank"/>): a swap gives exactly a fresh load's outputs and allocates nothing; a
/// routed batch gives each row its own adapter's outputs and gradients; every bad input is refused with the model and bank unchanged.
/// The adapters are the base with σ, b and the head perturbed by seeded noise (0.1·N(0, 1)), so they differ from the base and from
/// each other by more than 1e-3 (checked), and a route that used the wrong adapter would fail.
/// </summary>
/// <remarks>
/// Tolerances (float64 TinyBert): a routed row goes through the factored path <c>((x·V) ⊙ σ)·Uᵀ + b</c> while the single-adapter model
/// uses the composed weight, so they agree to round-off, 1e-10 (observed ~1e-15); gradients likewise 1e-10. A swap is compared bit for bit.
/// </remarks>
[Collection("libtorch")]
public sealed class AdapterBankTests : IDisposable
{
    internal static readonly VectorFitConfig BertConfig = new() { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } };
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-bank-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Activate_GivesBitForBitTheOutputsOfAFreshLoad()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12) };
        using var tokens = TinyBert.Tokens(5);
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]).Should().Be(1);
        bank.Load("b", paths[1]).Should().Be(2);
        bank.Names.Should().Equal("base", "a", "b");

        using var baseLogits = model.forward(tokens);
        foreach (var (name, path) in new[] { ("a", paths[0]), ("b", paths[1]), ("a", paths[0]) })
        {
            bank.Activate(name);
            bank.ActiveAdapter.Should().Be(name);
            using var logits = model.forward(tokens);
            using var fresh = Adapted(out _);
            VectorFitAdapter.Load(fresh, path);
            using var expected = fresh.forward(tokens);
            MaxAbsDiff(logits, baseLogits).Should().BeGreaterThan(1e-3, "the adapter must change the outputs, or the check could not fail");
            MaxAbsDiff(logits, expected).Should().Be(0, $"activating '{name}' is a fresh load of it");
        }

        bank.Activate(AdapterBank.BaseName);
        using var back = model.forward(tokens);
        MaxAbsDiff(back, baseLogits).Should().Be(0);
    }

    [Fact]
    public void Activate_AllocatesNoNativeTensor()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12) };
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);
        bank.Activate("a");

        var stats = DisposeScopeManager.Statistics;
        var live = stats.ThreadTotalLiveCount;
        var created = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
        for (var i = 0; i < 10; i++)
        {
            bank.Activate(i % 2 == 0 ? "b" : "a");
        }

        (stats.ThreadTotalLiveCount - live).Should().Be(0, "a swap leaves no tensor behind");
        (stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - created).Should().Be(0, "a swap creates no tensor handle at all");
    }

    [Fact]
    public void RoutedBatch_EachRowEqualsItsAdapterLoadedAlone()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12), SaveAdapter(13) };
        var rows = new[] { 0, 2, 1, 3, 2, 0, 1 };
        using var tokens = TinyBert.Tokens(7, batch: rows.Length);
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        for (var k = 0; k < paths.Length; k++)
        {
            bank.Load($"task{k}", paths[k]);
        }

        bank.Activate("task1"); // the route must not read the active adapter
        Tensor routed;
        using (bank.Route(rows))
        {
            routed = model.forward(tokens);
        }

        using (routed)
        {
            for (var k = 0; k <= paths.Length; k++)
            {
                using var alone = Adapted(out _);
                if (k > 0)
                {
                    VectorFitAdapter.Load(alone, paths[k - 1]);
                }

                using var expected = alone.forward(tokens);
                for (var r = 0; r < rows.Length; r++)
                {
                    using var got = routed[r];
                    using var want = expected[r];
                    var difference = MaxAbsDiff(got, want);
                    if (rows[r] == k)
                    {
                        difference.Should().BeLessThan(1e-10, $"row {r} uses adapter {k}");
                    }
                    else
                    {
                        difference.Should().BeGreaterThan(1e-3, $"row {r} does not use adapter {k}, so the check can fail");
                    }
                }
            }
        }
    }

    [Fact]
    public void RoutedBatch_InFloat32_IsWithin1e5OfEachAdapterMergedToLinear()
    {
        var paths = new[] { SaveAdapter(11, ScalarType.Float32), SaveAdapter(12, ScalarType.Float32) };
        var rows = new[] { 1, 2, 0, 2 };
        using var tokens = TinyBert.Tokens(7, batch: rows.Length);
        using var model = Adapted(out var report, ScalarType.Float32);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);
        Tensor routed;
        using (torch.no_grad())
        using (bank.Route(rows))
        {
            routed = model.forward(tokens);
        }

        using (routed)
        {
            for (var r = 0; r < rows.Length; r++)
            {
                using var merged = Adapted(out _, ScalarType.Float32);
                if (rows[r] > 0)
                {
                    VectorFitAdapter.Load(merged, paths[rows[r] - 1]);
                }

                ModelSurgery.MergeAndUnload(merged);
                using var expected = merged.forward(tokens);
                using var got = routed[r];
                using var want = expected[r];
                MaxAbsDiff(got, want).Should().BeLessThan(1e-5, "float32 round-off of two evaluation orders");
            }
        }
    }

    [Fact]
    public void RoutedBatch_WithBFloat16Factors_EachRowEqualsItsAdapterLoadedAlone()
    {
        // The routed path converts the stored bf16 U and V to float32 like the layer's own paths: same function, float32 round-off.
        var config = BertConfig with { FactorDType = ScalarType.BFloat16 };
        var paths = new[] { SaveAdapter(21, ScalarType.Float32, config: config), SaveAdapter(22, ScalarType.Float32, config: config) };
        var rows = new[] { 2, 1, 0, 1 };
        using var tokens = TinyBert.Tokens(7, batch: rows.Length);
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var report = ModelSurgery.Apply(model, config);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);
        Tensor routed;
        using (torch.no_grad())
        using (bank.Route(rows))
        {
            routed = model.forward(tokens);
        }

        using (routed)
        {
            for (var r = 0; r < rows.Length; r++)
            {
                using var alone = new TinyBert(seed: 1, ScalarType.Float32);
                ModelSurgery.Apply(alone, config);
                if (rows[r] > 0)
                {
                    VectorFitAdapter.Load(alone, paths[rows[r] - 1]);
                }

                using var noGrad = torch.no_grad();
                using var expected = alone.forward(tokens);
                using var got = routed[r];
                using var want = expected[r];
                MaxAbsDiff(got, want).Should().BeLessThan(1e-5, "float32 round-off of two evaluation orders");
            }

            using var baseModel = new TinyBert(seed: 1, ScalarType.Float32);
            ModelSurgery.Apply(baseModel, config);
            using var noGradBase = torch.no_grad();
            using var baseOutput = baseModel.forward(tokens);
            using var adapted = routed[0];
            using var plain = baseOutput[0];
            MaxAbsDiff(adapted, plain).Should().BeGreaterThan(1e-3, "the adapters change the outputs, so a route that ignored them fails");
        }
    }

    [Fact]
    public void RoutedTraining_GivesEachAdapterTheGradientsOfABatchOfItsRowsAlone()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12) };
        var rows = new[] { 1, 2, 2, 0, 1, 1 };
        using var tokens = TinyBert.Tokens(7, batch: rows.Length);
        torch.manual_seed(3);
        using var labels = torch.randint(0, TinyBert.Classes, new long[] { rows.Length }, dtype: ScalarType.Int64);
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);

        // Convention: the sum over adapters of the mean loss of each adapter's rows.
        using (var scope = torch.NewDisposeScope())
        using (bank.Route(rows))
        {
            var logits = model.forward(tokens);
            Tensor? loss = null;
            foreach (var k in rows.Distinct())
            {
                var index = torch.tensor(Enumerable.Range(0, rows.Length).Where(r => rows[r] == k).Select(r => (long)r).ToArray());
                var part = nn.functional.cross_entropy(logits.index_select(0, index), labels.index_select(0, index));
                loss = loss is null ? part : loss.add(part, One);
            }

            loss!.backward();
        }

        foreach (var (name, k) in new[] { ("a", 1), ("b", 2) })
        {
            var mine = Enumerable.Range(0, rows.Length).Where(r => rows[r] == k).Select(r => (long)r).ToArray();
            using var alone = Adapted(out _);
            VectorFitAdapter.Load(alone, paths[k - 1]);
            using (var scope = torch.NewDisposeScope())
            {
                var index = torch.tensor(mine);
                nn.functional.cross_entropy(alone.forward(tokens.index_select(0, index)), labels.index_select(0, index)).backward();
            }

            var expected = alone.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.grad!);
            var tensors = bank.GetTensors(name);
            tensors.Should().HaveCount(expected.Count);
            expected.Values.Count(g => MaxAbs(g) > 1e-6).Should().BeGreaterThan(expected.Count - 3, "the gradients are real (a key bias has none: softmax ignores it), so the check can fail");
            foreach (var (key, tensor) in tensors)
            {
                tensor.grad.Should().NotBeNull($"{name}: {key} trains");
                MaxAbsDiff(tensor.grad!, expected[key]).Should().BeLessThan(1e-10, $"{name}: {key}");
            }
        }

        bank.GetTensors(AdapterBank.BaseName).Select(t => t.tensor.grad).Should().AllSatisfy(g => g.Should().BeNull(), "the base row does not train");
    }

    [Fact]
    public void Mixture_EqualsTheCombinedAdapter_AndItsSavedFile()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12) };
        using var tokens = TinyBert.Tokens(7, batch: 3);
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);
        bank.Combine("mix", [("a", 0.3), ("b", 0.5)]).Should().Be(3);

        Tensor fromMixture;
        using (var weights = torch.tensor(new double[] { 0.2, 0.3, 0.5, 0, 0.2, 0.3, 0.5, 0, 0.2, 0.3, 0.5, 0 }).reshape(3, 4))
        using (bank.RouteMixture(weights))
        {
            fromMixture = model.forward(tokens);
        }

        bank.Activate("mix");
        using var combined = model.forward(tokens);
        using (fromMixture)
        {
            bank.Activate("a");
            using var onlyA = model.forward(tokens);
            MaxAbsDiff(onlyA, combined).Should().BeGreaterThan(1e-3, "the mixture differs from its parts, so the check can fail");
            MaxAbsDiff(fromMixture, combined).Should().BeLessThan(1e-10);
        }

        var path = Path.Combine(_folder, "mix.safetensors");
        bank.Save("mix", path);
        bank.ActiveAdapter.Should().Be("a", "saving reactivates the adapter that was active");
        using var fresh = Adapted(out _);
        VectorFitAdapter.Load(fresh, path);
        using var loaded = fresh.forward(tokens);
        MaxAbsDiff(loaded, combined).Should().Be(0);
    }

    [Fact]
    public void MixedRowsOfMixturesAndSingleAdapters_EachRowEqualsItsOwnCombination()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12) };
        using var tokens = TinyBert.Tokens(7, batch: 3);
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);
        bank.Combine("mix", [("a", 0.6), ("b", 0.4)]);
        Tensor mixed;
        using (var weights = torch.tensor(new double[] { 0, 1, 0, 0, 0, 0.6, 0.4, 0, 0, 0, 0, 1 }).reshape(3, 4))
        using (bank.RouteMixture(weights))
        {
            mixed = model.forward(tokens);
        }

        using (mixed)
        {
            foreach (var (row, name) in new[] { (0, "a"), (1, "mix"), (2, "mix") })
            {
                bank.Activate(name);
                using var expected = model.forward(tokens);
                using var got = mixed[row];
                using var want = expected[row];
                MaxAbsDiff(got, want).Should().BeLessThan(1e-10, $"row {row} is {name}");
            }
        }
    }

    [Fact]
    public void Combine_Ties_Dare_Prune_MatchAStraightforwardReference()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12), SaveAdapter(13) };
        using var model = Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        for (var k = 0; k < paths.Length; k++)
        {
            bank.Load($"t{k}", paths[k]);
        }

        var weights = new[] { 0.5, 0.3, 0.7 };
        var named = weights.Select((w, k) => ($"t{k}", w)).ToList();
        bank.Combine("sum", named);
        bank.Ties("ties", named, density: 0.5);
        bank.Dare("dare", named, density: 0.6, seed: 42);
        bank.Dare("dare-again", named, density: 0.6, seed: 42);
        bank.Dare("dare-other", named, density: 0.6, seed: 43);
        bank.Prune("pruned", "t1", density: 0.25);

        // Reference: plain loops over host values, in the bank's tensor order (σ of every layer, then b, then the head).
        var keys = Ordered(bank, AdapterBank.BaseName).Select(t => t.key).ToList();
        var theta0 = Ordered(bank, AdapterBank.BaseName).Select(t => Values(t.tensor)).ToList();
        var taus = Enumerable.Range(0, 3).Select(k => Ordered(bank, $"t{k}").Select((t, p) => Values(t.tensor).Select((v, i) => v - theta0[p][i]).ToArray()).ToList()).ToList();
        using var generator = new torch.Generator(42);
        for (var p = 0; p < keys.Count; p++)
        {
            var n = theta0[p].Length;
            var sum = new double[n];
            var ties = new double[n];
            var dare = new double[n];
            var trimmed = taus.Select(t => TopMagnitude(t[p], 0.5)).ToList();
            var masks = Enumerable.Range(0, 3).Select(_ =>
            {
                using var draw = torch.rand(new long[] { n }, ScalarType.Float64, generator: generator);
                return Values(draw).Select(u => u < 0.6 ? 1.0 : 0.0).ToArray();
            }).ToList();
            for (var i = 0; i < n; i++)
            {
                var elected = trimmed.Sum(t => t[i]) >= 0 ? 1.0 : -1.0;
                double agreeing = 0, count = 0;
                for (var k = 0; k < 3; k++)
                {
                    sum[i] += weights[k] * taus[k][p][i];
                    dare[i] += weights[k] * taus[k][p][i] * masks[k][i] / 0.6;
                    if (Math.Sign(trimmed[k][i]) == (int)elected)
                    {
                        agreeing += weights[k] * trimmed[k][i];
                        count++;
                    }
                }

                ties[i] = agreeing / Math.Max(count, 1);
            }

            var pruned = TopMagnitude(taus[1][p], 0.25);
            foreach (var (name, reference) in new[] { ("sum", sum), ("ties", ties), ("dare", dare), ("pruned", pruned) })
            {
                var got = Values(Ordered(bank, name)[p].tensor);
                var worst = got.Select((v, i) => Math.Abs(v - (theta0[p][i] + reference[i]))).Max();
                worst.Should().BeLessThan(1e-12, $"{name}: {keys[p]}");
            }
        }

        Values(Ordered(bank, "ties")[0].tensor).Should().NotEqual(Values(Ordered(bank, "sum")[0].tensor), "TIES trims and elects, so it differs from the sum");
        for (var p = 0; p < keys.Count; p++)
        {
            Values(Ordered(bank, "dare-again")[p].tensor).Should().Equal(Values(Ordered(bank, "dare")[p].tensor), "the same seed gives the same adapter");
        }

        Ordered(bank, "dare-other").Select(t => Values(t.tensor)).SelectMany(v => v)
            .Should().NotEqual(Ordered(bank, "dare").Select(t => Values(t.tensor)).SelectMany(v => v), "another seed drops other entries");
    }

    [Fact]
    public void Unload_RenumbersTheAdaptersAfterIt_AndFallsBackToTheBase()
    {
        var paths = new[] { SaveAdapter(11), SaveAdapter(12) };
        using var tokens = TinyBert.Tokens(5);
        using var model = Adapted(out var report);
        using var baseLogits = model.forward(tokens);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", paths[0]);
        bank.Load("b", paths[1]);
        bank.Activate("a");
        bank.Unload("a");
        bank.Names.Should().Equal("base", "b");
        bank.IndexOf("b").Should().Be(1);
        bank.ActiveAdapter.Should().Be(AdapterBank.BaseName);
        using var logits = model.forward(tokens);
        MaxAbsDiff(logits, baseLogits).Should().Be(0);
    }

    [Fact]
    public void Dispose_PutsTheOriginalHeadBack_AndTheKeysNeverChange()
    {
        using var model = Adapted(out var report);
        var keys = model.state_dict().Keys.ToList();
        var head = model.named_modules().Single(m => m.name == "classifier").module;
        var bank = AdapterBank.Create(model, report);
        model.state_dict().Keys.Should().Equal(keys);
        model.named_modules().Single(m => m.name == "classifier").module.Should().NotBeSameAs(head, "the bank routes rows through a wrapper");
        bank.Dispose();
        model.named_modules().Single(m => m.name == "classifier").module.Should().BeSameAs(head);
        model.state_dict().Keys.Should().Equal(keys);
    }

    private static readonly Scalar One = 1.ToScalar();

    /// <summary>A freshly adapted TinyBert (seed 1, the base of every adapter here).</summary>
    internal static TinyBert Adapted(out SurgeryReport report, ScalarType dtype = ScalarType.Float64)
    {
        var model = new TinyBert(seed: 1, dtype);
        report = ModelSurgery.Apply(model, BertConfig);
        return model;
    }

    /// <summary>Saves the base with every trained tensor moved by 0.1·N(0, 1) noise seeded by <paramref name="seed"/>.</summary>
    internal string SaveAdapter(long seed, ScalarType dtype = ScalarType.Float64, long baseSeed = 1, VectorFitConfig? config = null)
    {
        using var model = new TinyBert(seed: baseSeed, dtype);
        var report = ModelSurgery.Apply(model, config ?? BertConfig);
        using (torch.no_grad())
        {
            var i = 0;
            foreach (var (_, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
            {
                using var noise = Seeded((seed * 1000) + i++, parameter.dtype, parameter.shape);
                using var tenth = 0.1.ToScalar();
                parameter.add_(noise, tenth);
            }
        }

        var path = Path.Combine(_folder, $"adapter-{seed}-{Guid.NewGuid():N}.safetensors");
        VectorFitAdapter.Save(model, report, path);
        return path;
    }

    private static List<(string key, Tensor tensor)> Ordered(AdapterBank bank, string name)
    {
        var all = bank.GetTensors(name);
        return all.Where(t => t.key.EndsWith(".sigma", StringComparison.Ordinal))
            .Concat(all.Where(t => !t.key.StartsWith("classifier", StringComparison.Ordinal) && t.key.EndsWith(".bias", StringComparison.Ordinal)))
            .Concat(all.Where(t => t.key.StartsWith("classifier", StringComparison.Ordinal)))
            .ToList();
    }

    private static double[] TopMagnitude(double[] values, double density)
    {
        var keep = (int)(density * values.Length);
        var kept = values.Select((v, i) => (v, i)).OrderByDescending(p => Math.Abs(p.v)).Take(keep).Select(p => p.i).ToHashSet();
        return values.Select((v, i) => kept.Contains(i) ? v : 0).ToArray();
    }
}
