using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Adaptive Vector Freezing per adapter in routed multi-task training (<see cref="AdapterBank.CreateAvfScheduler"/>): three adapters
/// trained together in mixed batches, each with its own scheduler, end exactly where each ends trained alone on a copy of the base with
/// <see cref="AvfScheduler.FromModel"/> on its own rows (one step per batch that holds its rows); schedulers refuse a gone adapter, and
/// the bank's save records the AVF steps as a model's save does.
/// </summary>
/// <remarks>
/// Tolerances (float64 TinyBert): the routed pass evaluates <c>((x·V) ⊙ σ[row])·Uᵀ + b[row]</c> while the model alone uses its own
/// path, so gradients agree to round-off (~1e-16 relative, see <see cref="AdapterBankTests"/>); over 12 steps the parameters agree to
/// 1e-10 and smoothed strengths to 1e-12. One exception, with AdamW: a key bias's gradient is 0 but for round-off (softmax ignores a key
/// bias), different round-off in each run, and AdamW divides it by <c>√v̂ + ε</c> ≈ ε, so each run moves a key bias by up to lr·|g|/ε per
/// step (≈1e-10 for |g| ≈ 1e-16: the same amplification that makes float32 round-off ±lr steps). Key biases are compared to that bound,
/// 2·steps·lr·max|g|/ε, with max|g| measured in both runs (and checked to be round-off, below 1e-12). Frozen sets are compared exactly.
/// </remarks>
[Collection("libtorch")]
public sealed class AdapterBankAvfTests : IDisposable
{
    private static readonly AvfOptions Schedule = new() { InitialStep = 3, Interval = 2, AvfSteps = 3, K = 5, Beta = 0.5 };

