using TorchSharp;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// The forward pass against the definition <c>y = x·(U·diag(σ)·Vᵀ)ᵀ + b</c> (method §1), for both evaluation
/// paths, values and gradients. In float64 every quantity here is a short sum of O(1) terms, so round-off is
/// ~1e-15; 1e-10 leaves room for summation-order differences while catching any real error (O(1e-2) or more).
/// </summary>
[Collection("libtorch")]
public sealed class VectorFitLinearForwardTests
{
    private const double Float64Tolerance = 1e-10;

    // ForwardPath is internal, so the theory names it by string.
    public static TheoryData<string, long[]> PathsAndShapes => new()
    {
        { "Materialized", new long[] { 7, 6 } },
        { "Factored", new long[] { 7, 6 } },
        { "Materialized", new long[] { 2, 3, 6 } },
        { "Factored", new long[] { 2, 3, 6 } },
        { "Materialized", new long[] { 6 } },
        { "Factored", new long[] { 6 } },
        { "Auto", new long[] { 2, 3, 6 } },
    };

    [Theory]
    [MemberData(nameof(PathsAndShapes))]
    public void Forward_MatchesDefinition_ValuesAndGradients_Float64(string pathName, long[] inputShape)
    {
        var path = Enum.Parse<ForwardPath>(pathName);
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float64, seed: 1);
        using var layer = new VectorFitLinear(linear) { PathOverride = path };
        PerturbSigmaAndBias(layer);

        using var x = Seeded(2, ScalarType.Float64, inputShape).requires_grad_();
        using var y = layer.forward(x);
        using var g = Seeded(3, ScalarType.Float64, y.shape);
        using var loss = (y * g).sum();
        loss.backward();

        // Definition, built with different operations (diag + two matmuls) from detached copies.
        using var u = layer.U.detach();
        using var v = layer.V.detach();
        using var sigma = layer.sigma.detach();
        using var b = layer.bias!.detach();
        using var w = u.matmul(torch.diag(sigma)).matmul(v.t());
        using var x2 = x.detach().reshape(-1, 6);
        using var g2 = g.reshape(-1, 4);
        using var expectedY = (x2.matmul(w.t()) + b).reshape(y.shape);

        // Closed-form gradients of sum(y ⊙ g): db = Σ g, dx = g·W, dσ_i = Σ_n (g·U)_{n,i} (x·V)_{n,i}.
        using var expectedDb = g2.sum(dim: 0);
        using var expectedDx = g2.matmul(w).reshape(x.shape);
        using var expectedDsigma = (g2.matmul(u) * x2.matmul(v)).sum(dim: 0);

