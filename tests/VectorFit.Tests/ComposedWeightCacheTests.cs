using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// VectorFitLinear's reuse of <c>W = U·diag(σ)·Vᵀ</c> while σ does not train: bit-identical to composing it on every call,
/// reused when nothing changed, and recomposed after each thing that can change σ, U or V. Each invalidation test first
/// checks that the change moves the output by more than 1e-3 (or the check could not fail), then compares with the
/// definition built from the layer's current tensors by other operations (diag and two matmuls): float64 round-off is
/// ~1e-15, so 1e-10 catches a stale weight (off by the whole change) with room for summation order.
/// </summary>
[Collection("libtorch")]
public sealed class ComposedWeightCacheTests
{
    private const double Float64Tolerance = 1e-10;

    [Fact]
    public void FrozenSigma_ReusesTheWeight_BitIdenticalToComposingItEachCall()
    {
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6).requires_grad_();

        using var first = layer.forward(x);
        using var second = layer.forward(x);
        layer.ComposedWeight.Compositions.Should().Be(1, "the second call must reuse the weight");
        layer.PathOverride = ForwardPath.Materialized;
        using var uncached = layer.forward(x);

        MaxAbsDiff(first, uncached).Should().Be(0, "the cache composes W with the same operations");
        MaxAbsDiff(second, uncached).Should().Be(0);
        MaxAbsDiff(first, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);

