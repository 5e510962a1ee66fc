using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// U and V stored in a narrower dtype (<see cref="VectorFitLinearOptions.FactorDType"/>) with σ, b and the arithmetic in the
/// weight's float32. The reference is the definition computed in float64 from the float64 SVD of the weight, taken here
/// independently, with U and V rounded once to the factor dtype (<c>U_r = U.to(bf16).to(float64)</c>). The layer computes the same
/// products in float32 from exactly representable factors, so it differs from that reference only by float32 round-off: sums of
/// at most 24 terms of O(1), about 1e-6 of the output's scale; the tolerance is 1e-5 of it. Rounding the factors itself moves the
/// output by ~1e-3 (float16) to ~1e-2 (bfloat16) of its scale, and each test checks that the unrounded factors miss the tolerance,
/// so the checks can fail.
/// </summary>
[Collection("libtorch")]
public sealed class FactorDTypeTests
{
    private const double Float32Relative = 1e-5;
    private const int In = 24;
    private const int Out = 16;

    // ForwardPath is internal, so the theory names it by string.
    public static TheoryData<ScalarType, string> TypesAndPaths => new()
    {
        { ScalarType.BFloat16, "Factored" },
        { ScalarType.BFloat16, "Materialized" },
        { ScalarType.Float16, "Factored" },
        { ScalarType.Float16, "Materialized" },
    };

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void FactorsAreStoredInTheAskedDType_RoundedOnceFromTheFloat64Svd_InHalfTheBytes(ScalarType factors)
    {
        using var linear = SeededLinear(In, Out, hasBias: true, ScalarType.Float32, seed: 1);
        using var plain = new VectorFitLinear(linear);
        using var narrow = new VectorFitLinear(linear, new VectorFitLinearOptions { FactorDType = factors });
        var (u64, _, v64) = Float64Svd(linear);

        var state = narrow.state_dict();
        state["U"].dtype.Should().Be(factors);
        state["V"].dtype.Should().Be(factors);
        Bytes(state["U"]).Should().Be(Bytes(plain.state_dict()["U"]) / 2);
        Bytes(state["V"]).Should().Be(Bytes(plain.state_dict()["V"]) / 2);
        narrow.FactorDType.Should().Be(factors);

        // Rounded once, straight from float64: bit for bit what the independent float64 SVD gives rounded to the factor dtype.
        using var expectedU = u64.to(factors);
        using var expectedV = v64.to(factors);
        MaxAbsDiff(narrow.U, expectedU).Should().Be(0);
        MaxAbsDiff(narrow.V, expectedV).Should().Be(0);

        narrow.sigma.dtype.Should().Be(ScalarType.Float32);
        narrow.initial_sigma.dtype.Should().Be(ScalarType.Float32);
        narrow.bias!.dtype.Should().Be(ScalarType.Float32);
        u64.Dispose();
        v64.Dispose();
    }

    [Theory]
    [MemberData(nameof(TypesAndPaths))]
    public void OutputAndGradients_EqualTheFloat64DefinitionFromTheRoundedFactors(ScalarType factors, string pathName)
    {
        using var linear = SeededLinear(In, Out, hasBias: true, ScalarType.Float32, seed: 2);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { FactorDType = factors }) { PathOverride = Enum.Parse<ForwardPath>(pathName) };
        VectorFitLinearForwardTests.PerturbSigmaAndBias(layer);

        using var x = Seeded(3, ScalarType.Float32, 5, In);
        using var y = layer.forward(x);
        using var g = Seeded(4, ScalarType.Float32, 5, Out);
        using var loss = (y * g).sum();
        loss.backward();

        y.dtype.Should().Be(ScalarType.Float32);
        layer.sigma.grad!.dtype.Should().Be(ScalarType.Float32);
        layer.bias!.grad!.dtype.Should().Be(ScalarType.Float32);

        var (u64, _, v64) = Float64Svd(linear);
        using var ur = u64.to(factors).to(ScalarType.Float64);
        using var vr = v64.to(factors).to(ScalarType.Float64);
        using var sigma = layer.sigma.detach().to(ScalarType.Float64);
        using var b = layer.bias.detach().to(ScalarType.Float64);
        using var x64 = x.to(ScalarType.Float64);
        using var g64 = g.to(ScalarType.Float64);

        using var expectedY = Definition(x64, ur, sigma, vr, b);
        using var unroundedY = Definition(x64, u64, sigma, v64, b);
        var scale = MaxAbs(expectedY);
        MaxAbsDiff(y, expectedY).Should().BeLessThan(Float32Relative * scale);
        MaxAbsDiff(unroundedY, expectedY).Should().BeGreaterThan(10 * Float32Relative * scale, "rounding the factors must be visible, or the check could not fail");

