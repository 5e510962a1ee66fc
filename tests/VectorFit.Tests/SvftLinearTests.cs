using TorchSharp;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// <see cref="SvftLinear"/> against the dense definition <c>y = x·(U·(diag(σ) + M)·Vᵀ)ᵀ + b</c> (method §5), with
/// <c>M</c> built densely in the test from the layer's (rows, cols, values): values and gradients, for every pattern,
/// both evaluation paths and both sparse evaluations. In float64 every quantity is a short sum of O(1) terms, so
/// round-off is ~1e-14; 1e-10 leaves room for summation order while catching any wrong entry (O(1e-2) or more, since
/// the values are perturbed by N(0, 0.3²)).
/// </summary>
[Collection("libtorch")]
public sealed class SvftLinearTests
{
    private const double Float64Tolerance = 1e-10;

    public static TheoryData<string, int, long, long> Patterns => new()
    {
        { "Plain", 0, 6, 4 },
        { "Banded", 1, 6, 4 },
        { "Banded", 2, 4, 7 },
        { "Banded", 3, 6, 4 },  // d = r − 1: the band fills M
        { "Random", 2, 6, 5 },
        { "TopK", 1, 5, 5 },
    };

    public static TheoryData<string, int, long, long, string, bool> PatternsAndPaths
    {
        get
        {
            var data = new TheoryData<string, int, long, long, string, bool>();
            foreach (var row in Patterns)
            {
                foreach (var path in new[] { "Materialized", "Factored" })
                {
                    data.Add((string)row[0], (int)row[1], (long)row[2], (long)row[3], path, false);
                    if ((string)row[0] is "Plain" or "Banded")
                    {
                        data.Add((string)row[0], (int)row[1], (long)row[2], (long)row[3], path, true);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(PatternsAndPaths))]
    public void Forward_MatchesDenseDefinition_ValuesAndGradients_Float64(string kind, int d, long inFeatures, long outFeatures, string pathName, bool byIndex)
    {
        using var linear = SeededLinear(inFeatures, outFeatures, hasBias: true, ScalarType.Float64, seed: 1);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = PatternOf(kind, d) })
        {
            PathOverride = Enum.Parse<ForwardPath>(pathName),
            ForceIndexEvaluation = byIndex,
        };
        Perturb(layer, seed: 2);

        using var x = Seeded(3, ScalarType.Float64, 2, 3, inFeatures).requires_grad_();
        using var y = layer.forward(x);
        using var g = Seeded(4, ScalarType.Float64, y.shape);
        using var loss = (y * g).sum();
        loss.backward();

        using var m = DenseM(layer);
        using var s = torch.diag(layer.frozen_sigma) + m;
        using var w = layer.U.matmul(s).matmul(layer.V.t());
        using var x2 = x.detach().reshape(-1, inFeatures);
        using var g2 = g.reshape(-1, outFeatures);
        using var expectedY = (x2.matmul(w.t()) + layer.bias!.detach()).reshape(y.shape);

        // Closed-form gradients of sum(y ⊙ g): dW = gᵀ·x, dS = Uᵀ·dW·V, d(value n) = dS[row n, col n], db = Σ g, dx = g·W.
        using var dW = g2.t().matmul(x2);
        using var dS = layer.U.t().matmul(dW).matmul(layer.V);
        using var expectedDValues = dS.index(layer.svft_rows, layer.svft_cols);
        using var expectedDb = g2.sum(dim: 0);
        using var expectedDx = g2.matmul(w).reshape(x.shape);

        y.shape.Should().Equal(2, 3, outFeatures);
        MaxAbs(m).Should().BeGreaterThan(0.1, "M must be non-zero for the comparison to test it");
        MaxAbsDiff(y, expectedY).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(layer.svft_values.grad!, expectedDValues).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(layer.bias.grad!, expectedDb).Should().BeLessThan(Float64Tolerance);
        MaxAbsDiff(x.grad!, expectedDx).Should().BeLessThan(Float64Tolerance);
        MaxAbs(layer.svft_values.grad!).Should().BeGreaterThan(1e-3, "every path must carry a gradient to M");
    }

    [Theory]
    [MemberData(nameof(Patterns))]
    public void AtInitialisation_MIsZero_AndTheLayerEqualsTheOriginal(string kind, int d, long inFeatures, long outFeatures)
    {
        using var linear = SeededLinear(inFeatures, outFeatures, hasBias: true, ScalarType.Float64, seed: 5);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = PatternOf(kind, d) });
        using var x = Seeded(6, ScalarType.Float64, 7, inFeatures);
        using var expected = linear.forward(x);