        y.shape.Should().Equal(inputShape[..^1].Append(4L).ToArray());
        MaxAbsDiff(y, expectedY).Should().BeLessThan(Float64Tolerance);
        using var dSigma = layer.sigma.grad!;
        using var dBias = layer.bias.grad!;
        using var dx = x.grad!;
        MaxAbsDiff(dSigma, expectedDsigma).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(dBias, expectedDb).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(dx, expectedDx).Should().BeLessThan(Float64Tolerance);
        layer.U.requires_grad.Should().BeFalse();
        layer.V.requires_grad.Should().BeFalse();
    }

    [Fact]
    public void MaterializedAndFactoredPaths_AgreeWithEachOther_ValuesAndGradients()
    {
        using var linear = SeededLinear(5, 9, hasBias: true, ScalarType.Float64, seed: 4);
        using var layer = new VectorFitLinear(linear);
        PerturbSigmaAndBias(layer);
        using var x = Seeded(5, ScalarType.Float64, 3, 4, 5);

        var (yM, dsM, dbM, dxM) = RunPath(layer, x, ForwardPath.Materialized);
        var (yF, dsF, dbF, dxF) = RunPath(layer, x, ForwardPath.Factored);

        MaxAbs(yM).Should().BeGreaterThan(0.1, "the outputs must be non-trivial for the comparison to mean anything");
        MaxAbsDiff(yM, yF).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(dsM, dsF).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(dbM, dbF).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(dxM, dxF).Should().BeLessThan(Float64Tolerance);
        foreach (var t in new[] { yM, dsM, dbM, dxM, yF, dsF, dbF, dxF })
        {
            t.Dispose();
        }
    }

    [Fact]
    public void FactoredPath_WithoutBias_MatchesDefinition()
    {
        using var linear = SeededLinear(3, 5, hasBias: false, ScalarType.Float64, seed: 6);
        using var layer = new VectorFitLinear(linear);
        layer.bias.Should().BeNull();
        PerturbSigmaAndBias(layer);
        using var x = Seeded(7, ScalarType.Float64, 4, 3);
        using var w = layer.U.matmul(torch.diag(layer.sigma.detach())).matmul(layer.V.t());
        using var expected = x.matmul(w.t());

        foreach (var path in new[] { ForwardPath.Materialized, ForwardPath.Factored })
        {
            layer.PathOverride = path;
            using var y = layer.forward(x);
            MaxAbsDiff(y, expected).Should().BeLessThan(Float64Tolerance, $"path {path}");
        }
    }

    [Theory]
    [InlineData(8, 8, 15, true, true, "Factored")]         // 2·15·8·16 = 3840 < 3·15·64 + 2·64·8 = 3904
    [InlineData(8, 8, 16, true, true, "Materialized")]     // 4096 = 4096: not cheaper (square: factored below N = 2d)
    [InlineData(8, 8, 16, true, false, "Materialized")]    // first layer: 16·8·16 + 16·8·8 = 3072 = 2·512 + 2·16·64
    [InlineData(8, 8, 15, true, false, "Factored")]        // 2880 < 1024 + 1920
    [InlineData(8, 8, 7, false, false, "Factored")]        // forward only: 7·8·16 = 896 < 512 + 448
    [InlineData(8, 8, 8, false, false, "Materialized")]    // 1024 = 512 + 512
    [InlineData(768, 768, 1024, true, true, "Factored")]   // 8 × 128 tokens: 2.42e9 < 2.72e9 (forward only: 1.21e9 > 1.06e9)
    [InlineData(768, 768, 1600, true, true, "Materialized")] // N > 2d: 3.775e9 > 3.737e9
    [InlineData(768, 3072, 4096, true, true, "Factored")]  // 32 × 128 tokens: 2.42e10 < 3.26e10 (d_out ≥ 2·d_in: always)
    [InlineData(768, 3072, 4096, false, false, "Materialized")] // forward only: 1.21e10 > 1.81e9 + 9.66e9
    public void ChoosePath_CountsForwardAndBackward(long inFeatures, long outFeatures, long tokens, bool sigmaTrains, bool inputNeedsGrad, string expectedName)
    {
        var expected = Enum.Parse<ForwardPath>(expectedName);
        using var linear = SeededLinear(inFeatures, outFeatures, hasBias: false, ScalarType.Float32, seed: 8);
        using var layer = new VectorFitLinear(linear);
        layer.ChoosePath(tokens, sigmaTrains, inputNeedsGrad).Should().Be(expected);
    }

    [Fact]
    public void Forward_RejectsWrongLastDimension_WithShapesInMessage()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 9);
        using var layer = new VectorFitLinear(linear);
        using var x = torch.zeros(2, 5);

        var act = () => layer.forward(x);

        act.Should().Throw<ArgumentException>()
            .WithMessage("*(*, 6)*got (2, 5)*")
            .And.ParamName.Should().Be("input");
    }

    [Fact]
    public void Forward_RejectsScalarInput()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 9);
        using var layer = new VectorFitLinear(linear);
        using var x = torch.tensor(1.0f);

        var act = () => layer.forward(x);

        act.Should().Throw<ArgumentException>().WithMessage("*(*, 6)*got ()*");
    }

    [Fact]
    public void Forward_RejectsInputOfAnotherDtype_NamingBoth()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 9);
        using var layer = new VectorFitLinear(linear);
        using var x = torch.zeros(new long[] { 2, 6 }, dtype: ScalarType.Float64);

        var act = () => layer.forward(x);

        act.Should().Throw<ArgumentException>().WithMessage("*Float32*Float64*");
    }

    [Fact]
    public void Forward_OutputBelongsToCallersDisposeScope()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 10);
        using var layer = new VectorFitLinear(linear);
        using var x = torch.ones(3, 6);
        Tensor y;
        using (torch.NewDisposeScope())
        {
            y = layer.forward(x);
            y.IsInvalid.Should().BeFalse();
        }

        y.IsInvalid.Should().BeTrue("the scope disposes what forward returned");
        layer.sigma.IsInvalid.Should().BeFalse("the layer's own tensors are not in the caller's scope");
        layer.U.IsInvalid.Should().BeFalse();
    }

    private static (Tensor Y, Tensor DSigma, Tensor DBias, Tensor Dx) RunPath(VectorFitLinear layer, Tensor input, ForwardPath path)
    {
        layer.PathOverride = path;
        layer.zero_grad();
        using var x = input.detach().clone().requires_grad_();
        var y = layer.forward(x);
        using var g = Seeded(11, ScalarType.Float64, y.shape);
        using var loss = (y * g).sum();
        loss.backward();
        return (y.detach(), layer.sigma.grad!, layer.bias!.grad!, x.grad!);
    }

    /// <summary>Moves σ and b away from their initial values so bugs that ignore them show.</summary>
    internal static void PerturbSigmaAndBias(VectorFitLinear layer)
    {
        using var noGrad = torch.no_grad();
        using var deltaSigma = torch.linspace(0.5, 1.5, layer.rank, dtype: layer.sigma.dtype);
        layer.sigma.mul_(deltaSigma).add_(0.25);
        if (layer.bias is { } bias)
        {
            using var deltaBias = torch.linspace(-1, 1, bias.shape[0], dtype: bias.dtype);
            bias.add_(deltaBias);
        }
    }
}