        // Closed-form gradients of sum(y ⊙ g): dσ_i = Σ_n (g·U_r)_{n,i} (x·V_r)_{n,i}, db = Σ_n g.
        using var gu = g64.matmul(ur);
        using var xv = x64.matmul(vr);
        using var expectedDsigma = (gu * xv).sum(dim: 0);
        using var expectedDb = g64.sum(dim: 0);
        MaxAbsDiff(layer.sigma.grad, expectedDsigma).Should().BeLessThan(Float32Relative * MaxAbs(expectedDsigma));
        MaxAbsDiff(layer.bias.grad!, expectedDb).Should().BeLessThan(Float32Relative * MaxAbs(expectedDb));
        u64.Dispose();
        v64.Dispose();
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void CachedPath_AgreesWithTheFactoredPath_AndSeesAnInPlaceEditOfTheStoredFactors(ScalarType factors)
    {
        using var linear = SeededLinear(In, Out, hasBias: true, ScalarType.Float32, seed: 5);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { FactorDType = factors });
        VectorFitLinearForwardTests.PerturbSigmaAndBias(layer);
        using var x = Seeded(6, ScalarType.Float32, 5, In);
        using var noGrad = torch.no_grad();

        using var cached = Forward(layer, x, ForwardPath.Cached);
        layer.ComposedWeight.IsHeld.Should().BeTrue("under no_grad the composed weight is kept");
        using var factored = Forward(layer, x, ForwardPath.Factored);
        var scale = MaxAbs(factored);
        MaxAbsDiff(cached, factored).Should().BeLessThan(Float32Relative * scale);

        // The cache's proof is about the stored (narrow) U, not a per-call float32 copy: an in-place edit of U through its
        // handle must be seen at the next call.
        using var before = Forward(layer, x, ForwardPath.Cached);
        var compositions = layer.ComposedWeight.Compositions;
        using (var again = Forward(layer, x, ForwardPath.Cached))
        {
            layer.ComposedWeight.Compositions.Should().Be(compositions, "nothing changed, so the held weight is reused (the proof is about the stored factors)");
            Values(again).Should().Equal(Values(before));
        }

        layer.U.mul_(-1);
        using var after = Forward(layer, x, ForwardPath.Cached);
        layer.ComposedWeight.Compositions.Should().Be(compositions + 1);
        using var afterFactored = Forward(layer, x, ForwardPath.Factored);
        MaxAbsDiff(after, before).Should().BeGreaterThan(0.1 * scale, "negating U changes the output");
        MaxAbsDiff(after, afterFactored).Should().BeLessThan(Float32Relative * scale);
        layer.U.dtype.Should().Be(factors);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void ToLinearAndDeltaWeight_AreFloat32_AndEqualTheFloat64CompositionOfTheRoundedFactors(ScalarType factors)
    {
        using var linear = SeededLinear(In, Out, hasBias: true, ScalarType.Float32, seed: 7);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { FactorDType = factors });
        VectorFitLinearForwardTests.PerturbSigmaAndBias(layer);

        var (u64, _, v64) = Float64Svd(linear);
        using var ur = u64.to(factors).to(ScalarType.Float64);
        using var vr = v64.to(factors).to(ScalarType.Float64);
        using var sigma = layer.sigma.detach().to(ScalarType.Float64);
        using var sigma0 = layer.initial_sigma.to(ScalarType.Float64);
        using var expectedW = ur.matmul(torch.diag(sigma)).matmul(vr.t());
        using var expectedDelta = ur.matmul(torch.diag(sigma - sigma0)).matmul(vr.t());
        using var unroundedW = u64.matmul(torch.diag(sigma)).matmul(v64.t());

        using var merged = layer.ToLinear();
        merged.weight!.dtype.Should().Be(ScalarType.Float32);
        merged.bias!.dtype.Should().Be(ScalarType.Float32);
        var scale = MaxAbs(expectedW);

        // One rounding of a float64 product to float32: at most half an ulp of the largest entry, far below 1e-6 of the scale.
        MaxAbsDiff(merged.weight, expectedW).Should().BeLessThan(1e-6 * scale);
        MaxAbsDiff(unroundedW, expectedW).Should().BeGreaterThan(1e-4 * scale, "the factors' rounding must show in W");
        MaxAbsDiff(merged.bias, layer.bias!).Should().Be(0);

