using TorchSharp;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>The AVF schedule, strengths and frozen sets (method §3) against a hand-computed example, and the scheduler's checks.</summary>
[Collection("libtorch")]
public sealed class AvfSchedulerTests
{
    /// <summary>Three float64 layers: a (2→2, bias), b (2→2, no bias), c (3→2, bias); five vectors, all of length 2.</summary>
    internal static (VectorFitLinear A, VectorFitLinear B, VectorFitLinear C) ThreeLayers(ScalarType dtype = ScalarType.Float64)
    {
        using var la = SeededLinear(2, 2, hasBias: true, dtype, seed: 60);
        using var lb = SeededLinear(2, 2, hasBias: false, dtype, seed: 61);
        using var lc = SeededLinear(3, 2, hasBias: true, dtype, seed: 62);
        return (new VectorFitLinear(la), new VectorFitLinear(lb), new VectorFitLinear(lc));
    }

    [Fact]
    public void FrozenSetsAndStrengths_MatchHandComputedExample()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;
        var aBias = a.bias!;
        var cBias = c.bias!;
        // v0, chosen so that every strength below is an exact binary fraction.
        double[] a0 = [1, 2], ab0 = [0, 0], b0 = [3, 1], c0 = [2, 2], cb0 = [1, -1];
        Set(a.sigma, a0);
        Set(aBias, ab0);
        Set(b.sigma, b0);
        Set(c.sigma, c0);
        Set(cBias, cb0);
        var options = new AvfOptions { InitialStep = 2, Interval = 3, AvfSteps = 3, K = 2, Beta = 0.5 };
        var avf = new AvfScheduler([("a", a), ("b", b), ("c", c)], options);
        avf.Vectors.Select(v => v.Name).Should().Equal("a.sigma", "a.bias", "b.sigma", "c.sigma", "c.bias");
        avf.Vectors.Select(v => v.Kind).Should().Equal(AvfVectorKind.Sigma, AvfVectorKind.Bias, AvfVectorKind.Sigma, AvfVectorKind.Sigma, AvfVectorKind.Bias);
        avf.Vectors.Select(v => v.LayerName).Should().Equal("a", "a", "b", "c", "c");
        avf.NextAvfStep.Should().Be(2);

        // Step 1 is not an AVF step (t_i = 2): nothing is smoothed or frozen, whatever moved.
        Set(a.sigma, Add(a0, 0.125, 0));
        avf.step().Should().BeFalse();
        Strengths(avf).Should().Equal(0, 0, 0, 0, 0);
        avf.FrozenSet.Should().BeEmpty();

        // Step 2, AVF 1. Deltas from v0: a.σ (.5, .5), a.b (1, 0), b.σ (.25, .25), c.σ (1, 1), c.b (0, 0)
        // → S = mean|Δ| = (.5, .5, .25, 1, 0); S' = .5·0 + .5·S = (.25, .25, .125, .5, 0).
        // Top 2: c.σ (.5), then a.σ and a.b tie at .25 → a.σ, the earlier vector.
        Set(a.sigma, Add(a0, 0.5, 0.5));
        Set(aBias, Add(ab0, 1, 0));
        Set(b.sigma, Add(b0, 0.25, 0.25));
        Set(c.sigma, Add(c0, 1, 1));
        GiveEveryVectorAGradient(avf);
        avf.TrainingStrength().Should().Equal(0.5, 0.5, 0.25, 1, 0);
        avf.step().Should().BeTrue();
        Strengths(avf).Should().Equal(0.25, 0.25, 0.125, 0.5, 0);
        FrozenNames(avf).Should().Equal("a.sigma", "c.sigma");
        ShouldBeFrozen(a.sigma);
        ShouldBeFrozen(c.sigma);
        aBias.requires_grad.Should().BeTrue();
        using (var g = aBias.grad)
        {
            g.Should().NotBeNull("a trainable vector keeps its gradient");
        }

        // Steps 3 and 4: only trainable vectors move; nothing changes in the scheduler.
        foreach (var step in new[] { 3, 4 })
        {
            Set(aBias, Add(ab0, 1, -1));
            Set(b.sigma, Add(b0, 0.25, 0.75));
            Set(cBias, Add(cb0, 2, 0));
            avf.step().Should().BeFalse($"step {step}");
            Strengths(avf).Should().Equal(0.25, 0.25, 0.125, 0.5, 0);
            FrozenNames(avf).Should().Equal("a.sigma", "c.sigma");
        }

        // Step 5, AVF 2. S = (.5, 1, .5, 1, 1); S' = .5·S'_prev + .5·S = (.375, .625, .3125, .75, .5).
        // Top 2: c.σ (.75), a.b (.625); a.σ leaves the set and trains again.
        avf.step().Should().BeTrue();
        Strengths(avf).Should().Equal(0.375, 0.625, 0.3125, 0.75, 0.5);
        FrozenNames(avf).Should().Equal("a.bias", "c.sigma");
        a.sigma.requires_grad.Should().BeTrue();
        ShouldBeFrozen(aBias);