    // Per step, the adapter of each row (0: the base, which does not train). Adapter 3 sits out steps 2 and 6, adapter 2 step 4,
    // so the adapters take 12, 11 and 10 steps and reach their AVF steps (their own 3rd, 5th and 7th) at different batches.
    private static readonly int[][] Batches =
    [
        [1, 2, 3, 1, 0, 2], [1, 1, 2, 0, 2, 1], [3, 2, 1, 3, 1, 2], [1, 3, 0, 3, 1, 3], [2, 3, 1, 1, 3, 2], [1, 2, 0, 2, 1, 1],
        [3, 3, 2, 1, 2, 1], [2, 1, 3, 3, 0, 1], [1, 2, 3, 2, 3, 1], [3, 1, 2, 0, 1, 2], [2, 3, 3, 1, 1, 2], [1, 2, 3, 3, 2, 0],
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("vf-bank-avf-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("sgd-momentum")]
    [InlineData("adamw")]
    public void RoutedTrainingWithAvfPerAdapter_EqualsEachAdapterTrainedAloneWithItsScheduler(string optimizerName)
    {
        var paths = new[] { SaveAdapter(21), SaveAdapter(22), SaveAdapter(23) };
        var names = new[] { "a", "b", "c" };
        var data = Batches.Select((rows, t) => (Tokens: TinyBert.Tokens(100 + t, batch: rows.Length), Labels: Labels(200 + t, rows.Length))).ToList();
        try
        {
            using var model = AdapterBankTests.Adapted(out var report);
            using var bank = AdapterBank.Create(model, report);
            foreach (var (name, path) in names.Zip(paths))
            {
                bank.Load(name, path);
            }

            var schedulers = names.Select(n => bank.CreateAvfScheduler(n, Schedule)).ToArray();
            var optimizer = MakeOptimizer(optimizerName, names.SelectMany(bank.GetTrainableParameters));
            var frozenAfterLastAvfStep = new Dictionary<string, (string Key, double[] Value)[]>();
            var roundOffGradient = 0.0;
            for (var t = 0; t < Batches.Length; t++)
            {
                var rows = Batches[t];
                bank.ClearGradients();
                using (var scope = torch.NewDisposeScope())
                using (bank.Route(rows))
                {
                    var logits = model.forward(data[t].Tokens);
                    Tensor? loss = null;
                    foreach (var k in rows.Where(k => k > 0).Distinct())
                    {
                        var index = RowsOf(rows, k);
                        var part = nn.functional.cross_entropy(logits.index_select(0, index), data[t].Labels.index_select(0, index));
                        loss = loss is null ? part : loss.add(part, One);
                    }

                    loss!.backward();
                }

                roundOffGradient = Math.Max(roundOffGradient, names.SelectMany(bank.GetTensors).Where(p => IsKeyBias(p.key) && p.tensor.grad is not null).Select(p => MaxAbs(p.tensor.grad!)).DefaultIfEmpty(0).Max());
                optimizer.step();
                foreach (var k in rows.Where(k => k > 0).Distinct())
                {
                    var avf = schedulers[k - 1];
                    if (avf.step() && avf.NextAvfStep is null)
                    {
                        frozenAfterLastAvfStep[names[k - 1]] = avf.FrozenSet.Select(v => (v.Name, Values(v.Parameter))).ToArray();
                    }
                }
            }

            schedulers.Select(s => s.StepCount).Should().Equal([12L, 11L, 10L], "each adapter counts the batches that hold its rows");
            for (var a = 0; a < names.Length; a++)
            {
                var k = a + 1;
                using var alone = AdapterBankTests.Adapted(out var aloneReport);
                VectorFitAdapter.Load(alone, paths[a]);
                var aloneAvf = AvfScheduler.FromModel(alone, Schedule);
                var aloneOptimizer = MakeOptimizer(optimizerName, aloneReport.GetTrainableParameters());
                for (var t = 0; t < Batches.Length; t++)
                {
                    if (!Batches[t].Contains(k))
                    {
                        continue;
                    }

                    aloneOptimizer.zero_grad();
                    using (var scope = torch.NewDisposeScope())
                    {
                        var index = RowsOf(Batches[t], k);
                        nn.functional.cross_entropy(alone.forward(data[t].Tokens.index_select(0, index)), data[t].Labels.index_select(0, index)).backward();
                    }

                    roundOffGradient = Math.Max(roundOffGradient, alone.named_parameters().Where(p => IsKeyBias(p.name) && p.parameter.grad is not null).Select(p => MaxAbs(p.parameter.grad!)).DefaultIfEmpty(0).Max());

                    aloneOptimizer.step();
                    aloneAvf.step();
                }

                var routed = schedulers[a];
                var name = names[a];
                aloneAvf.AvfStepsTaken.Should().Be(Schedule.AvfSteps, "the schedule ran to its end, so the comparison covers freezing");
                aloneAvf.FrozenSet.Should().HaveCount(Schedule.K);
                routed.StepCount.Should().Be(aloneAvf.StepCount, name);
                routed.FrozenSet.Select(v => v.Name).Should().Equal(aloneAvf.FrozenSet.Select(v => v.Name), $"{name}: the same vectors are frozen");
                routed.Vectors.Select(v => v.Name).Should().Equal(aloneAvf.Vectors.Select(v => v.Name), $"{name}: the same vectors in the same tie-break order");
                // A key bias's gradient is 0 but for round-off (softmax ignores it), which AdamW turns into steps of up to lr·|g|/ε in each
                // run: over n steps the two runs differ by at most 2·n·lr·max|g|/ε there (weight decay shrinks both alike). SGD moves it by lr·|g|.
                roundOffGradient.Should().BeLessThan(1e-12, "a key bias's gradient is round-off only, which the bound below relies on");
                var keyBiasBound = optimizerName == "adamw" ? 2 * Batches.Length * Lr * roundOffGradient / Epsilon : 1e-10;
                for (var i = 0; i < routed.Vectors.Count; i++)
                {
                    var tolerance = IsKeyBias(routed.Vectors[i].Name) ? Math.Max(keyBiasBound, 1e-12) : 1e-12;
                    routed.Vectors[i].SmoothedStrength.Should().BeApproximately(aloneAvf.Vectors[i].SmoothedStrength, tolerance, $"{name}: S' of {routed.Vectors[i].Name}");
                }

                var expected = alone.state_dict();
                var moved = 0;
                using var start = AdapterBankTests.Adapted(out _);
                VectorFitAdapter.Load(start, paths[a]);
                var initial = start.state_dict();
                foreach (var (key, tensor) in bank.GetTensors(name))
                {
                    MaxAbsDiff(tensor, expected[key]).Should().BeLessThan(IsKeyBias(key) ? Math.Max(keyBiasBound, 1e-10) : 1e-10, $"{name}: {key}");
                    moved += MaxAbsDiff(tensor, initial[key]) > 1e-4 ? 1 : 0;
                }

                moved.Should().BeGreaterThan(bank.GetTensors(name).Count - 4, $"{name}: training moved its tensors, so the comparison can fail");

                // The last frozen set did not move at all after the last AVF step (Decided 3, 4), while the adapter kept training.
                foreach (var (key, value) in frozenAfterLastAvfStep[name])
                {
                    Values(bank.GetTensors(name).Single(p => p.key == key).tensor).Should().Equal(value, $"{name}: {key} is frozen");
                }
            }

            // Per adapter, not shared: the adapters froze different sets (their rows differ), which a shared flag could not express.
            schedulers.Select(s => string.Join(",", s.FrozenSet.Select(v => v.Name))).Distinct().Count().Should().BeGreaterThan(1);
        }
        finally
        {
            foreach (var (tokens, labels) in data)
            {
                tokens.Dispose();
                labels.Dispose();
            }
        }
    }

    [Fact]
    public void SaveFromTheBank_RecordsTheAvfStepsTaken_AndItsStateLoadsIntoAModelScheduler()
    {
        var path = SaveAdapter(31);
        using var model = AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", path);
        bank.Load("b", path);
        var avf = bank.CreateAvfScheduler("a", Schedule);
        var other = bank.CreateAvfScheduler("b", Schedule);
        using (var perturb = torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var i = 0;
            foreach (var (_, tensor) in bank.GetTensors("a"))
            {
                tensor.add_(Seeded(400 + i++, tensor.dtype, tensor.shape), One);
            }
        }

        for (var t = 0; t < 4; t++)
        {
            avf.step();
        }

        avf.AvfStepsTaken.Should().Be(1);
        avf.FrozenSet.Should().HaveCount(Schedule.K);
        avf.FrozenSet.Should().AllSatisfy(v => v.Parameter.requires_grad.Should().BeFalse());
        other.FrozenSet.Should().BeEmpty("b's scheduler did not step");
        bank.GetTrainableParameters("a").Should().HaveCount(bank.GetTensors("a").Count, "frozen vectors stay in the optimizer's list");

        var saved = Path.Combine(_folder, "a.safetensors");
        var result = bank.Save("a", saved, avf);
        result.Warning.Should().BeNull();
        var info = VectorFitAdapter.ReadInfo(saved);
        info.AvfOptions.Should().Be(Schedule);
        info.AvfStepsTaken.Should().Be(1);

        using var alone = AdapterBankTests.Adapted(out _);
        VectorFitAdapter.Load(alone, saved);
        var aloneAvf = AvfScheduler.FromModel(alone, Schedule);
        aloneAvf.load_state_dict(avf.state_dict());
        aloneAvf.FrozenSet.Select(v => v.Name).Should().Equal(avf.FrozenSet.Select(v => v.Name));
        aloneAvf.FrozenSet.Should().AllSatisfy(v => v.Parameter.requires_grad.Should().BeFalse());
    }

    [Fact]
    public void BadInputs_AreRefusedWithTheFix_AndChangeNothing()
    {
        var path = SaveAdapter(41);
        using var model = AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", path);
        bank.Load("b", path);

        bank.Invoking(b => b.CreateAvfScheduler(AdapterBank.BaseName, Schedule)).Should().Throw<ArgumentException>().WithMessage("*'base' is the base model's row*does not train*a, b*");
        bank.Invoking(b => b.CreateAvfScheduler("nope", Schedule)).Should().Throw<ArgumentException>().WithMessage("*no adapter named 'nope'*");
        bank.Invoking(b => b.CreateAvfScheduler("a", Schedule with { K = 25 })).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*K must be between 0 and 24*got 25*");

        var a = bank.CreateAvfScheduler("a", Schedule);
        var b = bank.CreateAvfScheduler("b", Schedule);
        a.AdapterName.Should().Be("a");
        var file = Path.Combine(_folder, "x.safetensors");
        bank.Invoking(x => x.Save("a", file, b)).Should().Throw<ArgumentException>().WithMessage("*is for the adapter 'b', not for 'a'*CreateAvfScheduler(\"a\"*Nothing was written*");
        var fromModel = AvfScheduler.FromModel(model, Schedule);
        bank.Invoking(x => x.Save("a", file, fromModel)).Should().Throw<ArgumentException>().WithMessage("*a model's own layers*");
        FluentActions.Invoking(() => VectorFitAdapter.Save(model, report, file, a)).Should().Throw<ArgumentException>().WithMessage("*for the adapter 'a' of an AdapterBank*bank.Save(\"a\", path, avf)*");
        File.Exists(file).Should().BeFalse();

        a.step();
        bank.Unload("a");
        a.Invoking(s => s.step()).Should().Throw<InvalidOperationException>().WithMessage("*adapter 'a'*unloaded*CreateAvfScheduler*");
        a.StepCount.Should().Be(1, "a refused step changes nothing");
        a.Invoking(s => s.TrainingStrength()).Should().Throw<InvalidOperationException>();
        b.step().Should().BeFalse("'b' moved up one index but its scheduler holds the adapter itself, not its index");
        b.StepCount.Should().Be(1);

        bank.Dispose();
        b.Invoking(s => s.step()).Should().Throw<InvalidOperationException>().WithMessage("*adapter 'b'*disposed*");
    }

    [Fact]
    public void RoutedLayers_SeeAnInPlaceChangeMadeWhileTheRouteIsOpen()
    {
        // A routed pass gathers every layer's σ and b once; a change after that gather (an optimizer step inside the route) must
        // still reach the next layer evaluated, which is what the version check guarantees.
        var path = SaveAdapter(51);
        using var model = AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        bank.Load("a", path);
        bank.Load("b", path);
        var layers = model.named_modules().Where(m => m.module is VectorFitLinear).Select(m => (VectorFitLinear)m.module).Take(2).ToArray();
        var rows = new[] { 1, 2, 1, 2 };
        using var x = Seeded(61, ScalarType.Float64, 4, TinyBert.Hidden);
        using var noGrad = torch.no_grad();
        Tensor routed;
        using (bank.Route(rows))
        {
            layers[0].forward(x).Dispose();
            var keySigma = bank.GetTensors("a").Single(p => p.key == "encoder.layer.0.attention.self.key.sigma").tensor;
            keySigma.add_(One);
            routed = layers[1].forward(x);
        }

        bank.Activate("a");
        using var expected = layers[1].forward(x);
        using var rowsOfA = torch.tensor(new long[] { 0, 2 });
        using var routedA = routed.index_select(0, rowsOfA);
        using var expectedA = expected.index_select(0, rowsOfA);
        routed.Dispose();
        MaxAbsDiff(routedA, expectedA).Should().BeLessThan(1e-10, "the route used a's σ as changed, not as gathered before the change");
    }

    private static readonly Scalar One = 1.ToScalar();

    private const double Lr = 0.01;
    private const double Epsilon = 1e-8;

    private static bool IsKeyBias(string name) => name.EndsWith(".attention.self.key.bias", StringComparison.Ordinal);

    private static optim.Optimizer MakeOptimizer(string name, IEnumerable<Parameter> parameters) => name switch
    {
        "sgd-momentum" => optim.SGD(parameters, 5 * Lr, momentum: 0.9),
        "adamw" => new VectorFit.Optim.AdamW(parameters, lr: Lr, eps: Epsilon, weight_decay: 0.1),
        _ => throw new ArgumentException(name),
    };

    private static Tensor RowsOf(int[] rows, int adapter)
        => torch.tensor(Enumerable.Range(0, rows.Length).Where(r => rows[r] == adapter).Select(r => (long)r).ToArray());

    private static Tensor Labels(long seed, int rows)
    {
        torch.manual_seed(seed);
        return torch.randint(0, TinyBert.Classes, new long[] { rows }, dtype: ScalarType.Int64);
    }

    /// <summary>Saves the base (TinyBert seed 1) with every trained tensor moved by 0.1·N(0, 1) noise seeded by <paramref name="seed"/>.</summary>
    private string SaveAdapter(long seed)
    {
        using var model = AdapterBankTests.Adapted(out var report);
        using (var scope = torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var i = 0;
            using var tenth = 0.1.ToScalar();
            foreach (var (_, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
            {
                parameter.add_(Seeded((seed * 1000) + i++, parameter.dtype, parameter.shape), tenth);
            }
        }

        var path = Path.Combine(_folder, $"adapter-{seed}.safetensors");
        VectorFitAdapter.Save(model, report, path);
        return path;
    }
}
