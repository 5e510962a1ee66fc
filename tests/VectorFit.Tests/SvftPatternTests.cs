using TorchSharp;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// SVFT's patterns: the entry counts of method §5 (<c>r·(2d+1) − d·(d+1)</c>), the positions each kind picks, their
/// determinism, and the errors for patterns that do not fit a layer.
/// </summary>
[Collection("libtorch")]
public sealed class SvftPatternTests
{
    [Theory]
    [InlineData(1, 0, 1)]
    [InlineData(4, 0, 4)]
    [InlineData(8, 0, 8)]
    [InlineData(8, 1, 22)]
    [InlineData(8, 2, 34)]
    [InlineData(8, 7, 64)]   // d = r − 1 fills M
    [InlineData(5, 2, 19)]
    [InlineData(16, 3, 100)]
    [InlineData(768, 2, 3834)]
    public void EntryCount_MatchesTheSpecFormula_AndCountsTheBand(long r, int d, long expected)
    {
        var band = 0L;
        for (var i = 0L; i < Math.Min(r, 64); i++)
        {
            for (var j = 0L; j < Math.Min(r, 64); j++)
            {
                band += Math.Abs(i - j) <= d ? 1 : 0;
            }
        }

        SvftPattern.Banded(d).EntryCount(r).Should().Be(expected);
        SvftPattern.Random(d, seed: 1).EntryCount(r).Should().Be(expected);
        SvftPattern.TopK(d).EntryCount(r).Should().Be(expected);
        if (r <= 64)
        {
            band.Should().Be(expected, "the formula counts the entries with |i − j| ≤ d");
        }
    }

    [Theory]
    [InlineData(4, 0)]
    [InlineData(6, 1)]
    [InlineData(6, 2)]
    [InlineData(7, 3)]
    public void Layer_TrainableParameterCount_IsTheFormula_PlusTheBias(long r, int d)
    {
        var expected = (r * ((2 * d) + 1)) - (d * (d + 1));
        using var noBias = SeededLinear(r, r, hasBias: false, ScalarType.Float32, seed: 1);
        using var withBias = SeededLinear(r, r + 2, hasBias: true, ScalarType.Float32, seed: 1);
        using var a = new SvftLinear(noBias, new SvftLinearOptions { Pattern = SvftPattern.Banded(d) });
        using var b = new SvftLinear(withBias, new SvftLinearOptions { Pattern = SvftPattern.Banded(d) });
        using var c = new SvftLinear(withBias, new SvftLinearOptions { Pattern = SvftPattern.Banded(d), TrainValues = false });

        a.ValueCount.Should().Be(expected);
        a.TrainableParameterCount.Should().Be(expected);
        b.TrainableParameterCount.Should().Be(expected + r + 2);
        c.TrainableParameterCount.Should().Be(r + 2);
        c.svft_values.requires_grad.Should().BeFalse();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void Banded_PicksExactlyTheBand_EachPositionOnce(int d)
    {
        using var linear = SeededLinear(5, 7, hasBias: false, ScalarType.Float64, seed: 2);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Banded(d) });