        MaxAbs(layer.svft_values).Should().Be(0);
        foreach (var path in new[] { ForwardPath.Materialized, ForwardPath.Factored })
        {
            layer.PathOverride = path;
            using var y = layer.forward(x);
            MaxAbsDiff(y, expected).Should().BeLessThan(1e-12, $"path {path}");
        }

        using var delta = layer.DeltaWeight();
        MaxAbs(delta).Should().Be(0);
    }

    [Fact]
    public void AtInitialisation_Float32_EqualsTheOriginalUpToSvdRoundOff()
    {
        using var linear = SeededLinear(16, 12, hasBias: true, ScalarType.Float32, seed: 7);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Banded(2) });
        using var x = Seeded(8, ScalarType.Float32, 5, 16);
        using var expected = linear.forward(x);
        using var y = layer.forward(x);

        MaxAbsDiff(y, expected).Should().BeLessThan(1e-5 * MaxAbs(expected));
    }

    [Fact]
    public void Components_OnlyValuesAndBiasTrain_IndicesAreInt64PersistentBuffers()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 9);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Random(1, seed: 3) });

        layer.named_parameters().Select(p => p.name).Should().Equal("svft_values", "bias");
        layer.parameters().Should().OnlyContain(p => p.requires_grad);
        layer.state_dict().Keys.Should().BeEquivalentTo("svft_values", "bias", "frozen_sigma", "U", "V", "svft_rows", "svft_cols");
        layer.svft_values.shape.Should().Equal(4L * 3 - 2);
        layer.svft_rows.dtype.Should().Be(ScalarType.Int64);
        layer.svft_cols.dtype.Should().Be(ScalarType.Int64);
        foreach (var frozen in new[] { layer.frozen_sigma, layer.U, layer.V })
        {
            frozen.requires_grad.Should().BeFalse();
        }
    }

    [Fact]
    public void Svd_SignsAreCanonical_AndReproduceTheWeight()
    {
        using var linear = SeededLinear(5, 7, hasBias: false, ScalarType.Float64, seed: 10);
        using var layer = new SvftLinear(linear);

        using var largest = layer.U.abs().argmax(0, keepdim: true);
        using var atLargest = layer.U.gather(0, largest);
        Values(atLargest).Should().OnlyContain(value => value > 0);
        using var w = layer.U.matmul(torch.diag(layer.frozen_sigma)).matmul(layer.V.t());
        MaxAbsDiff(w, linear.weight).Should().BeLessThan(1e-12);
    }

    [Theory]
    [InlineData("Banded", 2)]
    [InlineData("TopK", 1)]
    public void ToLinear_AfterTraining_EqualsTheAdaptedLayer_AndDeltaWeightIsTheChange(string kind, int d)
    {
        using var linear = SeededLinear(5, 5, hasBias: true, ScalarType.Float64, seed: 11);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = PatternOf(kind, d) });
        Perturb(layer, seed: 12);
        using var x = Seeded(13, ScalarType.Float64, 4, 5);
        using var baseY = linear.forward(x);
        using var adaptedY = layer.forward(x);
        MaxAbsDiff(adaptedY, baseY).Should().BeGreaterThan(0.1, "the adapted layer must differ from the base for the check to bite");

        using var merged = layer.ToLinear();
        using var mergedY = merged.forward(x);
        using var delta = layer.DeltaWeight();
        using var m = DenseM(layer);
        using var expectedDelta = layer.U.matmul(m).matmul(layer.V.t());
        using var change = merged.weight - linear.weight;

        MaxAbsDiff(mergedY, adaptedY).Should().BeLessThan(1e-10);
        Values(merged.bias!).Should().Equal(Values(layer.bias!));
        MaxAbsDiff(delta, expectedDelta).Should().BeLessThan(1e-12);
        MaxAbsDiff(change, delta).Should().BeLessThan(1e-12);
    }

    [Fact]
    public void ToLinear_WhenAValueIsNotFinite_ThrowsNamingTheLayer()
    {
        using var linear = SeededLinear(4, 4, hasBias: true, ScalarType.Float32, seed: 14);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Banded(1) });
        var values = Values(layer.svft_values);
        values[3] = double.NaN;
        Set(layer.svft_values, values);

        var act = () => layer.ToLinear();

        act.Should().Throw<InvalidOperationException>()
            .WithMessage("Cannot merge SvftLinear (4 -> 4, Banded(d=1)): the merged weight has * NaN or infinite values*lower the learning rate*");
    }

    [Fact]
    public void OneSgdStep_MovesOnlyValuesAndBias_AndChangesTheOutput()
    {
        using var linear = SeededLinear(6, 6, hasBias: true, ScalarType.Float64, seed: 15);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.TopK(1) });
        using var x = Seeded(16, ScalarType.Float64, 3, 6);
        using var before = layer.forward(x);
        var frozen = new[] { layer.frozen_sigma, layer.U, layer.V }.Select(Values).ToList();
        using var optimizer = torch.optim.SGD(layer.parameters(), 0.1);

        using (var loss = layer.forward(x).square().sum())
        {
            loss.backward();
        }

        optimizer.step();
        using var after = layer.forward(x);

        MaxAbs(layer.svft_values).Should().BeGreaterThan(1e-3);
        MaxAbsDiff(after, before).Should().BeGreaterThan(1e-3);
        new[] { layer.frozen_sigma, layer.U, layer.V }.Select(Values).Should().BeEquivalentTo(frozen, o => o.WithStrictOrdering());
    }

    [Fact]
    public void ToFloat32_ConvertsFloatingTensors_KeepsIndicesInt64_AndStillMatches()
    {
        using var linear = SeededLinear(6, 6, hasBias: true, ScalarType.Float64, seed: 17);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Random(1, seed: 9) });
        Perturb(layer, seed: 18);
        using var x = Seeded(19, ScalarType.Float64, 2, 6);
        using var y64 = layer.forward(x);

        layer.to(ScalarType.Float32);
        using var x32 = x.to(ScalarType.Float32);
        using var y32 = layer.forward(x32);

        layer.U.dtype.Should().Be(ScalarType.Float32);
        layer.frozen_sigma.dtype.Should().Be(ScalarType.Float32);
        layer.svft_values.dtype.Should().Be(ScalarType.Float32);
        layer.svft_values.requires_grad.Should().BeTrue();
        layer.svft_rows.dtype.Should().Be(ScalarType.Int64);
        layer.state_dict()["svft_values"].dtype.Should().Be(ScalarType.Float32);
        MaxAbsDiff(y32, y64).Should().BeLessThan(1e-5 * MaxAbs(y64));
    }

    [Fact]
    public void NoBias_OrAddedBias_FollowTheOptions()
    {
        using var linear = SeededLinear(4, 3, hasBias: false, ScalarType.Float64, seed: 20);
        using var plain = new SvftLinear(linear);
        using var added = new SvftLinear(linear, new SvftLinearOptions { AddBias = true });

        plain.bias.Should().BeNull();
        plain.TrainableParameterCount.Should().Be(3);
        added.bias.Should().NotBeNull();
        MaxAbs(added.bias!).Should().Be(0);
        added.TrainableParameterCount.Should().Be(3 + 3);
    }

    [Theory]
    [InlineData("Banded", 1)]
    [InlineData("Random", 1)]
    public void Forward_OnAVectorAndOnAnEmptyBatch_KeepsTheLeadingShape(string kind, int d)
    {
        using var linear = SeededLinear(5, 3, hasBias: true, ScalarType.Float64, seed: 22);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = PatternOf(kind, d) }) { PathOverride = ForwardPath.Factored };
        Perturb(layer, seed: 23);
        using var x = Seeded(24, ScalarType.Float64, 5);
        using var empty = torch.zeros(new long[] { 0, 2, 5 }, dtype: ScalarType.Float64);
        using var merged = layer.ToLinear();

        using var y = layer.forward(x);
        using var expected = merged.forward(x);
        using var none = layer.forward(empty);

        y.shape.Should().Equal(3);
        MaxAbsDiff(y, expected).Should().BeLessThan(Float64Tolerance);
        none.shape.Should().Equal(0, 2, 3);
    }

    [Theory]
    [InlineData(1, false, false, "Factored")]
    [InlineData(767, false, false, "Factored")]       // 767·(768·1536 + 4602) < 768·(768·768 + 4602) + 767·768²
    [InlineData(768, false, false, "Materialized")]   // equal cost: not cheaper
    [InlineData(4096, false, false, "Materialized")]
    [InlineData(1024, true, true, "Factored")]        // 1024·2·(768·1536 + 4602) = 2.425e9 < 2·768·(768² + 4602) + 3·1024·768² = 2.725e9
    [InlineData(1600, true, true, "Materialized")]    // 3.790e9 > 3.744e9
    public void ChoosePath_PicksTheCheaperEvaluation_CountingThePattern(long tokens, bool valuesTrain, bool inputNeedsGrad, string expectedName)
    {
        // Banded d = 2 at r = 768: 768·5 − 6 = 3834 values, so the sparse term is 3834 + 768 = 4602 per row.
        using var linear = SeededLinear(768, 768, hasBias: false, ScalarType.Float32, seed: 25);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Banded(2) });

        layer.ChoosePath(tokens, valuesTrain, inputNeedsGrad).Should().Be(Enum.Parse<ForwardPath>(expectedName));
    }

    [Fact]
    public void Forward_RejectsWrongLastDimension_WithShapesInMessage()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 21);
        using var layer = new SvftLinear(linear);
        using var x = torch.zeros(2, 5);

        var act = () => layer.forward(x);

        act.Should().Throw<ArgumentException>().WithMessage("SvftLinear expects input of shape (*, 6)*got (2, 5)*");
    }

    internal static SvftPattern PatternOf(string kind, int d) => kind switch
    {
        "Plain" => SvftPattern.Plain,
        "Banded" => SvftPattern.Banded(d),
        "Random" => SvftPattern.Random(d, seed: 11),
        "TopK" => SvftPattern.TopK(d),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Sets M's values and the bias to seeded N(0, 0.3²) noise, as training would.</summary>
    internal static void Perturb(SvftLinear layer, long seed)
    {
        using var noGrad = torch.no_grad();
        using var noise = Seeded(seed, layer.svft_values.dtype, layer.svft_values.shape);
        using var step = noise * 0.3;
        layer.svft_values.add_(step);
        if (layer.bias is { } bias)
        {
            using var biasNoise = Seeded(seed + 1, bias.dtype, bias.shape);
            bias.add_(biasNoise);
        }
    }

    /// <summary>The dense r × r matrix M, built on the host from the layer's rows, columns and values.</summary>
    internal static Tensor DenseM(SvftLinear layer)
    {
        var r = layer.rank;
        var rows = layer.svft_rows.data<long>().ToArray();
        var cols = layer.svft_cols.data<long>().ToArray();
        var values = Values(layer.svft_values);
        var dense = new double[r * r];
        for (var n = 0; n < values.Length; n++)
        {
            dense[(rows[n] * r) + cols[n]] += values[n];
        }

        return torch.tensor(dense, dtype: ScalarType.Float64).reshape(r, r).to(layer.U.dtype);
    }
}