        // The input still gets its gradient through the cached weight (a frozen layer inside a model).
        using var loss = second.sum();
        loss.backward();
        using var w = Definition(layer, x, weightOnly: true);
        using var columnSums = w.sum(dim: 0);
        using var expectedGrad = columnSums.expand(3, 6);
        using var grad = x.grad!;
        MaxAbsDiff(grad, expectedGrad).Should().BeLessThan(Float64Tolerance);
        layer.sigma.grad.Should().BeNull("σ is frozen");
    }

    [Fact]
    public void InPlaceEditOfSigma_IsSeen() => AfterChange(layer => Scale(layer.sigma, 1.5));

    // U and V are taken before the forwards that build the cache, so only libtorch's version counter can see these edits.
    [Fact]
    public void InPlaceEditOfU_ThroughAHandleKeptAcrossForwards_IsSeen()
        => AfterChange(layer =>
        {
            var u = layer.U;
            return () => Scale(u, -0.5);
        });

    [Fact]
    public void InPlaceEditOfV_ThroughADetachedAliasKeptAcrossForwards_IsSeen()
        => AfterChange(layer =>
        {
            var alias = layer.V.detach();  // shares V's storage and version counter
            return () =>
            {
                Scale(alias, 2.0);
                alias.Dispose();
            };
        });

    [Fact]
    public void WriteThroughTheDataAccessor_IsSeen()
        => AfterChange(layer =>
        {
            // Raw memory, bypassing every libtorch operation (the version counter does not move): the layer sees that U
            // was handed out after its last forward and does not trust the cache.
            var values = layer.U.data<double>();
            values[0, 0] += 1.0;
        });

    [Fact]
    public void TorchSharpModuleLoad_OnTheCpu_IsSeen()
    {
        // Module.load writes each tensor's bytes straight into its memory (ReadBytesFromStream), after taking the root's
        // state_dict, which reaches the layer's own state_dict.
        using var otherLinear = SeededLinear(6, 5, hasBias: true, ScalarType.Float64, seed: 99);
        using var other = nn.Sequential(("adapted", (nn.Module<Tensor, Tensor>)new VectorFitLinear(otherLinear)));
        var path = Path.Combine(Path.GetTempPath(), $"vectorfit-cache-load-{Guid.NewGuid():N}.dat");
        try
        {
            other.save(path);
            AfterChange(layer =>
            {
                var parent = nn.Sequential(("adapted", (nn.Module<Tensor, Tensor>)layer));
                parent.load(path);
            });
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RawWriteThroughAHandleKeptAcrossForwards_IsTheDocumentedBlindSpot()
    {
        // The one change the cache cannot see without a copy of U: bytes written into U's memory, bypassing libtorch,
        // through a handle taken before the layer's last forward. Fetching U again (as the docs ask) makes it seen.
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        var u = layer.U;
        using var before = layer.forward(x);
        var values = u.data<double>();
        values[0, 0] += 1.0;
        using var stale = layer.forward(x);
        MaxAbsDiff(stale, before).Should().Be(0, "this write is invisible to libtorch and to the layer");

        _ = layer.U;
        using var after = layer.forward(x);
        MaxAbsDiff(after, before).Should().BeGreaterThan(1e-3);
        MaxAbsDiff(after, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
    }

    [Fact]
    public void TheCacheHoldsTheWeightAndSigma_NoCopiesOfUOrV()
    {
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using var y = layer.forward(x);
        layer.ComposedWeight.HeldValues.Should().Be((5 * 6) + 5, "W (5 × 6) and σ (5); U (5 × 5) and V (6 × 5) are not copied");
    }

    [Fact]
    public void MemoryMode_KeepsNoWeight_AndEvaluatesExactly()
    {
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using var cached = layer.forward(x);
        layer.ComposedWeight.IsHeld.Should().BeTrue();

        VectorFitLinear.SetComposedWeightMode(layer, ComposedWeightMode.Memory).Should().Be(1);
        layer.ComposedWeight.IsHeld.Should().BeFalse("switching to Memory releases the weight at once");
        using var factored = layer.forward(x);
        using (torch.no_grad())
        {
            using var evaluated = layer.forward(x);
            MaxAbsDiff(evaluated, factored).Should().Be(0);
        }

        layer.ComposedWeight.IsHeld.Should().BeFalse("in Memory mode nothing is kept");
        layer.ComposedWeight.Compositions.Should().Be(1);
        MaxAbsDiff(factored, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(factored, cached).Should().BeLessThan(Float64Tolerance);

        // An edit is seen without any cache to invalidate.
        Scale(layer.U, -0.5);
        using var afterEdit = layer.forward(x);
        MaxAbsDiff(afterEdit, factored).Should().BeGreaterThan(1e-3);
        MaxAbsDiff(afterEdit, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);

        layer.ComposedWeightMode = ComposedWeightMode.Speed;
        using var again = layer.forward(x);
        layer.ComposedWeight.IsHeld.Should().BeTrue();
        var invalid = () => layer.ComposedWeightMode = (ComposedWeightMode)7;
        invalid.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Speed or Memory*");
    }

    [Fact]
    public void RootLevelLoadStateDict_IsSeen()
        => AfterChange(layer =>
        {
            // load_state_dict on a parent copies into σ, U and V in place without telling the layer.
            // (not disposed here: disposing a Sequential disposes its children, and the layer is still under test)
            var parent = nn.Sequential(("adapted", (nn.Module<Tensor, Tensor>)layer));
            using var otherLinear = SeededLinear(6, 5, hasBias: true, ScalarType.Float64, seed: 99);
            using var other = nn.Sequential(("adapted", (nn.Module<Tensor, Tensor>)new VectorFitLinear(otherLinear)));
            parent.load_state_dict(other.state_dict());
        });

    [Fact]
    public void UnfreezingSigma_TrainsItThenRefreezing_UsesTheTrainedValues()
    {
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using var before = layer.forward(x);
        layer.ComposedWeight.IsHeld.Should().BeTrue();

        // Unfreeze (as AVF does): σ must be in the graph again, and the cache is released.
        layer.sigma.requires_grad = true;
        using var optimizer = optim.SGD(new[] { layer.sigma }, learningRate: 0.5);
        using (var y = layer.forward(x))
        using (var loss = y.sum())
        {
            layer.ComposedWeight.IsHeld.Should().BeFalse("a σ that trains never reads the cache");
            loss.backward();
        }

        layer.sigma.grad.Should().NotBeNull("σ trains again");
        optimizer.step();
        layer.sigma.requires_grad = false;
        layer.sigma.grad = null;

        using var after = layer.forward(x);
        MaxAbsDiff(after, before).Should().BeGreaterThan(1e-3, "the SGD step moved σ");
        MaxAbsDiff(after, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
    }

    [Fact]
    public void EvaluationUnderNoGrad_UsesTheCache_AndTrainingAfterwardsStillReachesSigma()
    {
        using var linear = SeededLinear(6, 5, hasBias: true, ScalarType.Float64, seed: 1);
        using var layer = new VectorFitLinear(linear);
        Scale(layer.sigma, 1.25);
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using (torch.no_grad())
        {
            using var evaluated = layer.forward(x);
            using var again = layer.forward(x);
            layer.ComposedWeight.IsHeld.Should().BeTrue("σ gets no gradient under no_grad");
            layer.ComposedWeight.Compositions.Should().Be(1, "evaluation batches reuse the weight");
            MaxAbsDiff(evaluated, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
        }

        using var y = layer.forward(x);
        using var loss = y.sum();
        loss.backward();
        layer.sigma.grad.Should().NotBeNull("with grad mode back on, σ trains through the uncached paths");
    }

    [Fact]
    public void ModuleTo_MovesTheLayer_AndTheCacheFollows()
    {
        using var layer = FrozenLayer();
        using var x64 = Seeded(2, ScalarType.Float64, 3, 6);
        using var before = layer.forward(x64);
        layer.ComposedWeight.IsHeld.Should().BeTrue();

        layer.to(ScalarType.Float32);

        layer.ComposedWeight.IsHeld.Should().BeFalse("Module.to releases the old dtype's weight");
        using var x32 = x64.to(ScalarType.Float32);
        using var after = layer.forward(x32);
        after.dtype.Should().Be(ScalarType.Float32);
        // float32 round-off of O(1) sums of six terms: ~1e-6; 1e-5 still catches a stale or float64 weight (dtype error).
        MaxAbsDiff(after, Definition(layer, x32)).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void AssumeFactorsUnchanged_SkipsOnlyTheComparisonOfUAndV_OnItsThread()
    {
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using var first = layer.forward(x);
        using var second = layer.forward(x);
        long compared = layer.ComposedWeight.FactorComparisons;
        compared.Should().Be(1, "outside the scope every reuse compares U and V");

        using (VectorFitLinear.AssumeFactorsUnchanged())
        {
            using var inside = layer.forward(x);
            MaxAbsDiff(inside, first).Should().Be(0);
            layer.ComposedWeight.FactorComparisons.Should().Be(compared, "inside the scope U and V are trusted");

            // σ is still compared: an in-place edit of σ (an optimizer, AVF) is seen inside the scope.
            Scale(layer.sigma, 1.5);
            using var afterSigma = layer.forward(x);
            MaxAbsDiff(afterSigma, first).Should().BeGreaterThan(1e-3);
            MaxAbsDiff(afterSigma, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
            layer.ComposedWeight.Compositions.Should().Be(2);

            // Another thread is not in the scope: its call compares U and V.
            var other = new Thread(() =>
            {
                using var y = layer.forward(x);
            });
            other.Start();
            other.Join();
            layer.ComposedWeight.FactorComparisons.Should().Be(compared + 1, "the scope applies to the thread that opened it");
        }

        // The promise was broken after the scope: the full check is back and sees it.
        Scale(layer.U, -0.5);
        using var after = layer.forward(x);
        MaxAbsDiff(after, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
        layer.ComposedWeight.Compositions.Should().Be(3);
    }

    [Fact]
    public void AssumeFactorsUnchanged_DisposedOnAnotherThread_Throws_AndNestedScopesCount()
    {
        var outer = VectorFitLinear.AssumeFactorsUnchanged();
        var inner = VectorFitLinear.AssumeFactorsUnchanged();
        Exception? error = null;
        var other = new Thread(() => error = Record.Exception(inner.Dispose));
        other.Start();
        other.Join();
        error.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("thread that opened it");

        inner.Dispose();
        inner.Dispose();  // a second Dispose is harmless
        using var layer = FrozenLayer();
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using var first = layer.forward(x);
        using var second = layer.forward(x);
        layer.ComposedWeight.FactorComparisons.Should().Be(0, "the outer scope is still open");
        outer.Dispose();
        using var third = layer.forward(x);
        layer.ComposedWeight.FactorComparisons.Should().Be(1, "every scope is closed");
    }

    // Runs the cached path, applies the change, and checks the next call sees it.
    private static void AfterChange(Action<VectorFitLinear> change)
        => AfterChange(layer => () => change(layer));

    // The same, with whatever the change needs taken from the layer before the forwards (prepare returns the change).
    private static void AfterChange(Func<VectorFitLinear, Action> prepare)
    {
        using var layer = FrozenLayer();
        var change = prepare(layer);
        using var x = Seeded(2, ScalarType.Float64, 3, 6);
        using var before = layer.forward(x);
        using var again = layer.forward(x);
        layer.ComposedWeight.Compositions.Should().Be(1);

        change();
        using var after = layer.forward(x);

        MaxAbsDiff(after, before).Should().BeGreaterThan(1e-3, "the change must move the output, or this test proves nothing");
        MaxAbsDiff(after, Definition(layer, x)).Should().BeLessThan(Float64Tolerance);
        layer.ComposedWeight.Compositions.Should().Be(2);
    }

    // A layer with σ perturbed (so it differs from the base) and then frozen, as AVF leaves it.
    private static VectorFitLinear FrozenLayer()
    {
        using var linear = SeededLinear(6, 5, hasBias: true, ScalarType.Float64, seed: 1);
        var layer = new VectorFitLinear(linear);
        Scale(layer.sigma, 1.25);
        layer.sigma.requires_grad = false;
        return layer;
    }

    private static void Scale(Tensor t, double factor)
    {
        using var noGrad = torch.no_grad();
        using var s = factor.ToScalar();
        t.mul_(s);
    }

    // y = x·(U·diag(σ)·Vᵀ)ᵀ + b from the layer's current tensors (weightOnly: without b).
    private static Tensor Definition(VectorFitLinear layer, Tensor x, bool weightOnly = false)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Read without a hand-out (layer.U would tell the layer to rebuild its cache, hiding what a test checks).
        var (u, v) = layer.ReadOnlyFactors;
        var w = u.matmul(torch.diag(layer.sigma.detach())).matmul(v.t());
        if (weightOnly)
        {
            return w.MoveToOuterDisposeScope();
        }

        var y = x.detach().matmul(w.t()) + layer.bias!.detach();
        return y.MoveToOuterDisposeScope();
    }
}