        // Steps 6, 7 move a.σ and c.b. Step 8, AVF 3: S = (1, 1, .5, 1, 3);
        // S' = (.1875 + .5, .3125 + .5, .15625 + .25, .375 + .5, .25 + 1.5) = (.6875, .8125, .40625, .875, 1.75).
        Set(a.sigma, Add(a0, 1.5, 0.5));
        Set(cBias, Add(cb0, 4, 2));
        avf.step().Should().BeFalse();
        avf.step().Should().BeFalse();
        avf.step().Should().BeTrue();
        Strengths(avf).Should().Equal(0.6875, 0.8125, 0.40625, 0.875, 1.75);
        FrozenNames(avf).Should().Equal("c.sigma", "c.bias");
        aBias.requires_grad.Should().BeTrue();
        avf.AvfStepsTaken.Should().Be(3);
        avf.NextAvfStep.Should().BeNull();

        // After the n_f-th AVF step the last frozen set stays frozen (Decided 3), whatever trains.
        for (var step = 9; step <= 14; step++)
        {
            Set(a.sigma, Add(a0, step, step));
            Set(b.sigma, Add(b0, -step, step));
            avf.step().Should().BeFalse();
            FrozenNames(avf).Should().Equal("c.sigma", "c.bias");
            Strengths(avf).Should().Equal(0.6875, 0.8125, 0.40625, 0.875, 1.75);
        }