        var positions = Positions(layer);
        var band = Enumerable.Range(0, 5).SelectMany(i => Enumerable.Range(0, 5).Where(j => Math.Abs(i - j) <= d).Select(j => (i, j)));
        positions.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(band);
    }

    [Fact]
    public void Plain_IsTheDiagonal()
    {
        using var linear = SeededLinear(4, 6, hasBias: false, ScalarType.Float64, seed: 3);
        using var layer = new SvftLinear(linear);

        Positions(layer).Should().Equal((0, 0), (1, 1), (2, 2), (3, 3));
    }

    [Fact]
    public void Random_MatchesAnIndependentSplitMixFloydImplementation()
    {
        // Expected positions from a separate Python implementation of SplitMix64 + Floyd's sampling (r = 6, d = 1, seed 42).
        using var linear = SeededLinear(6, 6, hasBias: false, ScalarType.Float64, seed: 4);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Random(1, seed: 42) });

        Positions(layer).Should().Equal(
            (0, 0), (0, 2), (0, 5), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (4, 2), (4, 3), (4, 4), (5, 0), (5, 3));
        SvftPatternIndices.RandomPositions(25, 19, seed: -3).Should().Equal(0, 1, 2, 4, 5, 7, 8, 9, 11, 13, 14, 15, 16, 17, 19, 20, 21, 23, 24);
    }

    [Fact]
    public void Random_IsDeterministicPerSeed_AndDiffersAcrossSeeds()
    {
        using var one = SeededLinear(9, 9, hasBias: false, ScalarType.Float64, seed: 5);
        using var other = SeededLinear(12, 9, hasBias: false, ScalarType.Float64, seed: 6);
        using var a = new SvftLinear(one, new SvftLinearOptions { Pattern = SvftPattern.Random(2, seed: 7) });
        using var b = new SvftLinear(other, new SvftLinearOptions { Pattern = SvftPattern.Random(2, seed: 7) });
        using var c = new SvftLinear(one, new SvftLinearOptions { Pattern = SvftPattern.Random(2, seed: 8) });

        var positions = Positions(a);
        positions.Should().HaveCount(9 * 5 - 6).And.OnlyHaveUniqueItems().And.OnlyContain(p => p.Row < 9 && p.Col < 9);
        positions.Should().Equal(Positions(b), "the positions depend on r, d and the seed only");
        positions.Should().NotEqual(Positions(c));
    }

    [Fact]
    public void SplitMix64_MatchesThePublishedSequence()
    {
        var random = new SplitMix64(0);

        random.Next().Should().Be(0xE220A8397B1DCDAFUL);
        random.Next().Should().Be(0x6E789E6AA1B965F4UL);
        random.Next().Should().Be(0x06C45D188009454FUL);
    }

    [Fact]
    public void TopK_PicksTheLargestAlignments()
    {
        using var linear = SeededLinear(7, 7, hasBias: false, ScalarType.Float64, seed: 9);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.TopK(1) });
        using var alignment = layer.U.t().matmul(layer.V).abs();
        var scores = Values(alignment);
        var expected = Enumerable.Range(0, 49).OrderByDescending(p => scores[p]).ThenBy(p => p).Take(7 * 3 - 2)
            .Order().Select(p => ((long)p / 7, (long)p % 7)).ToList();

        var positions = Positions(layer);
        positions.Should().Equal(expected);
        positions.Should().NotEqual(Band(7, 1), "on a random weight the top alignments are not the band");
    }

    [Theory]
    [InlineData(-1, "*d (off-diagonals on each side of M's diagonal) must be at least 0, got -1*")]
    [InlineData(-5, "*got -5*")]
    public void Pattern_WithNegativeD_Throws(int d, string message)
    {
        var banded = () => SvftPattern.Banded(d);
        var random = () => SvftPattern.Random(d, 1);
        var topK = () => SvftPattern.TopK(d);

        banded.Should().Throw<ArgumentException>().WithMessage(message).And.ParamName.Should().Be("offDiagonals");
        random.Should().Throw<ArgumentException>().WithMessage(message);
        topK.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Pattern_PlainWithD_OrSeedOnANonRandomKind_Throws()
    {
        var plain = () => new SvftPattern(SvftPatternKind.Plain, 2);
        var seeded = () => new SvftPattern(SvftPatternKind.Banded, 1, seed: 5);
        var undefined = () => new SvftPattern((SvftPatternKind)9);

        plain.Should().Throw<ArgumentException>().WithMessage("A Plain SVFT pattern is diagonal (d = 0), got d = 2. Use SvftPattern.Banded(2)*");
        seeded.Should().Throw<ArgumentException>().WithMessage("Only Random SVFT patterns take a seed; a Banded pattern got seed 5*");
        undefined.Should().Throw<ArgumentException>().WithMessage("SVFT pattern kind 9 is not defined*");
    }

    [Theory]
    [InlineData("Banded", 4)]
    [InlineData("Banded", 9)]
    [InlineData("Random", 4)]
    [InlineData("TopK", 4)]
    public void Layer_WithDAtLeastTheRank_Throws(string kind, int d)
    {
        using var linear = SeededLinear(4, 4, hasBias: false, ScalarType.Float32, seed: 10);
        var pattern = SvftLinearTests.PatternOf(kind, d);

        var act = () => new SvftLinear(linear, new SvftLinearOptions { Pattern = pattern });

        act.Should().Throw<ArgumentException>()
            .WithMessage($"SVFT pattern {pattern} needs d < r for the layer 4 -> 4: M is 4 × 4, so d can be at most 3 (which fills M), got d = {d}. Lower d*");
    }

    [Fact]
    public void Layer_TopKOnANonSquareLayer_Throws()
    {
        using var linear = SeededLinear(6, 4, hasBias: true, ScalarType.Float32, seed: 11);

        var act = () => new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.TopK(1) });

        act.Should().Throw<ArgumentException>()
            .WithMessage("SVFT pattern TopK(d=1) needs a square layer, got 6 -> 4 (in_features 6, out_features 4)*Use Banded or Random for non-square layers*");
    }

    [Fact]
    public void Options_AddBiasWithoutTrainBias_OrNullPattern_Throw()
    {
        using var linear = SeededLinear(4, 4, hasBias: false, ScalarType.Float32, seed: 12);

        var addBias = () => new SvftLinear(linear, new SvftLinearOptions { AddBias = true, TrainBias = false });
        var noPattern = () => new SvftLinear(linear, new SvftLinearOptions { Pattern = null! });

        addBias.Should().Throw<ArgumentException>().WithMessage("AddBias is true but TrainBias is false*");
        noPattern.Should().Throw<ArgumentException>().WithMessage("Pattern is null; use SvftPattern.Plain*");
    }

    [Fact]
    public void Pattern_ToString_NamesKindDAndSeed()
    {
        SvftPattern.Plain.ToString().Should().Be("Plain");
        SvftPattern.Banded(2).ToString().Should().Be("Banded(d=2)");
        SvftPattern.Random(3, 17).ToString().Should().Be("Random(d=3, seed=17)");
        SvftPattern.TopK(1).ToString().Should().Be("TopK(d=1)");
        SvftPattern.Banded(2).Should().Be(new SvftPattern(SvftPatternKind.Banded, 2));
    }

    private static List<(long Row, long Col)> Positions(SvftLinear layer)
        => layer.svft_rows.data<long>().ToArray().Zip(layer.svft_cols.data<long>().ToArray()).ToList();

    private static List<(long Row, long Col)> Band(long r, int d)
    {
        var result = new List<(long, long)>();
        for (long i = 0; i < r; i++)
        {
            for (long j = 0; j < r; j++)
            {
                if (Math.Abs(i - j) <= d)
                {
                    result.Add((i, j));
                }
            }
        }

        return result;
    }
}
