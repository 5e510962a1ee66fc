using TorchSharp;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>Merging back to <c>Linear</c>, the weight update ΔW and its rank, and dtype conversion.</summary>
[Collection("libtorch")]
public sealed class VectorFitLinearMergeTests
{
    [Fact]
    public void ToLinear_AfterSigmaAndBiasChange_EqualsTheAdaptedLayer()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 40);
        using var layer = new VectorFitLinear(linear);
        VectorFitLinearForwardTests.PerturbSigmaAndBias(layer);
        using var x = Seeded(41, ScalarType.Float32, 3, 6);
        using var baseY = linear.forward(x);
        using var adaptedY = layer.forward(x);
        MaxAbsDiff(adaptedY, baseY).Should().BeGreaterThan(0.1, "the adapted layer must differ from the base for the check to bite");

        using var merged = layer.ToLinear();
        using var mergedY = merged.forward(x);

        merged.in_features.Should().Be(6);
        merged.out_features.Should().Be(4);
        merged.weight.dtype.Should().Be(ScalarType.Float32);
        MaxAbsDiff(mergedY, adaptedY).Should().BeLessThan(1e-5 * MaxAbs(adaptedY));
        Values(merged.bias!).Should().Equal(Values(layer.bias!));

        // The weight against the definition computed in float64.
        using var u = layer.U.to(ScalarType.Float64);
        using var v = layer.V.to(ScalarType.Float64);
        using var s = layer.sigma.detach().to(ScalarType.Float64);
        using var w = u.matmul(torch.diag(s)).matmul(v.t());
        MaxAbsDiff(merged.weight, w).Should().BeLessThan(1e-6 * MaxAbs(w));
    }

    [Fact]
    public void ToLinear_WithoutBias_GivesLinearWithoutBias()
    {
        using var linear = SeededLinear(3, 5, hasBias: false, ScalarType.Float64, seed: 42);
        using var layer = new VectorFitLinear(linear);
        VectorFitLinearForwardTests.PerturbSigmaAndBias(layer);
        using var merged = layer.ToLinear();
        using var x = Seeded(43, ScalarType.Float64, 2, 3);
        using var expected = layer.forward(x);
        using var y = merged.forward(x);

        merged.bias.Should().BeNull();
        MaxAbsDiff(y, expected).Should().BeLessThan(1e-12);
    }

    [Fact]
    public void ToLinear_IsIndependentOfTheLayer()
    {
        using var linear = SeededLinear(3, 3, hasBias: true, ScalarType.Float64, seed: 44);
        using var layer = new VectorFitLinear(linear);
        using var merged = layer.ToLinear();
        var sigmaBefore = Values(layer.sigma);

        using (torch.no_grad())
        {
            merged.weight.mul_(3.0);
            merged.bias!.add_(1.0);
        }

        Values(layer.sigma).Should().Equal(sigmaBefore);
        MaxAbsDiff(merged.bias!, layer.bias!).Should().BeApproximately(1.0, 1e-12);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void ToLinear_WhenSigmaIsNotFinite_Throws(double bad)
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 45);
        using var layer = new VectorFitLinear(linear);
        var values = Values(layer.sigma);
        values[1] = bad;
        Set(layer.sigma, values);

        var act = () => layer.ToLinear();

        act.Should().Throw<InvalidOperationException>().WithMessage("Cannot merge VectorFitLinear (4 -> 3)*NaN or infinite*");
    }

    [Fact]
    public void DeltaWeight_IsZeroAtConstruction()
    {
        using var linear = SeededLinear(5, 4, hasBias: true, ScalarType.Float32, seed: 46);
        using var layer = new VectorFitLinear(linear);
        using var delta = layer.DeltaWeight();

        delta.shape.Should().Equal(4, 5);
        delta.dtype.Should().Be(ScalarType.Float32);
        MaxAbs(delta).Should().Be(0.0);
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(10, 6)]
    [InlineData(6, 10)]
    public void DeltaWeight_AfterSigmaChange_IsTheDefinition_AndHasFullRank(long inFeatures, long outFeatures)
    {
        using var linear = SeededLinear(inFeatures, outFeatures, hasBias: true, ScalarType.Float64, seed: 47);
        using var layer = new VectorFitLinear(linear);
        using var change = Seeded(48, ScalarType.Float64, layer.rank);
        using (torch.no_grad())
        {
            layer.sigma.add_(change);
        }

        using var delta = layer.DeltaWeight();
        using var expected = layer.U.matmul(torch.diag(change)).matmul(layer.V.t());
        using var merged = layer.ToLinear();
        using var expectedMerged = linear.weight.detach() + delta;
        var (_, singular, _) = torch.linalg.svd(delta, fullMatrices: false);
        var values = Values(singular);
        singular.Dispose();

        MaxAbsDiff(delta, expected).Should().BeLessThan(1e-12);
        MaxAbsDiff(merged.weight, expectedMerged).Should().BeLessThan(1e-12);
        // Paper §6.2: the update is high rank. Its singular values are |Δσ_i| (U, V orthonormal), all far from 0.
        values.Should().HaveCount((int)layer.rank);
        values.Count(s => s > 1e-8 * values[0]).Should().Be((int)layer.rank);
        var expectedSingular = Values(change).Select(Math.Abs).OrderByDescending(a => a).ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            values[i].Should().BeApproximately(expectedSingular[i], 1e-12);
        }
    }

    [Fact]
    public void ToFloat64_ConvertsEveryTensor_KeepsFunctionAndTrainability()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 49);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { TrainBias = false });
        using var x32 = Seeded(50, ScalarType.Float32, 3, 6);
        using var before = layer.forward(x32);

        var returned = layer.to(ScalarType.Float64);

        returned.Should().BeSameAs(layer);
        foreach (var t in new[] { layer.sigma, layer.bias!, layer.U, layer.V, layer.initial_sigma })
        {
            t.dtype.Should().Be(ScalarType.Float64);
        }

        layer.sigma.requires_grad.Should().BeTrue();
        layer.bias!.requires_grad.Should().BeFalse();
        layer.state_dict().Values.Should().OnlyContain(t => t.dtype == ScalarType.Float64);
        layer.named_buffers().Single(b => b.name == "U").buffer.Should().BeSameAs(layer.U);
        layer.named_parameters().Single(p => p.name == "sigma").parameter.Should().BeSameAs(layer.sigma);
        using var x64 = x32.to(ScalarType.Float64);
        using var after = layer.forward(x64);
        after.dtype.Should().Be(ScalarType.Float64);
        MaxAbsDiff(after, before).Should().BeLessThan(1e-5 * MaxAbs(before));
    }

    [Fact]
    public void ParentModuleTo_ConvertsTheLayerToo()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 51);
        var layer = new VectorFitLinear(linear);
        using var model = nn.Sequential(("adapted", layer));

        model.to(ScalarType.Float64);

        layer.sigma.dtype.Should().Be(ScalarType.Float64);
        layer.U.dtype.Should().Be(ScalarType.Float64);
        layer.initial_sigma.dtype.Should().Be(ScalarType.Float64);
        model.state_dict().Values.Should().OnlyContain(t => t.dtype == ScalarType.Float64);
        using var x = torch.ones(new long[] { 2, 4 }, dtype: ScalarType.Float64);
        using var y = model.forward(x);
        y.dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void ToIntegerDtype_IsRejected()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 52);
        using var layer = new VectorFitLinear(linear);

        var act = () => layer.to(ScalarType.Int32);

        act.Should().Throw<ArgumentException>().WithMessage("*floating-point dtype*got Int32*");
    }

    [Fact]
    public void FromFloat64Linear_EverythingIsFloat64()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float64, seed: 53);
        using var layer = new VectorFitLinear(linear);

        layer.state_dict().Values.Should().OnlyContain(t => t.dtype == ScalarType.Float64);
        layer.initial_sigma.dtype.Should().Be(ScalarType.Float64);
    }
}