        avf.StepCount.Should().Be(14);
        ShouldBeFrozen(c.sigma);
        ShouldBeFrozen(cBias);
    }

    [Fact]
    public void SmoothedStrength_WeighsThePreviousValueByBeta()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;
        Set(a.sigma, 1, 2);
        Set(b.sigma, 3, 1);
        var avf = new AvfScheduler([("a", a), ("b", b), ("c", c)], new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 2, K = 1, Beta = 0.75 });

        // Step 1: S(a.σ) = mean|(1, 1)| = 1 → S' = .75·0 + .25·1 = .25; the rest stay 0.
        Set(a.sigma, 2, 3);
        avf.step().Should().BeTrue();
        Strengths(avf).Should().Equal(0.25, 0, 0, 0, 0);
        FrozenNames(avf).Should().Equal("a.sigma");

        // Step 2: a.σ frozen (S still 1), b.σ moved by (2, 2): S' = (.75·.25 + .25·1, 0, .25·2, 0, 0) = (.4375, 0, .5, 0, 0).
        Set(b.sigma, 5, 3);
        avf.step().Should().BeTrue();
        Strengths(avf).Should().Equal(0.4375, 0, 0.5, 0, 0);
        FrozenNames(avf).Should().Equal("b.sigma");
    }

    [Fact]
    public void Ties_AreBrokenByVectorOrder()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;
        var avf = new AvfScheduler([("c", c), ("a", a), ("b", b)], new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 3 });

        avf.step().Should().BeTrue();

        // Nothing trained: every S' is 0, so the first three vectors in the given order are frozen.
        FrozenNames(avf).Should().Equal("c.sigma", "c.bias", "a.sigma");
    }

    [Fact]
    public void NoAvf_NeverFreezes_AndIgnoresK()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;
        var avf = new AvfScheduler([("a", a), ("b", b), ("c", c)], AvfOptions.None with { K = 100 });

        for (var step = 0; step < 20; step++)
        {
            Set(a.sigma, step, step);
            avf.step().Should().BeFalse();
        }

        avf.FrozenSet.Should().BeEmpty();
        avf.Vectors.Should().OnlyContain(v => v.SmoothedStrength == 0);
        avf.TrainingStrength()[0].Should().BeGreaterThan(0, "strengths stay readable without AVF");
        avf.NextAvfStep.Should().BeNull();
    }

    [Fact]
    public void KAboveTheNumberOfVectors_IsRejected_NamingTheCount()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;

        var act = () => new AvfScheduler([("a", a), ("b", b), ("c", c)], new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 6 });

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("K must be between 0 and 5 (the number of trainable vectors), got 6*");
    }

    [Fact]
    public void InvalidOptions_AreRejected_BeforeAnythingElse()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;

        var act = () => new AvfScheduler([("a", a)], new AvfOptions { InitialStep = 0, Interval = 1, AvfSteps = 1 });

        act.Should().Throw<ArgumentOutOfRangeException>().And.ParamName.Should().Be("InitialStep");
    }

    [Fact]
    public void RepeatedLayer_IsRejected()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;

        var sameName = () => new AvfScheduler([("a", a), ("a", b)], AvfOptions.None);
        var sameModule = () => new AvfScheduler([("a", a), ("b", a)], AvfOptions.None);

        sameName.Should().Throw<ArgumentException>().WithMessage("The layer 'a' is listed twice*");
        sameModule.Should().Throw<ArgumentException>().WithMessage("The layer 'b' is listed twice*");
    }

    [Fact]
    public void VectorsALayerDoesNotTrain_AreNotPartOfAvf()
    {
        using var l1 = SeededLinear(3, 2, hasBias: true, ScalarType.Float32, seed: 63);
        using var l2 = SeededLinear(3, 2, hasBias: true, ScalarType.Float32, seed: 64);
        using var l3 = SeededLinear(3, 2, hasBias: false, ScalarType.Float32, seed: 65);
        using var noSigma = new VectorFitLinear(l1, new VectorFitLinearOptions { TrainSigma = false });
        using var noBias = new VectorFitLinear(l2, new VectorFitLinearOptions { TrainBias = false });
        using var addedBias = new VectorFitLinear(l3, new VectorFitLinearOptions { AddBias = true });

        var avf = new AvfScheduler([("p", noSigma), ("q", noBias), ("r", addedBias)], AvfOptions.None);

        avf.Vectors.Select(v => v.Name).Should().Equal("p.bias", "q.sigma", "r.sigma", "r.bias");
        avf.Vectors.Select(v => v.Length).Should().Equal(2, 2, 2, 2);
    }

    [Fact]
    public void FromModel_TracksVectorFitLayersInModuleOrder_AndNeverTheHead()
    {
        var (a, b, c) = ThreeLayers();
        using var _b = b;
        var headLinear = SeededLinear(2, 2, hasBias: true, ScalarType.Float64, seed: 66); // disposed by the model
        using var model = nn.Sequential(("enc", nn.Sequential(("q", a), ("v", c))), ("classifier", headLinear));

        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 4 });
        avf.step();

        avf.Vectors.Select(v => v.Name).Should().Equal("enc.q.sigma", "enc.q.bias", "enc.v.sigma", "enc.v.bias");
        avf.FrozenSet.Should().HaveCount(4);
        headLinear.weight.requires_grad.Should().BeTrue("the task head is never part of AVF (Decided 5)");
        headLinear.bias!.requires_grad.Should().BeTrue();
    }

    [Fact]
    public void AfterModuleTo_FreezesTheMovedParameters()
    {
        var (a, b, c) = ThreeLayers(ScalarType.Float32);
        using var model = nn.Sequential(("a", a), ("b", b), ("c", c));
        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 1 });

        model.to(ScalarType.Float64);
        Set(b.sigma, Values(b.sigma).Select(v => v + 1).ToArray());
        avf.step().Should().BeTrue();

        FrozenNames(avf).Should().Equal("b.sigma");
        b.sigma.dtype.Should().Be(ScalarType.Float64);
        ShouldBeFrozen(b.sigma);
    }

    [Fact]
    public void NonFiniteStrength_AtAvfStep_Throws_NamingTheVector()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;
        var avf = new AvfScheduler([("a", a), ("b", b), ("c", c)], new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 2, K = 1 });
        Set(b.sigma, double.NaN, 1);

        var act = () => avf.step();

        act.Should().Throw<InvalidOperationException>().WithMessage("AVF step 1: the training strength of 'b.sigma' is NaN*");
        avf.Vectors.Should().OnlyContain(v => v.SmoothedStrength == 0 && !v.IsFrozen, "nothing is half-applied");
    }

    [Fact]
    public void TrainingStrength_OfAnotherSchedulersVector_IsRejected()
    {
        var (a, b, c) = ThreeLayers();
        using var _a = a;
        using var _b = b;
        using var _c = c;
        var first = new AvfScheduler([("a", a)], AvfOptions.None);
        var second = new AvfScheduler([("a", a)], AvfOptions.None);

        var act = () => second.TrainingStrength(first.Vectors[0]);

        act.Should().Throw<ArgumentException>().WithMessage("The vector 'a.sigma' belongs to another AvfScheduler*");
    }

    internal static double[] Add(double[] v0, params double[] delta) => v0.Zip(delta, (x, d) => x + d).ToArray();

    internal static double[] Strengths(AvfScheduler avf) => avf.Vectors.Select(v => v.SmoothedStrength).ToArray();

    internal static string[] FrozenNames(AvfScheduler avf) => avf.FrozenSet.Select(v => v.Name).ToArray();

    internal static void ShouldBeFrozen(Tensor parameter)
    {
        parameter.requires_grad.Should().BeFalse();
        using var grad = parameter.grad;
        grad.Should().BeNull("a frozen vector's gradient is cleared so optimizers skip it");
    }

    /// <summary>Backward of Σ_v sum(v) over the trainable vectors, so each one holds a gradient tensor.</summary>
    private static void GiveEveryVectorAGradient(AvfScheduler avf)
    {
        using var scope = torch.NewDisposeScope();
        var total = torch.zeros(1, dtype: ScalarType.Float64);
        foreach (var vector in avf.Vectors)
        {
            var parameter = vector.Kind == AvfVectorKind.Sigma ? ((VectorFitLinear)vector.Layer).sigma : vector.Layer.bias!;
            total = total + parameter.sum();
        }

        total.sum().backward();
    }
}