        using var delta = layer.DeltaWeight();
        delta.dtype.Should().Be(ScalarType.Float32);
        MaxAbsDiff(delta, expectedDelta).Should().BeLessThan(1e-6 * MaxAbs(expectedDelta));
        u64.Dispose();
        v64.Dispose();
    }

    [Fact]
    public void ModuleTo_ConvertsTheComputeTensors_AndKeepsAskedFactorsInTheirDType()
    {
        using var linear = SeededLinear(In, Out, hasBias: true, ScalarType.Float32, seed: 8);
        using var narrow = new VectorFitLinear(linear, new VectorFitLinearOptions { FactorDType = ScalarType.BFloat16 });
        using var plain = new VectorFitLinear(linear);
        VectorFitLinearForwardTests.PerturbSigmaAndBias(narrow);

        narrow.to(ScalarType.Float64);
        plain.to(ScalarType.Float64);

        narrow.U.dtype.Should().Be(ScalarType.BFloat16);
        narrow.V.dtype.Should().Be(ScalarType.BFloat16);
        narrow.sigma.dtype.Should().Be(ScalarType.Float64);
        narrow.initial_sigma.dtype.Should().Be(ScalarType.Float64);
        narrow.bias!.dtype.Should().Be(ScalarType.Float64);
        plain.U.dtype.Should().Be(ScalarType.Float64, "without FactorDType the factors follow the compute dtype, as before");

        // Computes in float64 now, from the same bf16 factors.
        using var x = Seeded(9, ScalarType.Float64, 3, In);
        using var y = narrow.forward(x);
        y.dtype.Should().Be(ScalarType.Float64);
        using var ur = narrow.U.to(ScalarType.Float64);
        using var vr = narrow.V.to(ScalarType.Float64);
        using var expected = Definition(x, ur, narrow.sigma.detach(), vr, narrow.bias.detach());
        MaxAbsDiff(y, expected).Should().BeLessThan(1e-12 * MaxAbs(expected));

        using var floatInput = x.to(ScalarType.Float32);
        var act = () => narrow.forward(floatInput);
        act.Should().Throw<ArgumentException>().WithMessage("*computes in Float64 but the input is Float32*");
    }

    [Theory]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Bool)]
    [InlineData(ScalarType.ComplexFloat32)]
    public void NonFloatingFactorDType_IsRejectedByValidate_NamingTheOptionAndTheValue(ScalarType bad)
    {
        var options = new VectorFitLinearOptions { FactorDType = bad };
        options.Invoking(o => o.Validate()).Should().Throw<ArgumentException>()
            .WithMessage($"FactorDType must be a floating dtype*got {bad}*ScalarType.BFloat16*")
            .Which.ParamName.Should().Be("FactorDType");
        var config = new VectorFitConfig { Preset = TargetPreset.Bert, FactorDType = bad };
        config.Invoking(c => c.Validate()).Should().Throw<ArgumentException>().WithMessage($"FactorDType must be a floating dtype*got {bad}*");
    }

    [Fact]
    public void WiderFactorDType_IsRejectedByTheLayer_NamingBothDTypes()
    {
        using var linear = SeededLinear(In, Out, hasBias: true, ScalarType.Float32, seed: 10);
        var act = () => new VectorFitLinear(linear, new VectorFitLinearOptions { FactorDType = ScalarType.Float64 });
        act.Should().Throw<ArgumentException>().WithMessage("FactorDType Float64 is not narrower than the weight's dtype Float32 (it is wider*BFloat16 or Float16*");
    }

    [Fact]
    public void Svft_WithAFactorDType_IsRejectedByConfigValidation()
    {
        var config = new VectorFitConfig { Method = new SvftMethod(), Preset = TargetPreset.Bert, FactorDType = ScalarType.BFloat16 };
        config.Invoking(c => c.Validate()).Should().Throw<ArgumentException>()
            .WithMessage("FactorDType is BFloat16 but method Svft (Plain) does not support a factor dtype yet*Set FactorDType = null*")
            .Which.ParamName.Should().Be("FactorDType");
    }

    private static Tensor Forward(VectorFitLinear layer, Tensor x, ForwardPath path)
    {
        layer.PathOverride = path;
        return layer.forward(x);
    }

    /// <summary><c>x·V·diag(σ)·Uᵀ + b</c> with diag and two matmuls (not the layer's operations).</summary>
    private static Tensor Definition(Tensor x, Tensor u, Tensor sigma, Tensor v, Tensor b)
    {
        using var w = u.matmul(torch.diag(sigma)).matmul(v.t());
        using var xw = x.matmul(w.t());
        return xw + b;
    }

    private static (Tensor U, Tensor S, Tensor V) Float64Svd(Linear linear)
    {
        using var w64 = linear.weight!.detach().to(ScalarType.Float64);
        var (u, s, vh) = torch.linalg.svd(w64, fullMatrices: false);
        var v = vh.t().contiguous();
        vh.Dispose();
        return (u, s, v);
    }

    private static long Bytes(Tensor t) => t.numel() * t.ElementSize;
}
